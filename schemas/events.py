"""Data of every usage and account event type (DESIGN.md section 4), one model per type.

Quantity fields carry explicit bounds; the validator in stream_processors turns a
negative, non-finite or out-of-bound quantity into a specific rejection reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

MAX_COUNT = 1_000_000
"""Largest count one event may carry (emails in one event, seats, segments, ...)."""
MAX_BYTES = 10**15
"""Largest byte quantity one event may carry (1 PB)."""
MAX_OBJECTS = 10**12

ObjectKind = Literal[
    "company", "customer", "conversation", "message", "attachment", "event", "audit_log",
    "note", "custom_object", "custom_attribute",
]
"""Stored object kinds; "attachment" is the attachment record, not the file."""
Product = Literal["package", "email", "sms", "reviews", "cdp", "analytics", "seats", "storage",
                  "carts"]
LimitPolicy = Literal["none", "auto_upgrade", "flex"]


def _date_text(value: Any) -> Any:
    """A date field takes an ISO date string (or a `date`), never a number."""
    if isinstance(value, str) or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    raise ValueError("a date must be a string YYYY-MM-DD")


JsonDate = Annotated[date, BeforeValidator(_date_text), Field(strict=False)]
"""A date as the JSON Schema says (`string`, format `date`)."""


class _Data(BaseModel):
    """Strict as the exported JSON Schema: an integer field takes an integer (not "5",
    true or 5.0), a boolean a boolean, a string a string."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# ---- usage events -------------------------------------------------------------------------

class EmailSent(_Data):
    count: int = Field(1, ge=1, le=MAX_COUNT)


class SmsSent(_Data):
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["body"], "properties": {"body": {"type": "string"}}},
        {"required": ["segments"], "properties": {"segments": {"type": "integer"}}},
    ]})

    to_country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    body: str | None = Field(None, max_length=20_000,
                             description="Used to count segments; never stored nor forwarded "
                                         "(only the segment count and `encoding` are).")
    segments: int | None = Field(None, ge=1, le=1_000)
    encoding: Literal["gsm7", "ucs2"] | None = Field(
        None, description="Alphabet of the text (informational): set by the pipeline when "
                          "it counts the segments of `body`, which it then drops.")
    channel: Literal["sms", "mms"] = "sms"
    direction: Literal["outbound", "inbound"] = "outbound"
    status: Literal["delivered", "failed", "skipped"] = "delivered"

    @model_validator(mode="after")
    def _body_or_segments(self) -> SmsSent:
        if (self.body is None) == (self.segments is None):
            raise ValueError("give exactly one of body or segments")
        return self


class BandwidthUsed(_Data):
    bytes: int = Field(ge=0, le=MAX_BYTES)
    kind: Literal["hosting", "transfer"]


class _Profile(_Data):
    profile_id: str = Field(min_length=1, max_length=256)
    emailable: bool


class ProfileAdded(_Profile):
    """A new profile; `emailable` says whether it counts as active."""


class ProfileRemoved(_Profile):
    """A removed profile; `emailable` says whether it was active when removed."""


class ProfileConsentChanged(_Profile):
    """An existing profile changed state; `emailable` is the new state (a real transition)."""


class _Cart(_Data):
    cart_id: str = Field(min_length=1, max_length=256)
    category: Literal["standard", "premium", "edi"]


class CartActivated(_Cart):
    pass


class CartDeactivated(_Cart):
    pass


class OrderReviewReady(_Data):
    order_id: str = Field(min_length=1, max_length=256)
    excluded: bool = False


class SeasonalWindow(_Data):
    """A seasonal seat window: open from 00:00 UTC of `first_day` to 00:00 UTC after
    `last_day`, with `seats` seasonal seats contracted (its limit)."""

    first_day: JsonDate
    last_day: JsonDate
    seats: int = Field(ge=0, le=MAX_COUNT, description="Seasonal seats contracted (the "
                       "window's limit).")
    assigned: int | None = Field(None, ge=0, le=MAX_COUNT, description="Seasonal users "
                                 "assigned to the window, counted against `seats`.")

    @model_validator(mode="after")
    def _ordered(self) -> SeasonalWindow:
        if self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        return self


