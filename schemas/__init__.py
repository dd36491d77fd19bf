"""Event contract: CloudEvents envelope, usage and account event data, pipeline records.

Pure pydantic models; nothing here does I/O.
"""

from schemas.envelope import CloudEvent
from schemas.events import ACCOUNT_TYPES, EVENT_DATA, USAGE_TYPES
from schemas.records import MeteredEvent, MeterValue, RejectedEvent, RejectReason

__all__ = [
    "ACCOUNT_TYPES",
    "EVENT_DATA",
    "USAGE_TYPES",
    "CloudEvent",
    "MeterValue",
    "MeteredEvent",
    "RejectReason",
    "RejectedEvent",
]
