"""Mid-cycle limit decisions: what reaching a plan's limit does under each policy.

- within the effective limit: allow
- policy none (or a policy the product does not offer): block until the next cycle
- auto_upgrade: move at once to the lowest higher tier covering the usage; the cost is
  the fee difference to the plan in force (so over a cycle the account pays the
  difference between the plan it entered with and the final tier)
- flex: buy, for this cycle only, the capacity of the following tier(s) at the unit rate
  of the plan the account is on (fee / limit); a plan under the flex minimum fee, or a
  free plan, cannot flex and is blocked
- the profile meter: a free plan over its limit is blocked; a paid plan is allowed and is
  upgraded at the next cycle (see plan_changes)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pricing.cycles import Cycle
from pricing.invoice import Invoice, InvoiceLine
from pricing.money import ZERO, cents, rate
from pricing.pricebook import Allowance, LimitPolicy, Plan, PriceBook, Product

Action = Literal["allow", "block", "upgrade", "flex", "downgrade"]
"""`downgrade`: an auto-downgrade the live limits scheduled (target_plan, from the next
cycle); only ever passed in, never returned by `decide_at_limit`."""


@dataclass(frozen=True)
class LimitDecision:
    product: str
    meter: str
    action: Action
    plan: str
    """The plan in force when the decision was taken."""
    target_plan: str | None
    """upgrade: the new plan; flex: the tier whose capacity is now available."""
    limit: Decimal
    """The effective limit after the decision."""
    capacity: Decimal = ZERO
    """Units added by the decision (flex: bought; upgrade: new limit - old limit)."""
    unit_price: Decimal = ZERO
    cost: Decimal = ZERO
    """Charged at once on an immediate invoice."""
    reason: str = ""
    at: datetime | None = None


def plan_limit(plan: Plan, meter: str) -> Decimal | None:
    """A plain limit of `plan` on `meter` (None when absent or an allowance formula)."""
    value = plan.limits.get(meter)
    return None if value is None or isinstance(value, Allowance) else value


def _require_limit(plan: Plan, meter: str) -> Decimal:
    value = plan_limit(plan, meter)
    if value is None:
        raise ValueError(f"plan {plan.id!r} has no plain limit on {meter!r}")
    return value


def _capacity_rank(product: Product, plan: Plan, earlier: Sequence[LimitDecision]) -> int:
    """Rank of the tier whose capacity is available now (the plan, or a flexed tier)."""
    rank = product.rank(plan.id)
    for decision in earlier:
        if decision.product == product.id and decision.action == "flex" and decision.target_plan:
            rank = max(rank, product.rank(decision.target_plan))
    return rank


def flex_eligible(product: Product, plan: Plan) -> bool:
    if "flex" not in product.policies or plan.free or plan.fee <= 0:
        return False
    return product.flex_min_fee is None or plan.fee >= product.flex_min_fee


def flex_cost(plan: Plan, meter: str, capacity: Decimal) -> Decimal:
    """Capacity x the plan's unit rate (fee / limit), computed exactly, rounded once."""
    return cents(capacity * plan.fee / _require_limit(plan, meter))


def upgrade_difference(current: Plan, target: Plan) -> Decimal:
    return cents(max(ZERO, target.fee - current.fee))


