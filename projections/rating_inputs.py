"""From aggregator rows and account events to pricing's inputs (timeline, cycle aggregates).

Meter mapping (stream meter -> pricing meters), applied to the rows of one (account, cycle):

| stream meter (kind)                     | pricing meters                                      |
|-----------------------------------------|-----------------------------------------------------|
| `<m>` sum / distinct (email.sent,       | `<m>` (the cycle's total or distinct count)         |
| sms.credits, bandwidth.bytes, ...)      |                                                     |
| `<m>` delta / set gauge                 | `<m>.peak` (peak), `<m>.end` (value at cycle end)   |
| `carts.<category>` (delta)              | also `carts.<category>` = peak (peak concurrent)    |
| `storage.data.bytes` (set),             | also the plain name = end value (value at end)      |
| `storage.attachments.bytes` (delta)     |                                                     |
| `profiles.total` (delta)                | also `contacts.peak` = its peak (package plans)     |

So `profiles.active` gives `profiles.active.peak` / `.end`, `profiles.total` gives
`profiles.total.peak`, `seats.full_time` gives `seats.full_time.end`. Every product of
the cycle receives the whole mapped dict (a product reads only the meters its plans name;
a missing meter is 0). A gauge without a row in the cycle (the account had no event in
it) carries the end value of its latest earlier row. A negative value (a gauge driven
below 0 by inconsistent input) is rated as 0.

The timeline comes from the account events of the log (`account.subscribed`,
`plan_change_requested`, `settings_changed`, `cancelled`), see `AccountPlans`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from pricing.aggregates import CycleAggregates
from pricing.cycles import Cycle
from pricing.pricebook import PriceBook, Term
from pricing.timeline import PlanInterval, PlanTimeline, cycle_for, timeline_from_changes
from projections.aggregate_rows import AggregateRows
from schemas.meters import ALIASES, PLAIN_END, PLAIN_PEAK_PREFIXES
from schemas.records import MeteredEvent

ZERO = Decimal(0)


def gauge_values(meter: str, peak: Decimal, end: Decimal) -> dict[str, Decimal]:
    values = {f"{meter}.peak": peak, f"{meter}.end": end}
    if meter.startswith(PLAIN_PEAK_PREFIXES):
        values[meter] = peak
    if meter in PLAIN_END:
        values[meter] = end
    return values


def meter_values(rows: AggregateRows, account: str, cycle: Cycle) -> dict[str, Decimal]:
    """Pricing's meter values of one (account, cycle), by the mapping above."""
    values: dict[str, Decimal] = {}
    for c in rows.counters:
        if (c.account, c.cycle_start, c.cycle_end) == (account, cycle.start, cycle.end):
            values[c.meter] = c.value
    latest: dict[str, tuple[datetime, Decimal, Decimal]] = {}
    for p in rows.peaks:
        if p.account != account:
            continue
        if (p.cycle_start, p.cycle_end) == (cycle.start, cycle.end):
            values.update(gauge_values(p.meter, p.peak, p.end_value))
        elif p.cycle_end <= cycle.start:
            seen = latest.get(p.meter)
            if seen is None or seen[0] < p.cycle_end:
                latest[p.meter] = (p.cycle_end, p.end_value, p.end_value)
    for meter, (_, peak, end) in latest.items():
        if f"{meter}.peak" not in values:
            values.update(gauge_values(meter, peak, end))
    for alias, name in ALIASES.items():
        if name in values:
            values[alias] = values[name]
    return {k: max(v, ZERO) for k, v in values.items()}


def cycle_aggregates(rows: AggregateRows, account: str, cycle: Cycle,
                     products: Iterable[str]) -> CycleAggregates:
    values = meter_values(rows, account, cycle)
    return CycleAggregates(account, cycle, {p: dict(values) for p in products})


