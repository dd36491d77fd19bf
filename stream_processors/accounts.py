"""Per-account state carried by the stream: what cycle an event falls in.

The state record keeps the offset of the last account event applied to it, so that a
record replayed after a crash (the state may be ahead of the committed offset) is
recognised: account events at or below `last_offset` are not applied twice, and usage
events older than the subscription's offset are treated as before the account existed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from pricing.cycles import Cycle, cycle_containing
from schemas.events import (
    AccountCancelled,
    AccountPlanChangeRequested,
    AccountSettingsChanged,
    AccountSubscribed,
)


class ProductPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: str
    since: datetime
    pricebook: str | None = None
    limit_policy: str = "none"
    auto_downgrade: bool = False
    cancelled_at: datetime | None = None


class AccountState(BaseModel):
    model_config = ConfigDict(frozen=True)

    anchor: date
    subscribed_offset: int
    subscribed_at: datetime
    last_offset: int
    products: dict[str, ProductPlan] = Field(default_factory=dict)

    def cycle_for(self, t: datetime) -> Cycle:
        return _cycle_on_day(self.anchor, t.astimezone(UTC).date())


@lru_cache(maxsize=65_536)
def _cycle_on_day(anchor: date, day: date) -> Cycle:
    """Cycle boundaries fall at midnight UTC, so the cycle depends on the day alone."""
    return cycle_containing(anchor, datetime.combine(day, time(0), tzinfo=UTC))


AccountData = AccountSubscribed | AccountPlanChangeRequested | AccountSettingsChanged | \
    AccountCancelled


def apply_account_event(state: AccountState | None, data: AccountData, at: datetime,
                        offset: int) -> AccountState | None:
    """The state after one account event; replays (offset <= last_offset) change nothing."""
    if state is not None and offset <= state.last_offset:
        return state
    if isinstance(data, AccountSubscribed):
        plan = ProductPlan(plan=data.plan, since=at, pricebook=data.pricebook)
        if state is None:
            return AccountState(anchor=data.anchor or at.date(), subscribed_offset=offset,
                                subscribed_at=at, last_offset=offset,
                                products={data.product: plan})
        return state.model_copy(update={"last_offset": offset,
                                        "products": {**state.products, data.product: plan}})
    if state is None:
        return None  # the caller rejects it as unknown_account
    current = state.products.get(data.product) if data.product else None
    products = dict(state.products)
    if isinstance(data, AccountPlanChangeRequested):
        if current is not None:
            # The plan timeline (pricing) decides when it takes effect; the stream records it.
            products[data.product] = current.model_copy(update={"plan": data.plan,
                                                                 "since": at})
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
