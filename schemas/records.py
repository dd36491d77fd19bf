"""Records the stream processors emit: metered events and rejections."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MeterKind = Literal["sum", "delta", "set", "distinct"]
"""How a meter aggregates over a cycle:
- sum: total of quantities (emails, SMS credits, bytes);
- delta: +/- transitions of a gauge of concurrent actives; peak = max running level;
- set: absolute gauge readings (seats, storage); peak = max reading, end = last reading;
- distinct: count of distinct `dim` values (review-ready orders).
"""


class RejectReason(StrEnum):
    MALFORMED_JSON = "malformed_json"
    NOT_UTF8 = "not_utf8"
    TOO_LARGE = "too_large"
    INVALID_ENVELOPE = "invalid_envelope"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_DATA = "invalid_data"
    MISSING_ACCOUNT = "missing_account"
    UNKNOWN_ACCOUNT = "unknown_account"
    BEFORE_SUBSCRIPTION = "before_subscription"
    NEGATIVE_QUANTITY = "negative_quantity"
    NON_FINITE_QUANTITY = "non_finite_quantity"
    QUANTITY_TOO_LARGE = "quantity_too_large"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_LATE = "too_late"
    KEY_MISMATCH = "key_mismatch"
    UNKNOWN_COUNTRY = "unknown_country"
    PROCESSING_ERROR = "processing_error"
    INVALID_RECORD_TIMESTAMP = "invalid_record_timestamp"
    SEAT_REDUCTION_BEFORE_RENEWAL = "seat_reduction_before_renewal"


class MeterValue(BaseModel):
    model_config = ConfigDict(frozen=True)

    meter: str
    kind: MeterKind
    quantity: Decimal


class MeteredEvent(BaseModel):
    """One accepted usage event, placed in its account's cycle, with derived quantities."""

    model_config = ConfigDict(frozen=True)

    account: str
    source: str
    id: str
    type: str
    time: datetime
    cycle_start: datetime
    cycle_end: datetime
    meters: list[MeterValue]
    dim: str = Field("", description="Entity the event is about (cart, profile, order id).")
    data: dict[str, object] = Field(default_factory=dict,
                                    description="Event data minus what is never stored.")
    partition: int
    offset: int
    received_at: datetime = Field(description="Kafka record timestamp of the input event.")


_METERED_FIELDS = frozenset(MeteredEvent.model_fields)
_set = object.__setattr__


def trusted_metered(*, account: str, source: str, id: str, type: str,
                    time: datetime, cycle_start: datetime, cycle_end: datetime,
                    meters: list[MeterValue], dim: str, data: dict[str, object],
                    partition: int, offset: int, received_at: datetime) -> MeteredEvent:
    """A `MeteredEvent` of values that are already of its fields' types (the decision
    core's: a validated event, its cycle, its derived meters), without validating them a
    second time: what `model_construct` does, without its per-field walk. The same model
    as `MeteredEvent(...)` gives (tests/unit/test_trusted_metered.py)."""
    event = MeteredEvent.__new__(MeteredEvent)
    _set(event, "__dict__", {
        "account": account, "source": source, "id": id, "type": type, "time": time,
        "cycle_start": cycle_start, "cycle_end": cycle_end, "meters": meters, "dim": dim,
        "data": data, "partition": partition, "offset": offset, "received_at": received_at})
    _set(event, "__pydantic_fields_set__", set(_METERED_FIELDS))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


class RejectedEvent(BaseModel):
    """A rejected input record with a machine-readable reason."""

    model_config = ConfigDict(frozen=True)

    reason: RejectReason
    detail: str
    topic: str
    partition: int
    offset: int
    received_at: datetime
    raw: str = Field(description="The input, decoded with replacement, cut to 4,096 chars.")
    raw_size: int
    source: str = ""
    id: str = ""
    account: str = ""
    type: str = ""


AlertKind = Literal["threshold", "forecast"]


class Alert(BaseModel):
    """A meter of an account approaching or reaching its limit in a cycle.

    `id` is the same for every copy of one alert (account, cycle, product, meter,
    threshold): consumers use it as the idempotency key.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    account: str
    product: str
    plan: str
    meter: str
    kind: AlertKind
    threshold: str = Field(description='"80%" of the limit, "=5000" absolute, or "forecast".')
    level: Decimal = Field(description="The meter quantity at which the threshold fires.")
    value: Decimal = Field(description="The meter's cycle-to-date value after the event.")
    limit: Decimal | None = None
    crossed_at: datetime = Field(description="Event time of the usage that crossed it.")
    cycle_start: datetime
    cycle_end: datetime
    projected: Decimal = Field(description="Quantity at cycle end at the cycle-to-date rate.")
    projected_overage_cost: Decimal
    currency: str
    exhausts_at: datetime | None = Field(None, description="forecast: when the limit runs out.")
    offset: int = Field(-1, description="Input offset of the event that raised it.")


DecisionKind = Literal["sending.blocked", "sending.unblocked", "plan.upgraded",
                       "flex.purchased", "downgrade.scheduled", "downgrade.cancelled"]


class Decision(BaseModel):
    """A limit-policy decision taken in the stream; `cost` is charged at once."""

    model_config = ConfigDict(frozen=True)

    id: str
    account: str
    product: str
    meter: str
    kind: DecisionKind
    reason: str
    plan: str = Field(description="The plan in force when the decision was taken.")
    target_plan: str | None = None
    limit: Decimal = Field(description="The effective limit after the decision.")
    capacity: Decimal = Decimal(0)
    unit_price: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    currency: str = "USD"
    pricebook: str = ""
    at: datetime = Field(description="Event time (or clock time for scheduled decisions).")
    effective: datetime | None = Field(None, description="When a scheduled change applies.")
    cycle_start: datetime
    cycle_end: datetime
    offset: int = -1
