"""Rate an aggregated log offline: every account cycle that ends by `until`.

Per account, in time order:
- account events build the plan timeline (`rating_inputs.AccountPlans`); a requested plan
  change is reported as a `plan_change` record;
- a subscription to an `advance` product with a fee opens with an immediate invoice of
  that first fee, in full (pricing/README: first fees are not prorated);
- a seat reading (`seats.full_time`) above the seats of a seat-priced product charges the
  added seats at once, prorated (`seat_addition_invoice`); a reduction applies from the
  next cycle (seats cannot be reduced before renewal);
- limit decisions are the decision core's (`live_decisions.py`: the account's log
  replayed through `core.replay`), read for a cycle that may hold one (`_may_decide`);
  flex and upgrades are immediate invoices (an upgrade also switches the plan at once),
  each is reported as a `limit_decision` record, and the auto-downgrade the core
  scheduled is the close's plan consequence;
- each cycle (the product's own cycle from `pricing.timeline.cycle_for`) is rated with
  `rate_cycle`, on aggregates regrouped into exactly that cycle with the view semantics;
  its plan consequences switch the plan at the cycle end and are reported. The cycle
  invoice record carries `usage`: the price book's meters as measured for the cycle.

What the rater reads goes through a `RatingSource`: `MemorySource` (an in-memory
aggregator: `metering rate`, tests) or `projections.log_source.LogSource` (the ClickHouse
views, reading an account's events only where the views cannot answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from core.replay import InjectedChange
from pricing.credits import apply_credit
from pricing.cycles import Cycle
from pricing.invoice import Invoice, InvoiceLine
from pricing.limits import LimitDecision, decision_invoice, plan_limit
from pricing.pricebook import PriceBook
from pricing.proration import (
    plan_change_proration_invoice,
    seasonal_seats_invoice,
    seat_addition_invoice,
)
from pricing.rating import cycle_meters, rate_cycle, rated_products
from pricing.seats import (
    SeatChangeRefused,
    SeatContract,
    SeatEffective,
    change_seats,
    seasonal_seats_to_bill,
    seasonal_window,
)
from pricing.timeline import cycle_for
from projections.aggregate_rows import AggregateRows
from projections.invoicing import PROJECTOR_SOURCE
from projections.live_decisions import AccountDecisions, limits_for
from projections.memory import MemoryAggregator
from projections.rating_inputs import AccountPlans, cycle_aggregates, meter_values
from schemas.records import MeteredEvent

Record = dict[str, Any]
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 30, tzinfo=UTC)


def _time(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _num(value: Decimal) -> str:
    return format(value.normalize() if value == value.to_integral_value() else value, "f")


def invoice_record(invoice: Invoice) -> Record:
    return {"record": "invoice", **invoice.to_json_dict()}


def plan_change_record(account: str, product: str, from_plan: str | None, to_plan: str,
                       effective: datetime, reason: str) -> Record:
    return {"record": "plan_change", "account": account, "product": product,
            "from_plan": from_plan, "to_plan": to_plan, "effective": _time(effective),
            "reason": reason}


def decision_record(account: str, d: LimitDecision) -> Record:
    return {"record": "limit_decision", "account": account, "product": d.product,
            "meter": d.meter, "action": d.action, "plan": d.plan, "target_plan": d.target_plan,
            "limit": format(d.limit, "f"), "cost": format(d.cost, "f"), "reason": d.reason,
            "at": _time(d.at) if d.at else None}


def bucket(cycle: Cycle) -> Callable[[MeteredEvent], tuple[datetime, datetime]]:
    """Group events as before / inside / after `cycle` (gauges still carry their level)."""
    def of(e: MeteredEvent) -> tuple[datetime, datetime]:
        if e.time < cycle.start:
            return (FAR_PAST, cycle.start)
        return (cycle.start, cycle.end) if e.time < cycle.end else (cycle.end, FAR_FUTURE)
    return of


class RatingSource(Protocol):
    def accounts(self) -> list[str]: ...

    def control_events(self, account: str) -> list[MeteredEvent]:
        """The account's events the rater walks: at least its account events and seat
        readings, in (time, offset) order."""

    def cycle_rows(self, account: str, cycle: Cycle) -> AggregateRows:
        """The view rows of exactly `cycle` (events regrouped into it)."""

    def cycle_events(self, account: str, cycle: Cycle) -> list[MeteredEvent]:
        """The account's events inside `cycle` that carry meters, in (time, offset) order."""

    def account_log(self, account: str) -> list[MeteredEvent]:
        """Every accepted event of the account (what the core's replay reads)."""


