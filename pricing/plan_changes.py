"""Plan consequences of a cycle, and the rules for requested plan changes.

At a cycle's close, per product, in this order:
1. upgrade_next_cycle_meter over the plan's limit (paid plans): the lowest higher plan
   covering the value, from the next cycle (contacts / active profiles);
2. follow_meter: the lowest plan covering the value, up or down (marketing analytics);
3. flex + auto_downgrade: the lowest plan covering the auto-downgrade meter, if lower
   and no upgrade happened in the cycle.
Requested changes: upgrades take effect at once, downgrades at the next cycle; a
downgrade below the guard meter (active profiles) is refused; an upgrade cancels a
pending downgrade.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pricing.aggregates import CycleAggregates
from pricing.cycles import Cycle
from pricing.limits import LimitDecision, plan_limit
from pricing.pricebook import Plan, Product
from pricing.timeline import PlanInterval

ChangeReason = Literal["over_limit", "follow_meter", "auto_downgrade", "requested"]


@dataclass(frozen=True)
class PlanChange:
    product: str
    from_plan: str
    to_plan: str
    effective: datetime
    reason: ChangeReason


def lowest_covering(
    product: Product,
    meter: str,
    value: Decimal,
    *,
    above_rank: int = -1,
    paid_only: bool = False,
) -> Plan | None:
    """The lowest plan above `above_rank` whose limit on `meter` covers `value`.

    Free plans are skipped when climbing (above_rank >= 0) or when `paid_only`.
    None if no plan covers it.
    """
    for rank, plan in enumerate(product.plans):
        if rank <= above_rank or ((above_rank >= 0 or paid_only) and plan.free):
            continue
        limit = plan_limit(plan, meter)
        if limit is not None and limit >= value:
            return plan
    return None


def cycle_consequences(
    product: Product,
    interval: PlanInterval,
    aggregates: CycleAggregates,
    cycle: Cycle,
    decisions: Sequence[LimitDecision] = (),
    downgrades_decided: bool = False,
) -> list[PlanChange]:
    """Plan changes the cycle's measurements cause, effective at the cycle's end.

    `downgrades_decided`: the auto-downgrade was decided live (the decision core's clock,
    24 hours before the end) and comes in `decisions` as a `downgrade`; it is not decided
    again here."""
    plan = product.plan(interval.plan)
    rank = product.rank(plan.id)
    upgraded = any(d.product == product.id and d.action == "upgrade" for d in decisions)

    def change(target: Plan, reason: ChangeReason) -> list[PlanChange]:
        return [PlanChange(product.id, plan.id, target.id, cycle.end, reason)]

    meter = product.upgrade_next_cycle_meter
    if meter is not None and not plan.free:
        value = aggregates.value(product.id, meter)
        limit = plan_limit(plan, meter)
        if limit is not None and value > limit:
            target = lowest_covering(product, meter, value, above_rank=rank)
            target = target or product.plans[-1]
            if target.id != plan.id:
                return change(target, "over_limit")
    if product.follow_meter is not None:
        value = aggregates.value(product.id, product.follow_meter)
        target = lowest_covering(product, product.follow_meter, value) or product.plans[-1]
        if target.id != plan.id:
            return change(target, "follow_meter")
    meter = product.auto_downgrade_meter
    if downgrades_decided:
        chosen = [d for d in decisions if d.product == product.id and d.action == "downgrade"
                  and d.target_plan and product.rank(d.target_plan) < rank]
        return change(product.plan(chosen[-1].target_plan or ""), "auto_downgrade") \
            if chosen else []
    wants_downgrade = interval.policy == "flex" and interval.auto_downgrade and not upgraded
    if meter is not None and wants_downgrade:
        value = aggregates.value(product.id, meter)
        target = lowest_covering(product, limit_meter_for(product, meter), value, paid_only=True)
        if target is not None and product.rank(target.id) < rank:
            return change(target, "auto_downgrade")
    return []


def limit_meter_for(product: Product, meter: str) -> str:
    """The meter whose plan limits a value of `meter` is compared with.

    Active profiles at the end are compared with the plans' active-profile limit (the
    guard or upgrade meter) when the plans carry no limit on `meter` itself.
    """
    if any(meter in plan.limits for plan in product.plans):
        return meter
    return product.downgrade_guard_meter or product.upgrade_next_cycle_meter or meter


@dataclass(frozen=True)
class ChangeReview:
    accepted: bool
    effective: datetime | None
    reason: str
    cancels_pending_downgrade: bool = False


def review_plan_change(
    product: Product,
    current_plan: str,
    target_plan: str,
    at: datetime,
    cycle: Cycle,
    guard_value: Decimal = Decimal(0),
) -> ChangeReview:
    """Accept or refuse a requested plan change and say when it takes effect."""
    current, target = product.rank(current_plan), product.rank(target_plan)
    if target == current:
        return ChangeReview(False, None, "same_plan")
    if target > current:
        return ChangeReview(True, at, "upgrade_now", cancels_pending_downgrade=True)
    meter = product.downgrade_guard_meter
    if meter is not None:
        limit = plan_limit(product.plans[target], meter)
        if limit is not None and guard_value > limit:
            return ChangeReview(False, None, "below_current_usage")
    return ChangeReview(True, cycle.end, "downgrade_next_cycle")
