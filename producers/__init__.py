"""The Python producer library for usage and account events."""

from producers.producer import DeliveryError, InvalidEvent, MeteringProducer, ProducerSettings

__all__ = ["DeliveryError", "InvalidEvent", "MeteringProducer", "ProducerSettings"]