class MemorySource:
    """A `RatingSource` over an in-memory aggregator."""

    def __init__(self, aggregator: MemoryAggregator) -> None:
        self.aggregator = aggregator
        self._events: dict[str, list[MeteredEvent]] = {}

    def accounts(self) -> list[str]:
        return self.aggregator.accounts()

    def control_events(self, account: str) -> list[MeteredEvent]:
        if account not in self._events:
            self._events[account] = self.aggregator.events(account)
        return self._events[account]

    def cycle_rows(self, account: str, cycle: Cycle) -> AggregateRows:
        return self.aggregator.rows(account, cycle_of=bucket(cycle))

    def cycle_events(self, account: str, cycle: Cycle) -> list[MeteredEvent]:
        return [e for e in self.control_events(account) if cycle.contains(e.time) and e.meters]

    def account_log(self, account: str) -> list[MeteredEvent]:
        return self.control_events(account)


@dataclass(frozen=True)
class _Invoiced:
    """An invoice waiting for the credit pass (`extra`: fields added to its record)."""

    invoice: Invoice
    extra: Record


@dataclass(frozen=True)
class _Credit:
    """Credit added to the account's balance (a mid-period downgrade of a seat plan)."""

    amount: Decimal


class AccountRater:
    def __init__(self, book: PriceBook, account: str, events: list[MeteredEvent],
                 until: datetime) -> None:
        self.book, self.account, self.events, self.until = book, account, events, until
        self.plans = AccountPlans(account)
        self.records: list[tuple[datetime, int, Record | _Invoiced | _Credit]] = []
        self.live = AccountDecisions(limits_for(book), until)
        self.problems: list[str] = []
        self.seats: dict[str, SeatContract] = {}
        self.seasonal: dict[tuple[str, str], int] = {}
        """(product, window) -> seasonal seats billed."""

    def emit(self, at: datetime, record: Record | _Invoiced | _Credit) -> None:
        if at <= self.until:
            self.records.append((at, len(self.records), record))

    def emit_invoice(self, at: datetime, invoice: Invoice, **extra: Any) -> None:
        self.emit(at, _Invoiced(invoice, extra))

    def _settle(self) -> list[Record]:
        """The records in issue order, each cycle invoice taking what it can of the credit
        balance left by earlier downgrades (`pricing.credits`). Only cycle invoices take
        credit: one is issued after its cycle's end plus the lateness, when no event before
        it can still arrive, so the credit it takes never changes once issued (an immediate
        invoice is issued while a late downgrade may still come)."""
        out: list[Record] = []
        balance = Decimal(0)
        for _, _, entry in sorted(self.records, key=lambda x: (x[0], x[1])):
            if isinstance(entry, _Credit):
                balance += entry.amount
            elif isinstance(entry, _Invoiced) and entry.invoice.kind == "cycle":
                had = balance
                invoice, balance = apply_credit(entry.invoice, balance)
                record = {**invoice_record(invoice), **entry.extra}
                if had > 0:
                    record["credit_balance"] = format(balance, "f")
                out.append(record)
            elif isinstance(entry, _Invoiced):
                out.append({**invoice_record(entry.invoice), **entry.extra})
            else:
                out.append(entry)
        return out

    def run(self, source: RatingSource) -> list[Record]:
        for event in self.events:
            if event.source == PROJECTOR_SOURCE:  # a change this rating derives itself
                continue
            if event.type.startswith("account."):
                self._account_event(event)
            elif event.type == "seats.changed":
                self._seats(event)
        done: set[tuple[str, Cycle]] = set()
        while (cycle := self._next_cycle(done)) is not None:
            products = [p for p in rated_products(self.book, self.plans.timeline(), cycle)
                        if (p, cycle) not in done]
            done.update((p, cycle) for p in products)
            self._rate(source, cycle, products)
        return self._settle()

    def _account_event(self, event: MeteredEvent) -> None:
        product = str(event.data.get("product") or "")
        before = self.plans.current(product, event.time)
        period = cycle_for(self.book, self.plans.timeline(), product, event.time) \
            if before is not None else None
        problem = self.plans.apply(self.book, event)
        if problem is not None:
            self.problems.append(f"{self.account}: {problem}")
            return
        plan = str(event.data.get("plan") or "")
        if event.type == "account.plan_change_requested" and before is not None:
            changed = max((c for c in self.plans.changes if c.product == product),
                          key=lambda c: c.start)
            self.emit(event.time, plan_change_record(self.account, product, before.plan, plan,
                                                     changed.start, "requested"))
            if changed.start == event.time and period is not None:
                self._seat_plan_change(product, before.plan, plan, before.term,
                                       self.seats.get(product, SeatContract(before.seats))
                                       .at(event.time).seats, event.time, period)
        if event.type == "account.subscribed":
            spec = self.book.product(product)
            fee = spec.plan(plan).fee
            if spec.billing == "advance" and fee > 0:
                cycle = cycle_for(self.book, self.plans.timeline(), product, event.time)
                if cycle is not None:
                    line = InvoiceLine("base_fee", product, None, Decimal(1), fee, fee, plan,
                                       f"{plan} fee (first cycle)", cycle.start, cycle.end)
                    self.emit_invoice(event.time, Invoice(
                        self.account, cycle.start, cycle.end, "immediate", self.book.currency,
                        (line,), f"{self.book.name}@{self.book.version}", event.time))

    def _seat_plan_change(self, product: str, old: str, new: str, term: Any, seats: int,
                          at: datetime, period: Cycle) -> None:
        """A plan change effective now on a seat-priced product, inside its period: an
        upgrade pays the prorated difference at once, a downgrade adds the prorated
        difference to the credit balance (a change at the period's first instant is the
        next fee's, already on the new plan)."""
        spec = self.book.product(product)
        if at == period.start or seats <= 0 or old == new or \
                not spec.plan(old).seat_price or not spec.plan(new).seat_price:
            return
        invoice = plan_change_proration_invoice(self.book, self.account, product, old, new,
                                                term, seats, at, period)
        if invoice.total > 0:
            self.emit_invoice(at, invoice)
        elif invoice.total < 0:
            self.emit(at, _Credit(-invoice.total))

    def _seats(self, event: MeteredEvent) -> None:
        requested = int(str(event.data.get("full_time", 0)))
        effective: SeatEffective = "renewal" if event.data.get("effective") == "renewal" \
            else "now"
        for spec in self.book.products:
            interval = self.plans.current(spec.id, event.time)
            if interval is None or not spec.plan(interval.plan).seat_price:
                continue
            cycle = cycle_for(self.book, self.plans.timeline(), spec.id, event.time)
            if cycle is None:
                continue
            contract = self.seats.get(spec.id, SeatContract(interval.seats))
            try:  # the decision core refused these already; a log from elsewhere may not
                change = change_seats(contract, requested, effective, event.time, cycle)
            except SeatChangeRefused as exc:
                self.problems.append(f"{self.account}: seats.changed at "
                                     f"{_time(event.time)}: {exc}")
                continue
            new = change.contract
            if change.added > 0:
                self.emit_invoice(event.time, seat_addition_invoice(
                    self.book, self.account, spec.id, interval.plan, interval.term,
                    change.added, event.time, cycle))
            # the billed seats follow the contract: from now, and from a pending renewal
            if new.seats != contract.at(event.time).seats:
                self.plans.switch(spec.id, event.time, seats=new.seats)
            if contract.pending_at is not None and contract.pending_at > event.time and \
                    contract.pending_at != new.pending_at:
                self.plans.switch(spec.id, contract.pending_at,
                                  seats=new.at(contract.pending_at).seats)
            if new.pending is not None and new.pending_at is not None:
                self.plans.switch(spec.id, new.pending_at, seats=new.pending)
            self.seats[spec.id] = new
            if spec.plan(interval.plan).seasonal_seat_price is not None:
                self._seasonal(event, spec.id, interval.plan)

    def _seasonal(self, event: MeteredEvent, product: str, plan: str) -> None:
        """Seasonal seats a reading adds to a window: invoiced at once, for the window."""
        windows = event.data.get("seasonal") or []
        for w in windows if isinstance(windows, list) else []:
            window = seasonal_window(date.fromisoformat(str(w["first_day"])),
                                     date.fromisoformat(str(w["last_day"])))
            key = (product, window.id)
            billed = self.seasonal.get(key, 0)
            added = seasonal_seats_to_bill(window, int(str(w["seats"])), billed, event.time)
            if added > 0:
                self.emit_invoice(event.time, seasonal_seats_invoice(
                    self.book, self.account, product, plan, added, window, event.time))
                self.seasonal[key] = billed + added

    def _next_cycle(self, done: set[tuple[str, Cycle]]) -> Cycle | None:
        timeline = self.plans.timeline()
        candidates: list[Cycle] = []
        for product in timeline.products():
            if product not in {p.id for p in self.book.products}:
                continue
            t = timeline.for_product(product)[0].start
            while (c := cycle_for(self.book, timeline, product, t)) is not None:
                if c.end > self.until:
                    break
                if (product, c) not in done:
                    candidates.append(c)
                    break
                t = c.end
        return min(candidates, key=lambda c: (c.end, c.start)) if candidates else None

    def _rate(self, source: RatingSource, cycle: Cycle, products: list[str]) -> None:
        rows = source.cycle_rows(self.account, cycle)
        decisions = self._decisions(source, cycle, products, rows)
        aggregates = cycle_aggregates(rows, self.account, cycle, products)
        result = rate_cycle(self.book, self.plans.timeline(), cycle, aggregates, decisions,
                            products=products, downgrades_decided=True)
        measured: dict[str, Decimal] = {}
        for product in products:
            for meter, value in aggregates.values.get(product, {}).items():
                measured.setdefault(meter, value)
        meters = sorted({*cycle_meters(self.book, self.plans.timeline(), cycle, products),
                         *(m for m in measured if m in self.book.meters)})
        self.emit_invoice(cycle.end, result.invoice,
                          usage={m: _num(measured.get(m, Decimal(0))) for m in meters})
        for change in result.plan_changes:
            self.plans.switch(change.product, change.effective, plan=change.to_plan)
            self.live.inject(InjectedChange(change.product, change.to_plan, change.effective))
            self.emit(change.effective, plan_change_record(
                self.account, change.product, change.from_plan, change.to_plan,
                change.effective, change.reason))

    def _within_limits(self, product: str, meter: str, cycle: Cycle,
                       rows: AggregateRows) -> bool:
        """The cycle's total on `meter` is at most the limit of every plan in force during
        the cycle: no event of it can have reached a limit."""
        total = meter_values(rows, self.account, cycle).get(meter, Decimal(0))
        spec = self.book.product(product)
        ordered = sorted((c for c in self.plans.changes if c.product == product),
                         key=lambda c: c.start)
        in_force = [c for i, c in enumerate(ordered) if c.start < cycle.end and
                    (i + 1 == len(ordered) or ordered[i + 1].start > cycle.start)]
        limits = [plan_limit(spec.plan(c.plan), meter) for c in in_force]
        return all(limit is not None and total <= limit for limit in limits)

    def _may_decide(self, product: str, meter: str | None, cycle: Cycle,
                    rows: AggregateRows) -> bool:
        """Whether a live decision can lie in the cycle: an auto-downgrade setting, a
        scheduled send, or a total above the smallest limit of a plan in force (sums never
        shrink: otherwise every event of the cycle was allowed)."""
        if any(c.product == product and c.policy == "flex" and c.auto_downgrade and
               c.start < cycle.end for c in self.plans.changes):
            return True
        if meter is None:
            return False
        scheduled = any(e.type == "send.scheduled" and cycle.contains(e.time) and
                        e.data.get("product") == product for e in self.events)
        return scheduled or not self._within_limits(product, meter, cycle, rows)

    def _decisions(self, source: RatingSource, cycle: Cycle, products: list[str],
                   rows: AggregateRows) -> list[LimitDecision]:
        """The core's decisions of the cycle (replayed from the log), priced."""
        decisions: list[LimitDecision] = []
        for product in products:
            spec = self.book.product(product)
            meter = spec.send_limit_meter
            if (meter is None and spec.auto_downgrade_meter is None) or \
                    not self._may_decide(product, meter, cycle, rows):
                continue
            mine = self.live.of_cycle(source.account_log(self.account), cycle, product,
                                      meter)
            for d in mine:
                if d.action == "downgrade":
                    continue  # a plan consequence of the close (rate_cycle reports it)
                self.emit(d.at or cycle.start, decision_record(self.account, d))
                invoice = decision_invoice(self.book, self.account, d, cycle)
                if invoice is not None:
                    self.emit_invoice(d.at or cycle.start, invoice)
                if d.action == "upgrade" and d.target_plan is not None and d.at is not None:
                    self.plans.switch(product, d.at, plan=d.target_plan)
                    self.emit(d.at, plan_change_record(
                        self.account, product, d.plan, d.target_plan, d.at,
                        "auto_upgrade"))
            decisions += mine
        return decisions


def rate_account(book: PriceBook, source: RatingSource, account: str, until: datetime
                 ) -> tuple[list[Record], list[str]]:
    """One account's records (invoices, plan changes, limit decisions) up to `until`, in
    issue order, and the problems that kept some of it from being rated."""
    rater = AccountRater(book, account, source.control_events(account), until)
    return rater.run(source), rater.problems


def rate_log(book: PriceBook, aggregator: MemoryAggregator, until: datetime
             ) -> tuple[list[Record], list[str]]:
    """All records up to `until`, account after account (sorted), and problems."""
    records: list[Record] = []
    problems: list[str] = []
    source = MemorySource(aggregator)
    for account in source.accounts():
        mine, trouble = rate_account(book, source, account, until)
        records += mine
        problems += trouble
    return records, problems
