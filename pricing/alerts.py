"""Alerts on approaching limits: thresholds, projected overage cost, exhaustion forecast.

Thresholds of a meter come from the price book: fractions of the plan's limit (the
meter's `alerts.<meter>.percent`, else the book's `alert_thresholds`, default 80/90/100%)
and absolute quantities (`alerts.<meter>.absolute`). A threshold is crossed by a change
of the meter from `before` to `after` when before < level <= after; one change can cross
several, reported lowest level first. Each fires once per (account, cycle, meter,
threshold); the stream keeps the fired keys in the cycle's state.

Projection (both figures assume the cycle-to-date rate continues, linear in time):
- projected quantity at the cycle end = value x cycle length / elapsed time;
- projected overage cost = the plan's overage charge on (projected - limit), or, for a
  plan without an overage charge, (projected - limit) x the plan's unit rate
  (fee / limit): what flex or an upgrade would cost at the current rate;
- exhaustion time = start + limit / rate, reported when it falls before the cycle end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pricing.charge_models import build_charge_model
from pricing.cycles import Cycle
from pricing.money import ZERO, cents
from pricing.pricebook import Plan, PriceBook

HUNDRED = Decimal(100)


@dataclass(frozen=True, order=True)
class Threshold:
    kind: Literal["percent", "absolute"]
    value: Decimal
    """A fraction of the limit (percent) or a quantity of the meter (absolute)."""

    @property
    def key(self) -> str:
        """Stable name: "80%" or "=5000"."""
        if self.kind == "percent":
            return f"{_plain(self.value * HUNDRED)}%"
        return f"={_plain(self.value)}"

    def level(self, limit: Decimal | None) -> Decimal | None:
        """The meter quantity at which it fires (None: a percentage without a limit)."""
        if self.kind == "absolute":
            return self.value
        return None if limit is None else self.value * limit


def _plain(value: Decimal) -> str:
    return format(value.normalize() if value == value.to_integral_value() else value, "f")


def thresholds_for(book: PriceBook, meter: str) -> list[Threshold]:
    spec = book.alerts.get(meter)
    percents = book.alert_thresholds if spec is None or spec.percent is None else spec.percent
    absolutes = [] if spec is None else spec.absolute
    return sorted({Threshold("percent", p) for p in percents}
                  | {Threshold("absolute", a) for a in absolutes})


@dataclass(frozen=True)
class Crossing:
    threshold: Threshold
    level: Decimal


Levels = tuple[tuple[Decimal, Threshold], ...]
"""Thresholds with their levels under one limit, lowest level first."""


def levels_of(thresholds: Sequence[Threshold], limit: Decimal | None) -> Levels:
    """Each threshold's level under `limit` (a percentage without a limit has none)."""
    return tuple(sorted((level, t) for t in thresholds
                        if (level := t.level(limit)) is not None))


def crossed(levels: Levels, before: Decimal, after: Decimal) -> list[Crossing]:
    """`crossings` over levels computed once (the stream asks on every usage event)."""
    if not levels or after < levels[0][0] or before >= levels[-1][0]:
        return []
    return [Crossing(t, level) for level, t in levels if before < level <= after]


def crossings(thresholds: Sequence[Threshold], limit: Decimal | None, before: Decimal,
              after: Decimal) -> list[Crossing]:
    """Thresholds crossed going from `before` to `after`, lowest level first."""
    return crossed(levels_of(thresholds, limit), before, after)


def _fraction_elapsed(cycle: Cycle, at: datetime) -> Decimal:
    total = Decimal((cycle.end - cycle.start).total_seconds())
    elapsed = Decimal(max((at - cycle.start).total_seconds(), 0.0))
    return min(elapsed / total, Decimal(1))


def projected_quantity(value: Decimal, cycle: Cycle, at: datetime,
                       min_fraction: Decimal = Decimal("0.01")) -> Decimal:
    """The value at the cycle end if the cycle-to-date rate continues (the value itself
    before `min_fraction` of the cycle has passed: too early to extrapolate)."""
    fraction = _fraction_elapsed(cycle, at)
    if fraction < min_fraction:
        return value
    return value / fraction


def projected_overage_cost(plan: Plan, meter: str, limit: Decimal | None,
                           projected: Decimal) -> Decimal:
    """What the quantity above the limit would cost at the plan's current rate."""
    if limit is None or projected <= limit:
        return cents(ZERO)
    over = projected - limit
    spec = plan.overage.get(meter)
    if spec is not None:
        model = build_charge_model(spec, plan_fee=plan.fee, limit=limit)
        return cents(sum((p.amount for p in model.price(over)), ZERO))
    if plan.fee <= 0 or limit <= 0:
        return cents(ZERO)
    return cents(over * plan.fee / limit)


def exhaustion_time(value: Decimal, limit: Decimal | None, cycle: Cycle, at: datetime,
                    min_fraction: Decimal = Decimal("0.01")) -> datetime | None:
    """When the limit runs out at the cycle-to-date rate, if that is before the cycle end
    (None once reached, without a limit, or before `min_fraction` of the cycle passed)."""
    if limit is None or value <= 0 or value >= limit:
        return None
    fraction = _fraction_elapsed(cycle, at)
    if fraction < min_fraction:
        return None
    elapsed = at - cycle.start
    when = cycle.start + elapsed * float(limit / value)
    return when if when < cycle.end else None
