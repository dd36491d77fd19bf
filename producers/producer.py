"""MeteringProducer: validated CloudEvents to Kafka, keyed by account id.

acks=all and idempotence on; batching and compression on. A bad event raises
`InvalidEvent` in the caller and nothing is sent; failed deliveries are collected and
raised as `DeliveryError` by `flush()`/`close()`.

One refused record must not stop every later one: kafka-python's idempotent producer
turns any non-retriable batch error (a record time outside the broker's window,
`InvalidTimestampError`) into a fatal state that aborts every later batch, for every
account. The producer notices that state and rebuilds its Kafka client before the next
send (`recover`); the records of the broken one fail with their error, and `healthy`
says whether sends can succeed now (the API's readiness).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog
from kafka import KafkaProducer
from kafka.errors import RetriableError
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.envelope import CloudEvent
from schemas.events import EVENT_DATA
from schemas.topics import Topics

log = structlog.get_logger(__name__)


class InvalidEvent(ValueError):
    """The event does not match the contract; nothing was sent."""


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge one or more events."""

    def __init__(self, failures: list[tuple[str, str, BaseException]]) -> None:
        self.failures = failures
        first = failures[0]
        super().__init__(f"{len(failures)} event(s) not delivered; first: "
                         f"source={first[0]} id={first[1]}: {first[2]!r}")


class ProducerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_PRODUCER_", env_file=".env",
                                      extra="ignore")

    source: str = Field("urn:metering:producer", min_length=1)
    compression_type: str | None = "gzip"
    linger_ms: int = 20
    batch_size: int = 256 * 1024
    topic_prefix: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


