"""Derive metered quantities from a validated usage event. Pure.

Meter names and how each aggregates over a cycle (see schemas.records.MeterKind):

| event                    | meter                 | kind     | quantity                         |
|--------------------------|-----------------------|----------|----------------------------------|
| email.sent               | email.sent            | sum      | count                            |
| sms.sent                 | sms.credits           | sum      | country rate x segments (billable)|
|                          | sms.segments          | sum      | segments (billable)              |
| bandwidth.used           | bandwidth.bytes       | sum      | bytes (hosting + transfer)       |
| profile.added/removed    | profiles.total        | delta    | +1 / -1                          |
|                          | profiles.active       | delta    | +1 / -1 when emailable           |
| profile.consent_changed  | profiles.active       | delta    | +1 if now emailable, else -1     |
| cart.activated/deactivated | carts.<category>    | delta    | +1 / -1                          |
| order.review_ready       | reviews.orders        | distinct | order id, unless excluded        |
| seats.changed            | seats.full_time       | set      | full-time seats                  |
| storage.measured         | storage.data.bytes    | set      | sum of count x size per kind     |
| attachment.stored/deleted| storage.attachments.bytes | delta | +/- size rounded up to whole KB  |

Sizes are decimal bytes (1 KB = 1,000 bytes), as pricing's meters expect. Pricing reads
gauges as `<meter>.peak` and `<meter>.end`, which the cycle_peaks view provides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from core.privacy import sms_summary
from pricing import sms
from pricing.pricebook import PriceBook
from pricing.sms_rates import sms_rate
from pricing.storage import attachment_kb, storage_bytes
from schemas import events as ev
from schemas.records import MeterKind, MeterValue

ONE = Decimal(1)
SHARED = 100
"""Meter values of whole quantities up to this size are built once and shared."""



@dataclass(frozen=True)
class DeriveRules:
    sms_rate: Callable[[str, str], int]
    storage_bytes: Callable[[Mapping[str, int]], Decimal] = storage_bytes
    attachment_bytes: Callable[[int], int] = lambda size: attachment_kb(size) * 1000
    seat_priced: Callable[[str | None, str, str], bool] = lambda book, product, plan: True
    """(the account's price book or None, product, plan) -> is the plan priced per seat:
    only such a subscription has a seat contract (`pricing.seats`), as the rater judges."""


def rules_for(book: PriceBook, books: Mapping[str, PriceBook] | None = None) -> DeriveRules:
    """Derivation rules with `book`'s SMS credit-rate table (the stream and `metering rate`).
    `books`: the price books accounts may name (the stream's); without them every account
    is rated on `book` (`metering rate`, re-rating)."""

    def rate(country: str, channel: str) -> int:
        ch: sms.Channel = "mms" if channel == "mms" else "sms"
        return sms_rate(book, country, ch)

    def seat_priced(name: str | None, product: str, plan: str) -> bool:
        found = book if books is None else books.get(name or book.name)
        if found is None or product not in {p.id for p in found.products}:
            return False
        spec = found.product(product)
        return plan in {p.id for p in spec.plans} and bool(spec.plan(plan).seat_price)

    return DeriveRules(sms_rate=rate, seat_priced=seat_priced)


@dataclass(frozen=True, slots=True)
class Derived:
    meters: list[MeterValue]
    dim: str
    stored_data: dict[str, Any]
    """Event data as stored: an SMS body is replaced by its segment count and encoding."""


def _m(meter: str, kind: MeterKind, quantity: Decimal | int) -> MeterValue:
    if type(quantity) is int and -SHARED <= quantity <= SHARED:
        return _whole(meter, kind, quantity)
    return MeterValue(meter=meter, kind=kind, quantity=Decimal(quantity))


@lru_cache(maxsize=2 * SHARED * 64)
def _whole(meter: str, kind: MeterKind, quantity: int) -> MeterValue:
    """A meter value of a whole quantity; the frequent ones (1-5 e-mails, a cart +1/-1)
    built once (frozen, so an instance can be shared)."""
    return MeterValue(meter=meter, kind=kind, quantity=Decimal(quantity))


_SCALARS: tuple[object, ...] = (int, str, bool, type(None))


def _json_native(annotation: object) -> bool:
    """Whether a field's values are already what `model_dump(mode="json")` gives."""
    if annotation in _SCALARS:
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return all(type(a) in _SCALARS for a in args)
    if origin in (Union, UnionType):
        return all(_json_native(a) for a in args)
    return False


@cache
def _plain(model: type[BaseModel]) -> bool:
    """A data model whose fields are all JSON scalars, with no serializer and no extra
    keys: its stored data is its fields as they are."""
    decorators = model.__pydantic_decorators__
    return (model.model_config.get("extra") != "allow" and not model.model_computed_fields
            and not decorators.field_serializers and not decorators.model_serializers
            and all(_json_native(f.annotation) for f in model.model_fields.values()))


def stored_data(data: BaseModel) -> dict[str, Any]:
    """`data.model_dump(mode="json")`, without the serializer for the plain models."""
    return dict(data.__dict__) if _plain(type(data)) else data.model_dump(mode="json")


def derive(data: BaseModel, rules: DeriveRules) -> Derived:
    stored = stored_data(data)
    if isinstance(data, ev.EmailSent):
        return Derived([_m("email.sent", "sum", data.count)], "", stored)
    if isinstance(data, ev.SmsSent):
        # the text is only counted: segments and alphabet are stored, never the text
        stored.pop("body", None)
        if data.segments is None:
            stored.update(sms_summary(data.body or "", data.channel))
        elif data.encoding is None:
            stored.pop("encoding", None)
        segs: int = stored["segments"]
        billable = sms.is_billable(data.direction, data.status)
        # a message that costs nothing needs no rate (an unknown country is fine then)
        rate = rules.sms_rate(data.to_country, data.channel) if billable else 0
        return Derived([
            _m("sms.credits", "sum", sms.credits(rate, segs, data.direction, data.status)),
            _m("sms.segments", "sum", segs if billable else 0),
        ], "", stored)
    if isinstance(data, ev.BandwidthUsed):
        return Derived([_m("bandwidth.bytes", "sum", data.bytes)], data.kind, stored)
    if isinstance(data, ev.ProfileAdded | ev.ProfileRemoved):
        sign = 1 if isinstance(data, ev.ProfileAdded) else -1
        meters = [_m("profiles.total", "delta", sign)]
        if data.emailable:
            meters.append(_m("profiles.active", "delta", sign))
        return Derived(meters, data.profile_id, stored)
    if isinstance(data, ev.ProfileConsentChanged):
        return Derived([_m("profiles.active", "delta", 1 if data.emailable else -1)],
                       data.profile_id, stored)
    if isinstance(data, ev.CartActivated | ev.CartDeactivated):
        sign = 1 if isinstance(data, ev.CartActivated) else -1
        return Derived([_m(f"carts.{data.category}", "delta", sign)], data.cart_id, stored)
    if isinstance(data, ev.OrderReviewReady):
        meters = [] if data.excluded else [_m("reviews.orders", "distinct", ONE)]
        return Derived(meters, data.order_id, stored)
    if isinstance(data, ev.SeatsChanged):
        return Derived([_m("seats.full_time", "set", data.full_time)], "", stored)
    if isinstance(data, ev.StorageMeasured):
        counts = {str(kind): n for kind, n in data.objects.items()}
        return Derived([_m("storage.data.bytes", "set", rules.storage_bytes(counts))], "",
                       stored)
    if isinstance(data, ev.AttachmentStored | ev.AttachmentDeleted):
        sign = 1 if isinstance(data, ev.AttachmentStored) else -1
        return Derived([_m("storage.attachments.bytes", "delta",
                           sign * rules.attachment_bytes(data.bytes))], data.attachment_id,
                       stored)
    return Derived([], "", stored)  # account events: logged, no meters
