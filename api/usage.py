"""The current cycle's usage of an account against its allotments. Pure.

Read from the live state the stream keeps per account (`AccountState.live`: cycle-to-date
sums, peaks of gauges; `levels`: gauges now), rolled forward to the clock's cycle the way
can-send does (a state whose cycle has ended shows the new cycle, empty). Live usage is
kept for accounts with a product in a price book while live limits are on
(`METERING_LIMITS`); otherwise `tracked` is false and only gauge levels are known.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

from core.accounts import AccountState
from core.limits import ZERO, LimitsContext, LiveRun, watched_products


class MeterUsage(BaseModel):
    meter: str
    value: Decimal = Field(description="Cycle to date (sums) or the cycle's peak / the "
                                       "level now (gauges), as the plan's limit reads it.")
    limit: Decimal | None = Field(None, description="The allotment in force (a flex "
                                                    "purchase or seats included).")
    remaining: Decimal | None = None
    used_percent: Decimal | None = Field(None, description="value / limit, in %, 0.1.")


class ProductUsage(BaseModel):
    product: str
    plan: str
    pricebook: str
    limit_policy: str
    blocked: str | None = Field(None, description="Why sending is blocked, if it is.")
    flexed_to: str | None = Field(None, description="Plan whose capacity flex bought.")
    meters: list[MeterUsage]


class UsageAnswer(BaseModel):
    account: str
    as_of_offset: int | None = Field(
        description="Offset of the last event the answer includes (null unless the key "
                    "reads every account: an offset counts every tenant's events).")
    tracked: bool = Field(description="Whether the stream keeps live usage of the account.")
    cycle_start: datetime
    cycle_end: datetime
    products: list[ProductUsage] = Field(default_factory=list)
    sums: dict[str, Decimal] = Field(default_factory=dict,
                                     description="Every sum meter, cycle to date.")
    peaks: dict[str, Decimal] = Field(default_factory=dict,
                                      description="Every gauge's highest level this cycle.")
    levels: dict[str, Decimal] = Field(default_factory=dict,
                                       description="Every gauge's level now.")


def _percent(value: Decimal, limit: Decimal | None) -> Decimal | None:
    if limit is None or limit <= 0:
        return None
    return (value * 100 / limit).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def current_usage(state: AccountState, account: str, ctx: LimitsContext,
                  now: datetime) -> UsageAnswer:
    cycle = state.cycle_for(now)
    if state.live is None:
        return UsageAnswer(account=account, as_of_offset=state.last_offset, tracked=False,
                           cycle_start=cycle.start, cycle_end=cycle.end,
                           levels=dict(state.levels))
    run = LiveRun(state, account, ctx, now, state.last_offset)
    run.roll(cycle)
    live = run.live
    products = []
    for pid, pp, book, product, plan in watched_products(run.state, ctx):
        meters = []
        for meter in plan.limits:
            value, limit = run.value(meter), run.limit(product, plan, meter)
            meters.append(MeterUsage(
                meter=meter, value=value, limit=limit, used_percent=_percent(value, limit),
                remaining=None if limit is None else max(limit - value, ZERO)))
        products.append(ProductUsage(
            product=pid, plan=plan.id, pricebook=book.name, limit_policy=pp.limit_policy,
            blocked=live.blocked.get(pid), flexed_to=live.flexed.get(pid), meters=meters))
    return UsageAnswer(account=account, as_of_offset=state.last_offset, tracked=True,
                       cycle_start=live.start, cycle_end=live.end, products=products,
                       sums=dict(live.sums), peaks=dict(live.peaks),
                       levels=dict(run.state.levels))
