"""Per-account state carried by the stream: what cycle an event falls in.

The state record keeps the offset of the last record applied to it (an account event,
or a usage event that moved the live limits), so that a record replayed after a crash
(the state may be ahead of the committed offset) is recognised and not applied twice;
usage events older than the subscription's offset are treated as before the account
existed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pricing.cycles import Cycle, cycle_containing
from pricing.pricebook import Term
from pricing.seats import SeatChangeRefused, SeatContract, change_seats, seat_period
from schemas.events import (
    AccountCancelled,
    AccountPlanChangeRequested,
    AccountSettingsChanged,
    AccountSubscribed,
    AccountWebhookConfigured,
    SeatsChanged,
)

M = TypeVar("M", bound=BaseModel)


def replaced(model: M, update: dict[str, Any]) -> M:
    """`model.model_copy(update=update)` for the frozen state models, without pydantic's
    generic copy (the hot path takes a few per event): a new instance whose unchanged
    values are shared, as `model_copy`'s are (nothing here mutates a value in place)."""
    new = model.__class__.__new__(model.__class__)
    setattr_ = object.__setattr__
    setattr_(new, "__dict__", {**model.__dict__, **update})
    fields = model.__pydantic_fields_set__
    setattr_(new, "__pydantic_fields_set__",
             fields if update.keys() <= fields else fields | update.keys())
    setattr_(new, "__pydantic_extra__", model.__pydantic_extra__)
    setattr_(new, "__pydantic_private__", model.__pydantic_private__)
    return new


class ProductPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: str
    since: datetime
    pricebook: str | None = None
    limit_policy: str = "none"
    auto_downgrade: bool = False
    cancelled_at: datetime | None = None
    next_plan: str | None = None
    """A requested plan change that takes effect when the next cycle starts."""
    term: Literal["monthly", "annual"] = "monthly"