class MeteringProducer:
    def __init__(self, bootstrap_servers: str, settings: ProducerSettings | None = None,
                 clock: Callable[[], datetime] = _now, **kafka_overrides: Any) -> None:
        self.settings = settings or ProducerSettings()
        self.topics = Topics(self.settings.topic_prefix)
        self._clock = clock
        self._failures: list[tuple[str, str, BaseException]] = []
        self._lock = threading.Lock()
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "enable_idempotence": True,
            "compression_type": self.settings.compression_type,
            "linger_ms": self.settings.linger_ms,
            "batch_size": self.settings.batch_size,
            "retries": 2**31 - 1,
            "max_in_flight_requests_per_connection": 5,
            "delivery_timeout_ms": 120_000,
        }
        config.update(kafka_overrides)
        self._config = config
        self._kafka = KafkaProducer(**config)
        self._suspect = False
        self.rebuilds = 0
        """How many times a fatal client state was replaced by a new client."""

    # ---- health ---------------------------------------------------------------------------

    def _fatal(self) -> bool:
        manager = getattr(self._kafka, "_transaction_manager", None)
        if manager is not None and hasattr(manager, "has_fatal_error"):
            return bool(manager.has_fatal_error())
        return self._suspect  # no manager to ask: a non-retriable failure is taken as fatal

    @property
    def healthy(self) -> bool:
        """Can a send succeed now (the client is not in a fatal state)?"""
        return not self._fatal()

    def recover(self) -> bool:
        """Replace a client in a fatal state by a new one; whether it did."""
        with self._lock:
            if not self._fatal():
                return False
            old, self._kafka = self._kafka, KafkaProducer(**self._config)
            self._suspect = False
            self.rebuilds += 1
        log.warning("producer.rebuilt", reason="fatal_error", rebuilds=self.rebuilds)
        try:
            old.close(timeout=0)  # its pending batches were aborted with the fatal error
        except Exception as exc:  # broken already: nothing more to release
            log.warning("producer.close_failed", error=repr(exc)[:300])
        return True

    # ---- building and validating ------------------------------------------------------

    def build(self, event_type: str, account: str, data: dict[str, Any] | BaseModel,
              *, id: str | None = None, time: datetime | None = None,
              source: str | None = None) -> CloudEvent:
        """A validated CloudEvent; raises InvalidEvent with every problem found."""
        model = EVENT_DATA.get(event_type)
        if model is None:
            raise InvalidEvent(f"unknown event type {event_type!r}")
        try:
            payload = data if isinstance(data, BaseModel) else model.model_validate(data)
            return CloudEvent(
                specversion="1.0", id=id or str(uuid.uuid4()),
                source=source or self.settings.source, type=event_type, subject=account,
                time=time or self._clock(), data=payload.model_dump(mode="json",
                                                                   exclude_none=True))
        except ValidationError as exc:
            raise InvalidEvent(f"{event_type}: {exc}") from exc

    def validate(self, event: CloudEvent | dict[str, Any]) -> CloudEvent:
        try:
            ce = event if isinstance(event, CloudEvent) else CloudEvent.model_validate(event)
            model = EVENT_DATA.get(ce.type)
            if model is None:
                raise InvalidEvent(f"unknown event type {ce.type!r}")
            model.model_validate(ce.data)
            return ce
        except ValidationError as exc:
            raise InvalidEvent(str(exc)) from exc

    # ---- sending ------------------------------------------------------------------------

    def send(self, event: CloudEvent | dict[str, Any], timestamp_ms: int | None = None) -> Any:
        """Validate and send; `timestamp_ms` sets the record time (replays of a log)."""
        ce = self.validate(event)
        value = ce.model_dump_json(exclude_none=True).encode()
        return self._send(ce.subject.encode(), value, ce.source, ce.id, timestamp_ms)

    def send_raw(self, key: bytes | None, value: bytes, timestamp_ms: int | None = None) -> Any:
        """Send bytes as they are, unvalidated (tests and replays of exported logs)."""
        return self._send(key, value, "", "", timestamp_ms)

    def _send(self, key: bytes | None, value: bytes, source: str, event_id: str,
              timestamp_ms: int | None = None) -> Any:
        self.recover()
        future = self._kafka.send(self.topics.events, key=key, value=value,
                                  timestamp_ms=timestamp_ms)
        future.add_errback(self._record_failure, source, event_id)
        return future

    def _record_failure(self, source: str, event_id: str, exc: BaseException) -> None:
        with self._lock:
            self._failures.append((source, event_id, exc))
            if not isinstance(exc, RetriableError):
                self._suspect = True

    def emit(self, event_type: str, account: str, data: dict[str, Any] | BaseModel,
             **envelope: Any) -> CloudEvent:
        """Build, validate and send one event; returns the event sent."""
        event = self.build(event_type, account, data, **envelope)
        self.send(event)
        return event

    def send_many(self, events: Iterable[CloudEvent | dict[str, Any]]) -> int:
        n = 0
        for event in events:
            self.send(event)
            n += 1
        return n

    # typed helpers ------------------------------------------------------------------------

    def email_sent(self, account: str, count: int = 1, **envelope: Any) -> CloudEvent:
        return self.emit("email.sent", account, {"count": count}, **envelope)

    def sms_sent(self, account: str, to_country: str, body: str | None = None,
                 segments: int | None = None, channel: str = "sms",
                 direction: str = "outbound", status: str = "delivered",
                 **envelope: Any) -> CloudEvent:
        data = {"to_country": to_country, "body": body, "segments": segments,
                "channel": channel, "direction": direction, "status": status}
        return self.emit("sms.sent", account, {k: v for k, v in data.items() if v is not None},
                         **envelope)

    def bandwidth_used(self, account: str, nbytes: int, kind: str = "transfer",
                       **envelope: Any) -> CloudEvent:
        return self.emit("bandwidth.used", account, {"bytes": nbytes, "kind": kind}, **envelope)

    def cart(self, account: str, cart_id: str, category: str, active: bool,
             **envelope: Any) -> CloudEvent:
        kind = "cart.activated" if active else "cart.deactivated"
        return self.emit(kind, account, {"cart_id": cart_id, "category": category}, **envelope)

    def profile(self, account: str, change: str, profile_id: str, emailable: bool,
                **envelope: Any) -> CloudEvent:
        """change: added | removed | consent_changed."""
        return self.emit(f"profile.{change}", account,
                         {"profile_id": profile_id, "emailable": emailable}, **envelope)

    def subscribe(self, account: str, product: str, plan: str, **envelope: Any) -> CloudEvent:
        return self.emit("account.subscribed", account, {"product": product, "plan": plan},
                         **envelope)

    # ---- lifecycle ------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        self._kafka.flush(timeout)
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise DeliveryError(failures)

    def close(self, timeout: float | None = None) -> None:
        try:
            self.flush(timeout)
        finally:
            self._kafka.close(timeout)

    def __enter__(self) -> MeteringProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
