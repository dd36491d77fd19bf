"""An account's plan history: per product, half-open intervals [start, end) in UTC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import pairwise

from pricing.cycles import Cycle, calendar_month, cycle_containing
from pricing.pricebook import LimitPolicy, PriceBook, Term


def _aware(t: datetime, what: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware: {t!r}")


@dataclass(frozen=True)
class PlanInterval:
    """One product on one plan, with its settings, from `start` until `end` (exclusive)."""

    product: str
    plan: str
    start: datetime
    end: datetime | None = None
    policy: LimitPolicy = "none"
    auto_downgrade: bool = False
    seats: int = 0
    """Full-time seats contracted (seat-priced products)."""
    term: Term = "monthly"
    """Seat term: monthly cycles, or annual (12-month) contract periods."""
    anchor: date | None = None
    """This interval's own cycle anchor (e.g. the day a paid plan began); default: account's."""
    organisations: int = 1
    """Organisations sharing storage allowances pro rata."""
    committed_conversations: int = 0

    def __post_init__(self) -> None:
        _aware(self.start, "interval start")
        if self.end is not None:
            _aware(self.end, "interval end")
            if self.end <= self.start:
                raise ValueError("an interval must end after it starts")
        if self.seats < 0 or self.organisations < 1 or self.committed_conversations < 0:
            raise ValueError("seats, organisations and conversations must be sensible")

    def active_at(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    def overlaps(self, cycle: Cycle) -> bool:
        return self.start < cycle.end and (self.end is None or self.end > cycle.start)


@dataclass(frozen=True)
class PlanTimeline:
    """All plan intervals of one account; per product they must not overlap."""

    account: str
    anchor: date
    """The account's default cycle anchor (subscription / creation date)."""
    intervals: tuple[PlanInterval, ...]

    def __post_init__(self) -> None:
        by_product: dict[str, list[PlanInterval]] = {}
        for interval in self.intervals:
            by_product.setdefault(interval.product, []).append(interval)
        for product, items in by_product.items():
            items.sort(key=lambda i: i.start)
            for a, b in pairwise(items):
                if a.end is None or a.end > b.start:
                    raise ValueError(f"overlapping intervals for product {product!r}")

    def products(self) -> list[str]:
        return sorted({i.product for i in self.intervals})

    def for_product(self, product: str) -> list[PlanInterval]:
        return sorted((i for i in self.intervals if i.product == product), key=lambda i: i.start)

    def active(self, product: str, t: datetime) -> PlanInterval | None:
        _aware(t, "instant")
        for interval in self.for_product(product):
            if interval.active_at(t):
                return interval
        return None

    def overlapping(self, product: str, cycle: Cycle) -> list[PlanInterval]:
        return [i for i in self.for_product(product) if i.overlaps(cycle)]


def timeline_from_changes(
    account: str,
    anchor: date,
    changes: Sequence[PlanInterval],
    cancellations: Mapping[str, datetime] | None = None,
) -> PlanTimeline:
    """Build a timeline from open-ended changes: each change ends where the next begins.

    `changes` need not be sorted; `end` of each is ignored and recomputed. A product in
    `cancellations` ends at that instant.
    """
    cancelled = dict(cancellations or {})
    result: list[PlanInterval] = []
    products = sorted({c.product for c in changes})
    for product in products:
        ordered = sorted((c for c in changes if c.product == product), key=lambda c: c.start)
        stop = cancelled.get(product)
        for index, change in enumerate(ordered):
            end = ordered[index + 1].start if index + 1 < len(ordered) else stop
            if stop is not None and change.start >= stop:
                break
            if end is not None and stop is not None:
                end = min(end, stop)
            if end is not None and end <= change.start:
                continue
            result.append(replace(change, end=end))
    return PlanTimeline(account, anchor, tuple(result))


def cycle_for(book: PriceBook, timeline: PlanTimeline, product: str, t: datetime) -> Cycle | None:
    """The billing cycle of `product` containing `t`, or None if not subscribed at `t`.

    Calendar-month products and free plans renew on the 1st; others on their anchor
    (interval anchor, else the account's); annual seat terms last 12 months.
    """
    interval = timeline.active(product, t)
    if interval is None:
        return None
    spec = book.product(product)
    plan = spec.plan(interval.plan)
    if spec.cycle == "calendar_month" or plan.free:
        return calendar_month(t)
    months = 12 if interval.term == "annual" else spec.months
    return cycle_containing(interval.anchor or timeline.anchor, t, months)