class LiveCycle(BaseModel):
    """What the live limits know of the account's current cycle (see limits.py)."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    sums: dict[str, Decimal] = Field(default_factory=dict)
    """Sum and distinct stream meters, cycle to date."""
    peaks: dict[str, Decimal] = Field(default_factory=dict)
    """Gauge stream meters: the highest level in the cycle (opening level included). The
    cycle is half-open: a change at exactly its first instant sets the opening (a cart
    deactivated then was active only before the cycle)."""
    after_start: dict[str, Decimal] = Field(default_factory=dict)
    """Gauge stream meters: the highest level reached by a change after the first instant
    (what the peak stays at least, when a change at the first instant lowers the opening)."""
    opening: dict[str, Decimal] = Field(default_factory=dict)
    """Tracked gauges: the level at the cycle's first instant (a change at exactly that
    instant sets it)."""
    daily: dict[str, dict[str, Decimal]] = Field(default_factory=dict)
    """Tracked stream meters, day by day (UTC date, ISO): a sum's quantity of that day; a
    gauge's highest level reached after the first instant that day. With `opening` and
    `daily_end` it draws the usage over the cycle (`api.usage_history`)."""
    daily_end: dict[str, dict[str, Decimal]] = Field(default_factory=dict)
    """Tracked gauges: the level at the end of each day that changed it (arrival order)."""
    fired: list[str] = Field(default_factory=list)
    """Alert keys already raised this cycle: "product|meter|threshold"."""
    flexed: dict[str, str] = Field(default_factory=dict)
    """Product -> the plan whose capacity a flex purchase made available this cycle."""
    blocked: dict[str, str] = Field(default_factory=dict)
    """Product -> why sending is blocked."""
    downgrades: dict[str, str] = Field(default_factory=dict)
    """Product -> plan scheduled from the next cycle ("" = looked at, nothing to do)."""
    upgraded: list[str] = Field(default_factory=list)
    """Products upgraded during this cycle (an upgrade cancels the auto-downgrade)."""


class AccountState(BaseModel):
    model_config = ConfigDict(frozen=True)

    anchor: date
    subscribed_offset: int
    subscribed_at: datetime
    last_offset: int
    products: dict[str, ProductPlan] = Field(default_factory=dict)
    levels: dict[str, Decimal] = Field(default_factory=dict)
    """Gauge stream meters (profiles, carts, seats, storage): the level now."""
    live: LiveCycle | None = None
    webhook_url: str | None = None
    seats: int = 0
    """Full-time seats contracted (the last accepted `seats.changed`)."""
    seats_pending: int | None = None
    """A reduction requested for the renewal, and when it applies."""
    seats_pending_at: datetime | None = None
    seats_offset: int = -1
    """Offset of the last seat reading applied: a replay at or before it is not re-judged."""
    seasonal_alerted: list[str] = Field(default_factory=list)
    """Seasonal windows ("first|end day") whose over-the-limit alert was raised."""

    def cycle_for(self, t: datetime) -> Cycle:
        return _cycle_on_day(self.anchor, t.astimezone(UTC).date())

    @property
    def seat_term(self) -> Term:
        return "annual" if any(p.term == "annual" for p in self.products.values()) \
            else "monthly"

    def seat_contract(self) -> SeatContract:
        return SeatContract(self.seats, self.seats_pending, self.seats_pending_at)


@lru_cache(maxsize=65_536)
def _cycle_on_day(anchor: date, day: date) -> Cycle:
    """Cycle boundaries fall at midnight UTC, so the cycle depends on the day alone."""
    return cycle_containing(anchor, datetime.combine(day, time(0), tzinfo=UTC))


AccountData = AccountSubscribed | AccountPlanChangeRequested | AccountSettingsChanged | \
    AccountCancelled | AccountWebhookConfigured


def apply_account_event(state: AccountState | None, data: AccountData, at: datetime,
                        offset: int) -> AccountState | None:
    """The state after one account event; replays (offset <= last_offset) change nothing."""
    if state is not None and offset <= state.last_offset:
        return state
    if isinstance(data, AccountSubscribed):
        plan = ProductPlan(plan=data.plan, since=at, pricebook=data.pricebook, term=data.term)
        if state is None:
            return AccountState(anchor=data.anchor or at.date(), subscribed_offset=offset,
                                subscribed_at=at, last_offset=offset,
                                products={data.product: plan})
        return state.model_copy(update={"last_offset": offset,
                                        "products": {**state.products, data.product: plan}})
    if state is None:
        return None  # the caller rejects it as unknown_account
    if isinstance(data, AccountWebhookConfigured):
        return state.model_copy(update={"last_offset": offset, "webhook_url": data.url})
    current = state.products.get(data.product) if data.product else None
    products = dict(state.products)
    if isinstance(data, AccountPlanChangeRequested):
        if current is not None and data.effective == "now":
            products[data.product] = current.model_copy(
                update={"plan": data.plan, "since": at, "next_plan": None})
        elif current is not None:
            products[data.product] = current.model_copy(update={"next_plan": data.plan})
    elif isinstance(data, AccountSettingsChanged):
        if current is not None:
            products[data.product] = current.model_copy(
                update={"limit_policy": data.limit_policy,
                        "auto_downgrade": data.auto_downgrade})
    elif isinstance(data, AccountCancelled):
        for product, plan in state.products.items():
            if data.product in (None, product):
                products[product] = plan.model_copy(update={"cancelled_at": at})
    return state.model_copy(update={"last_offset": offset, "products": products})


def apply_seats(state: AccountState, data: SeatsChanged, at: datetime, offset: int
                ) -> AccountState | str:
    """The state after a full-time seat reading (`pricing.seats.change_seats` decides), or
    why it is refused; a replayed reading (offset at or before the last one applied) is
    accepted as it was and changes nothing. The seat period is the account's: monthly
    cycles from its anchor, or 12-month contracts when a product is on the annual term."""
    if offset <= state.seats_offset:
        return state
    period = seat_period(state.anchor, state.seat_term, at)
    try:
        change = change_seats(state.seat_contract(), data.full_time, data.effective, at, period)
    except SeatChangeRefused as exc:
        return str(exc)
    c = change.contract
    return state.model_copy(update={"seats": c.seats, "seats_pending": c.pending,
                                    "seats_pending_at": c.pending_at, "seats_offset": offset})
