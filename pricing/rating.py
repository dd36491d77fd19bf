"""Rating one account's cycle: a pure, deterministic function to an invoice.

The invoice issued at a cycle's end carries
- the cycle's arrears: overages and usage fees (and base fees of arrears-billed products),
- the base fees of the next cycle (advance-billed products), on the plan in force for it
  after this cycle's plan consequences; none for a product cancelled by then,
- a credit line using up any credit balance (downgrade credits) carried in.
Flex purchases, upgrade differences and seat prorations were invoiced at once when they
happened (immediate invoices); they are not repeated here.

A cycle invoice is issued (`issued_at`) at the cycle's end plus the book's lateness: the
first instant the close of cycle may issue it, since a late event inside the lateness
still counts. Every line has a description (the meter, the quantity, the tier or block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pricing.aggregates import CycleAggregates
from pricing.charge_models import build_charge_model
from pricing.credits import apply_credit
from pricing.cycles import Cycle, cycle_containing
from pricing.invoice import Invoice, InvoiceLine
from pricing.limits import LimitDecision, plan_limit
from pricing.money import ZERO, cents
from pricing.plan_changes import PlanChange, cycle_consequences
from pricing.pricebook import Allowance, Plan, PriceBook, Product
from pricing.pricebook_charges import ChargeSpec
from pricing.storage import allowance
from pricing.timeline import PlanInterval, PlanTimeline, cycle_for
from schemas.billing import LineKind


@dataclass(frozen=True)
class RatingResult:
    invoice: Invoice
    plan_changes: tuple[PlanChange, ...]
    credit_balance: Decimal
    """Credit balance left after this invoice (carried to later invoices)."""


def rated_products(book: PriceBook, timeline: PlanTimeline, cycle: Cycle) -> list[str]:
    """Products of the account whose billing cycle is exactly `cycle`."""
    known = {p.id for p in book.products}
    result = []
    for product in timeline.products():
        intervals = timeline.overlapping(product, cycle)
        if product not in known or not intervals:
            continue
        t = max(cycle.start, intervals[0].start)
        if cycle_for(book, timeline, product, t) == cycle:
            result.append(product)
    return result


def cycle_meters(book: PriceBook, timeline: PlanTimeline, cycle: Cycle,
                 products: Iterable[str]) -> list[str]:
    """The meters an invoice of `cycle` reports for `products`: those the plans in force
    during the cycle limit or charge, and the seats meter of a product that has one."""
    meters: set[str] = set()
    known = {p.id for p in book.products}
    for product_id in products:
        if product_id not in known:
            continue
        product = book.product(product_id)
        if product.seats_meter is not None:
            meters.add(product.seats_meter)
        for interval in timeline.overlapping(product_id, cycle):
            plan = product.plan(interval.plan)
            meters.update(plan.limits, plan.usage, plan.overage)
    return sorted(m for m in meters if m in book.meters)


def rate_cycle(
    book: PriceBook,
    timeline: PlanTimeline,
    cycle: Cycle,
    aggregates: CycleAggregates,
    decisions: Sequence[LimitDecision] = (),
    *,
    products: Iterable[str] | None = None,
    credit_balance: Decimal = ZERO,
    downgrades_decided: bool = False,
) -> RatingResult:
    """The invoice at the end of `cycle` and the plan changes it causes.

    `decisions` are the mid-cycle limit decisions of the cycle (flex purchases raise the
    limits used for overage). `products` defaults to `rated_products(...)`.
    """
    chosen = sorted(products) if products is not None else rated_products(book, timeline, cycle)
    in_cycle = [d for d in decisions if d.at is None or cycle.contains(d.at)]
    lines: list[InvoiceLine] = []
    changes: list[PlanChange] = []
    for product_id in chosen:
        product = book.product(product_id)
        intervals = timeline.overlapping(product_id, cycle)
        if not intervals:
            continue
        mine = [d for d in in_cycle if d.product == product_id]
        lines += _arrears(book.is_additive, product, intervals, cycle, aggregates, mine)
        consequences: list[PlanChange] = []
        last = intervals[-1]
        if last.end is None or last.end >= cycle.end:
            consequences = cycle_consequences(product, last, aggregates, cycle, mine,
                                              downgrades_decided)
        changes += consequences
        lines += _next_fees(book, timeline, product, cycle, consequences)
    invoice = Invoice(
        account=timeline.account,
        cycle_start=cycle.start,
        cycle_end=cycle.end,
        kind="cycle",
        currency=book.currency,
        lines=tuple(lines),
        pricebook=f"{book.name}@{book.version}",
        issued_at=cycle.end + timedelta(hours=book.lateness_hours),
    )
    invoice, left = apply_credit(invoice, credit_balance)
    return RatingResult(invoice, tuple(changes), left)


def _fee_lines(
    product: Product, plan: Plan, interval: PlanInterval, period: Cycle
) -> list[InvoiceLine]:
    lines = []
    if plan.fee > 0:
        lines.append(
            InvoiceLine("base_fee", product.id, None, Decimal(1), plan.fee, cents(plan.fee),
                        plan.id, f"{plan.name or plan.id} fee", period.start, period.end)
        )  # fmt: skip
    price = plan.seat_price.get(interval.term)
    if price is not None and interval.seats > 0:
        seats = Decimal(interval.seats)
        lines.append(
            InvoiceLine("base_fee", product.id, None, seats, price, cents(price * seats),
                        plan.id, f"{interval.seats} full-time seat(s), {interval.term} term",
                        period.start, period.end)
        )  # fmt: skip
    return lines


def _next_fees(
    book: PriceBook,
    timeline: PlanTimeline,
    product: Product,
    cycle: Cycle,
    consequences: list[PlanChange],
) -> list[InvoiceLine]:
    if product.billing != "advance":
        return []
    interval = timeline.active(product.id, cycle.end)
    if interval is None:
        return []
    plan_id = consequences[0].to_plan if consequences else interval.plan
    plan = product.plan(plan_id)
    if product.cycle == "calendar_month" or plan.free:
        period = cycle_containing(cycle.end.date().replace(day=1), cycle.end)
    else:
        months = 12 if interval.term == "annual" else product.months
        period = cycle_containing(interval.anchor or timeline.anchor, cycle.end, months)
    return _fee_lines(product, plan, interval, period)


def _plan_at(intervals: list[PlanInterval], piece_start: datetime) -> PlanInterval:
    """The interval in force when a piece of usage began to accrue."""
    chosen = intervals[0]
    for interval in intervals:
        if interval.start <= piece_start:
            chosen = interval
    return chosen


def _limit(
    product: Product,
    plan: Plan,
    interval: PlanInterval,
    meter: str,
    aggregates: CycleAggregates,
    decisions: Sequence[LimitDecision],
) -> Decimal:
    spec = plan.limits[meter]
    if isinstance(spec, Allowance):
        seats = Decimal(interval.seats)
        if product.seats_meter is not None:
            measured = aggregates.values.get(product.id, {}).get(product.seats_meter)
            seats = seats if measured is None else measured
        return allowance(spec, seats=seats, organisations=interval.organisations,
                         committed_conversations=interval.committed_conversations)  # fmt: skip
    flexed = [d.limit for d in decisions if d.action == "flex" and d.meter == meter]
    return max([spec, *flexed])


def _priced(
    kind: LineKind,
    product: Product,
    plan: Plan,
    meter: str,
    spec: ChargeSpec,
    quantity: Decimal,
    cycle: Cycle,
) -> list[InvoiceLine]:
    model = build_charge_model(spec, plan_fee=plan.fee, limit=plan_limit(plan, meter))
    line_kind: LineKind = spec.kind or kind
    what = f"{meter}: {_plain(quantity)} {'over the limit' if kind == 'overage' else 'used'}"
    return [
        InvoiceLine(line_kind, product.id, meter, piece.quantity, piece.unit_price, piece.amount,
                    plan.id, f"{what}, {piece.note}" if piece.note else what, cycle.start,
                    cycle.end)
        for piece in model.price(quantity)
    ]  # fmt: skip


def _plain(value: Decimal) -> str:
    """A quantity as it reads on an invoice: thousands separated, no exponent, no
    trailing zeros."""
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _arrears(
    additive: Callable[[str], bool],
    product: Product,
    intervals: list[PlanInterval],
    cycle: Cycle,
    aggregates: CycleAggregates,
    decisions: Sequence[LimitDecision],
) -> list[InvoiceLine]:
    last = intervals[-1]
    last_plan = product.plan(last.plan)
    lines: list[InvoiceLine] = []
    if product.billing == "arrears":
        lines += _fee_lines(product, last_plan, last, cycle)
    split = aggregates.has_split(product.id)
    meters = sorted({m for i in intervals for m in (*product.plan(i.plan).usage,
                                                    *product.plan(i.plan).overage)})  # fmt: skip
    for meter in meters:
        pieces = aggregates.parts(product.id, meter) if split and additive(meter) else None
        if pieces is None:
            pieces = [(cycle.start, aggregates.value(product.id, meter))]
            owners = [last] * len(pieces)
        else:
            owners = [_plan_at(intervals, start) for start, _ in pieces]
        used = ZERO
        for (_, amount), owner in zip(pieces, owners, strict=True):
            plan = product.plan(owner.plan)
            if meter in plan.usage:
                lines += _priced("usage_fee", product, plan, meter, plan.usage[meter], amount,
                                 cycle)  # fmt: skip
            if meter in plan.overage:
                limit = _limit(product, plan, owner, meter, aggregates, decisions)
                over = used + amount - max(used, limit)
                if over > 0:
                    lines += _priced("overage", product, plan, meter, plan.overage[meter],
                                     over, cycle)  # fmt: skip
            used += amount
    return lines