class SeatsChanged(_Data):
    full_time: int = Field(ge=0, le=MAX_COUNT)
    effective: Literal["now", "renewal"] = Field(
        "now", description="now: more seats are added (and charged) at once; fewer only at "
        "a renewal instant. renewal: fewer seats from the end of the seat period.")
    seasonal: list[SeasonalWindow] = Field(default_factory=list, max_length=100)


class StorageMeasured(_Data):
    objects: dict[ObjectKind, Annotated[int, Field(ge=0, le=MAX_OBJECTS)]] = Field(
        description="Object counts by kind at measurement.")


class _Attachment(_Data):
    attachment_id: str = Field(min_length=1, max_length=256)
    bytes: int = Field(ge=0, le=MAX_BYTES)


class AttachmentStored(_Attachment):
    pass


class AttachmentDeleted(_Attachment):
    pass


# ---- account events -----------------------------------------------------------------------

class AccountSubscribed(_Data):
    product: Product
    plan: str = Field(min_length=1, max_length=128)
    anchor: JsonDate | None = Field(None,
                                    description="Cycle anchor day; default: the event's date.")
    pricebook: str | None = Field(None, max_length=128)
    term: Literal["monthly", "annual"] = Field(
        "monthly", description="Seat term: monthly cycles, or 12-month contract periods.")


class AccountPlanChangeRequested(_Data):
    product: Product
    plan: str = Field(min_length=1, max_length=128)
    effective: Literal["now", "next_cycle"] = "next_cycle"


class AccountSettingsChanged(_Data):
    product: Product
    limit_policy: LimitPolicy = "none"
    auto_downgrade: bool = False


class AccountCancelled(_Data):
    product: Product | None = None


class AccountWebhookConfigured(_Data):
    """Where alerts and decisions of the account are POSTed (None: stop delivering)."""

    url: str | None = Field(None, max_length=2048, pattern=r"^https?://[^\s]+$")


# ---- intents --------------------------------------------------------------------------------

class SendScheduled(_Data):
    """A send planned for later in the cycle; under auto_upgrade, one that would cross the
    limit upgrades the plan now (so the send is not cut off when it runs)."""

    product: Product
    count: int = Field(ge=1, le=100 * MAX_COUNT)


USAGE_TYPES: dict[str, type[_Data]] = {
    "email.sent": EmailSent,
    "sms.sent": SmsSent,
    "bandwidth.used": BandwidthUsed,
    "profile.added": ProfileAdded,
    "profile.removed": ProfileRemoved,
    "profile.consent_changed": ProfileConsentChanged,
    "cart.activated": CartActivated,
    "cart.deactivated": CartDeactivated,
    "order.review_ready": OrderReviewReady,
    "seats.changed": SeatsChanged,
    "storage.measured": StorageMeasured,
    "attachment.stored": AttachmentStored,
    "attachment.deleted": AttachmentDeleted,
}
ACCOUNT_TYPES: dict[str, type[_Data]] = {
    "account.subscribed": AccountSubscribed,
    "account.plan_change_requested": AccountPlanChangeRequested,
    "account.settings_changed": AccountSettingsChanged,
    "account.cancelled": AccountCancelled,
    "account.webhook_configured": AccountWebhookConfigured,
}
INTENT_TYPES: dict[str, type[_Data]] = {"send.scheduled": SendScheduled}
EVENT_DATA: dict[str, type[_Data]] = {**USAGE_TYPES, **ACCOUNT_TYPES, **INTENT_TYPES}

QUANTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "email.sent": ("count",),
    "sms.sent": ("segments",),
    "bandwidth.used": ("bytes",),
    "seats.changed": ("full_time",),
    "attachment.stored": ("bytes",),
    "attachment.deleted": ("bytes",),
}
"""Numeric fields checked for negative / non-finite / huge values before model validation."""
QUANTITY_LIMITS: dict[str, int] = {"count": MAX_COUNT, "segments": 1_000, "bytes": MAX_BYTES,
                                   "full_time": MAX_COUNT}