@dataclass
class AccountPlans:
    """The plan history of one account, built from its account events in log order.

    - `account.subscribed`: the product starts on the plan at the event's time; the first
      subscription's `anchor` (default: its date) is the account's anchor, a later one's
      explicit anchor is that product's own;
    - `account.plan_change_requested`: `effective: now` switches at the event's time,
      `next_cycle` at the end of the product's cycle containing it (as the event says;
      downgrade guards are not re-checked offline);
    - `account.settings_changed`: same plan, new limit policy / auto-downgrade from then;
    - `account.cancelled`: the product (or all) ends at the event's time.
    """

    account: str
    anchor: date | None = None
    changes: list[PlanInterval] = field(default_factory=list)
    cancellations: dict[str, datetime] = field(default_factory=dict)
    plan_set: set[tuple[str, datetime]] = field(default_factory=set)
    """(product, start) of the intervals that set a plan (subscription, plan change)."""

    def timeline(self) -> PlanTimeline:
        anchor = self.anchor or date(1970, 1, 1)
        return timeline_from_changes(self.account, anchor, self.changes, self.cancellations)

    def current(self, product: str, at: datetime) -> PlanInterval | None:
        before = [c for c in self.changes if c.product == product and c.start <= at]
        return max(before, key=lambda c: c.start) if before else None

    def switch(self, product: str, at: datetime, **update: object) -> PlanInterval | None:
        """A new interval from `at` copying the one in force, with `update` applied.

        A plan switched at `at` also holds in the later intervals that only changed
        something else (a settings change, a seat reading: they copied the plan in force
        when they were read), up to the next interval that sets a plan itself: an upgrade
        decided mid-cycle is not undone by a policy change recorded after it."""
        now = self.current(product, at)
        if now is None:
            return None
        new = replace(now, start=at, end=None, **update)  # type: ignore[arg-type]
        self.changes = [c for c in self.changes if not (c.product == product and c.start == at)]
        self.changes.append(new)
        if "plan" in update:
            self.plan_set.add((product, at))
            later = sorted((c for c in self.changes if c.product == product and c.start > at),
                           key=lambda c: c.start)
            for c in later:
                if (product, c.start) in self.plan_set:
                    break
                self.changes[self.changes.index(c)] = replace(c, plan=new.plan)
        return new

    def apply(self, book: PriceBook, event: MeteredEvent) -> str | None:
        """Apply one account event; a problem description when it cannot be priced."""
        data, at = event.data, event.time
        product = str(data.get("product") or "")
        known = {p.id for p in book.products}
        if event.type == "account.cancelled":
            for p in ([product] if product else sorted({c.product for c in self.changes})):
                self.cancellations.setdefault(p, at)
            return None
        if product not in known:
            return f"{event.type}: product {product!r} is not in price book {book.name}"
        plan = str(data.get("plan") or "")
        if plan and plan not in {p.id for p in book.product(product).plans}:
            return f"{event.type}: plan {plan!r} is not a plan of {product!r}"
        if event.type == "account.subscribed":
            anchor = date.fromisoformat(str(data["anchor"])) if data.get("anchor") else None
            if self.anchor is None:
                self.anchor = anchor or at.date()
                anchor = None
            self.cancellations.pop(product, None)
            term: Term = "annual" if data.get("term") == "annual" else "monthly"
            self.changes.append(PlanInterval(product, plan, at, anchor=anchor, term=term))
            self.plan_set.add((product, at))
        elif event.type == "account.plan_change_requested":
            start = at
            if data.get("effective", "next_cycle") == "next_cycle":
                cycle = cycle_for(book, self.timeline(), product, at)
                start = cycle.end if cycle is not None else at
            if self.switch(product, start, plan=plan) is None:
                return f"{event.type}: {product!r} is not subscribed"
        elif event.type == "account.settings_changed":
            policy = str(data.get("limit_policy", "none"))
            if self.switch(product, at, policy=policy,
                           auto_downgrade=bool(data.get("auto_downgrade", False))) is None:
                return f"{event.type}: {product!r} is not subscribed"
        return None