def decide_at_limit(
    book: PriceBook,
    product_id: str,
    plan_id: str,
    policy: LimitPolicy,
    usage_before: Decimal,
    usage_after: Decimal,
    *,
    meter: str | None = None,
    earlier: Sequence[LimitDecision] = (),
    at: datetime | None = None,
) -> LimitDecision:
    """What happens when usage on a limited meter goes from `usage_before` to `usage_after`.

    `earlier` are this cycle's decisions for the account (flex purchases raise the limit).
    `meter` defaults to the product's send-limit meter; pass the product's
    upgrade-next-cycle meter (active profiles) for the profile-limit rule.
    """
    product = book.product(product_id)
    plan = product.plan(plan_id)
    meter = meter or product.send_limit_meter
    if meter is None:
        raise ValueError(f"product {product_id!r} has no limited meter")
    if meter != product.send_limit_meter:
        return _profile_decision(product, plan, meter, usage_after, at)
    rank = _capacity_rank(product, plan, earlier)
    limit = _require_limit(product.plans[rank], meter)

    def block(reason: str) -> LimitDecision:
        return LimitDecision(product.id, meter, "block", plan.id, None, limit, reason=reason, at=at)

    if usage_after <= limit:
        return LimitDecision(product.id, meter, "allow", plan.id, None, limit, at=at)
    if policy not in product.policies or policy == "none":
        return block("limit_reached")
    covering = [
        (r, p)
        for r, p in enumerate(product.plans)
        if r > rank and _require_limit(p, meter) >= usage_after
    ]
    if not covering:
        return block("top_of_ladder")
    target_rank, target = covering[0]
    new_limit = _require_limit(target, meter)
    if policy == "auto_upgrade":
        cost = upgrade_difference(plan, target)
        return LimitDecision(
            product.id, meter, "upgrade", plan.id, target.id, new_limit,
            capacity=new_limit - _require_limit(plan, meter), unit_price=cost, cost=cost,
            reason="auto_upgrade", at=at,
        )  # fmt: skip
    if not flex_eligible(product, plan):
        return block("flex_not_eligible")
    capacity = new_limit - limit
    return LimitDecision(
        product.id, meter, "flex", plan.id, product.plans[target_rank].id, new_limit,
        capacity=capacity, unit_price=rate(plan.fee / _require_limit(plan, meter)),
        cost=flex_cost(plan, meter, capacity), reason="flex", at=at,
    )  # fmt: skip


def _profile_decision(
    product: Product, plan: Plan, meter: str, usage_after: Decimal, at: datetime | None
) -> LimitDecision:
    limit = _require_limit(plan, meter)
    if usage_after <= limit:
        return LimitDecision(product.id, meter, "allow", plan.id, None, limit, at=at)
    if plan.free:
        return LimitDecision(
            product.id, meter, "block", plan.id, None, limit,
            reason="free_plan_over_profile_limit", at=at,
        )  # fmt: skip
    return LimitDecision(
        product.id, meter, "allow", plan.id, None, limit, reason="upgrade_next_cycle", at=at
    )


def crossed_thresholds(
    limit: Decimal, before: Decimal, after: Decimal, thresholds: Sequence[Decimal]
) -> list[Decimal]:
    """The alert thresholds (fractions of `limit`) crossed by going from before to after."""
    return [t for t in sorted(thresholds) if before < t * limit <= after]


def decision_invoice(
    book: PriceBook, account: str, decision: LimitDecision, cycle: Cycle
) -> Invoice | None:
    """The immediate invoice of a flex purchase or an upgrade difference (None if free)."""
    if decision.action not in ("flex", "upgrade") or decision.cost == ZERO:
        return None
    kind: Literal["flex_purchase", "upgrade_difference"] = (
        "flex_purchase" if decision.action == "flex" else "upgrade_difference"
    )
    quantity = decision.capacity if decision.action == "flex" else Decimal(1)
    line = InvoiceLine(
        kind=kind,
        product=decision.product,
        meter=decision.meter,
        quantity=quantity,
        unit_price=decision.unit_price,
        amount=decision.cost,
        plan=decision.target_plan,
        description=f"{decision.reason}: {decision.plan} -> {decision.target_plan}",
        period_start=cycle.start,
        period_end=cycle.end,
    )
    return Invoice(
        account=account,
        cycle_start=cycle.start,
        cycle_end=cycle.end,
        kind="immediate",
        currency=book.currency,
        lines=(line,),
        pricebook=f"{book.name}@{book.version}",
        issued_at=decision.at,
    )
