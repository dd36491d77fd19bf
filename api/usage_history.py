"""The current cycle's usage day by day, against the allotment, with the forecast. Pure.

Drawn from the live state the stream keeps (`AccountState.live`: each tracked meter's
quantity per day, each gauge's opening, highest and closing level per day), rolled
forward to the clock's cycle as `api.usage` does. For every limited meter of every
watched product, one point per day from the cycle's first day to today: the value the
plan's limit reads at the end of that day (a sum: cycle to date; a `.peak`: the highest
level so far, opening included; an `.end`: the level then). Today's point is the value
now, the same figure `GET /v1/accounts/{a}/usage` answers.

The forecast is the value at the cycle's end: for a sum, the cycle-to-date rate carried
on (`pricing.alerts.projected_quantity`, the rule the forecast alert uses); a gauge is
forecast to stay where it is. `over_at` is the day the forecast line crosses the
allotment (none when it stays under).

A state written before the stream kept days has no days for the usage before that: its
points start at 0 and jump on the first day kept (the value now is exact either way).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

from core.accounts import AccountState, LiveCycle
from core.limits import ZERO, LimitsContext, LiveRun, gauge_source, watched_products
from pricing.alerts import projected_quantity
from pricing.cycles import Cycle

WHOLE = Decimal(1)


class DayValue(BaseModel):
    day: date
    value: Decimal = Field(description="What the limit reads at the end of the day (today: "
                                       "now).")


class MeterHistory(BaseModel):
    product: str
    plan: str
    meter: str = Field(description="The limited meter, as the price book names it.")
    reads: str = Field(description="sum (cycle to date), peak (highest level) or end "
                                   "(the level).")
    limit: Decimal | None = Field(description="The allotment in force now.")
    days: list[DayValue]
    value: Decimal = Field(description="Now.")
    forecast: Decimal = Field(description="At the cycle's end, if the rate (sum) or the "
                                          "level (gauge) holds.")
    over_at: date | None = Field(None, description="The day the forecast crosses the "
                                                   "allotment (null: it stays under).")


class UsageHistory(BaseModel):
    account: str
    tracked: bool = Field(description="Whether the stream keeps live usage of the account.")
    cycle_start: datetime
    cycle_end: datetime
    now: datetime
    meters: list[MeterHistory] = Field(default_factory=list)


def _days(cycle_start: datetime, today: date) -> list[date]:
    first = cycle_start.date()
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


def _series(live: LiveCycle, meter: str, days: list[date]) -> tuple[str, list[Decimal]]:
    """(how the limit reads the meter, its value at the end of each day)."""
    source = gauge_source(meter)
    if source is None:
        per_day, total, out = live.daily.get(meter, {}), ZERO, []
        for d in days:
            total += per_day.get(d.isoformat(), ZERO)
            out.append(total)
        return "sum", out
    gauge, reads = source
    level = live.opening.get(gauge, ZERO)
    highest, ends, out = level, live.daily_end.get(gauge, {}), []
    peaks = live.daily.get(gauge, {})
    for d in days:
        key = d.isoformat()
        highest = max(highest, peaks.get(key, highest))
        level = ends.get(key, level)
        out.append(highest if reads == "peak" else level)
    return reads, out


def _over_at(value: Decimal, forecast: Decimal, limit: Decimal | None, now: datetime,
             cycle: Cycle) -> date | None:
    if limit is None or forecast <= limit:
        return None
    if value >= limit:
        return now.date()
    fraction = (limit - value) / (forecast - value)
    remaining = (cycle.end - now).total_seconds()
    return (now + timedelta(seconds=float(fraction) * remaining)).date()


def usage_history(state: AccountState, account: str, ctx: LimitsContext,
                  now: datetime) -> UsageHistory:
    cycle = state.cycle_for(now)
    if state.live is None:
        return UsageHistory(account=account, tracked=False, cycle_start=cycle.start,
                            cycle_end=cycle.end, now=now)
    run = LiveRun(state, account, ctx, now, state.last_offset)
    run.roll(cycle)
    live = run.live
    days = _days(live.start, min(now, live.end - timedelta(microseconds=1)).date())
    meters = []
    for pid, _, _, product, plan in watched_products(run.state, ctx):
        for meter in plan.limits:
            reads, values = _series(live, meter, days)
            value, limit = run.value(meter), run.limit(product, plan, meter)
            values[-1] = value  # today: the value now (a gauge's level may not have moved)
            forecast = projected_quantity(value, Cycle(live.start, live.end), now).quantize(
                WHOLE, rounding=ROUND_HALF_UP) if reads == "sum" else value
            meters.append(MeterHistory(
                product=pid, plan=plan.id, meter=meter, reads=reads, limit=limit,
                days=[DayValue(day=d, value=v) for d, v in zip(days, values, strict=True)],
                value=value, forecast=forecast,
                over_at=_over_at(value, forecast, limit, now, Cycle(live.start, live.end))))
    return UsageHistory(account=account, tracked=True, cycle_start=live.start,
                        cycle_end=live.end, now=now, meters=meters)
