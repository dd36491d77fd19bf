"""Live limits: alerts and limit-policy decisions, taken per record in the stream. Pure.

The live state of an account's current cycle (`AccountState.live`, `levels`) moves with
every accepted usage event of an account that has a product in a price book:
- every plain limit of the plan in force (and storage allowances, from the seats level)
  is watched: each threshold of the meter (`pricing.alerts`) fires once per (account,
  cycle, product, meter, threshold), lowest first when one event crosses several; a sum
  meter also gets one forecast alert when the cycle-to-date rate runs out before the end;
- the product's send-limit meter going above the effective limit asks
  `pricing.limits.decide_at_limit` under the account's policy: block (until an upgrade, a
  flex purchase or the next cycle), upgrade at once, or buy the next tier's capacity;
- a free plan over its profile limit is blocked until it is back under it;
- the clock (`tick`) schedules auto-downgrades 24 hours before the cycle ends.
Decisions are taken in arrival order and use event time; a usage event of an earlier
cycle (late, within the lateness) moves gauge levels only: it reaches the bill through
the close of that cycle.
Only the meters the limits read are kept (`LimitsContext.tracked`), so that a usage event
of a meter no limit reads (bandwidth of an email-only account, carts) leaves the state as
it was and costs no state write: the sum meters limited by any plan of the account's
products (all plans, so a plan change keeps its cycle to date), and every gauge any limit
of any known price book reads (a level is cumulative: it could not be rebuilt when a
product that limits it is added later). A product added during a cycle counts its sum
meters from its subscription on.
Ids of alerts and decisions are deterministic, so a replay after a crash emits copies with
the same id, never a new alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any, cast

from core.accounts import AccountState, LiveCycle, ProductPlan, replaced
from pricing.alerts import (
    Levels,
    Threshold,
    crossed,
    exhaustion_time,
    levels_of,
    projected_overage_cost,
    projected_quantity,
    thresholds_for,
)
from pricing.cycles import Cycle
from pricing.limits import LimitDecision, decide_at_limit
from pricing.plan_changes import limit_meter_for, lowest_covering
from pricing.pricebook import Allowance, LimitPolicy, Plan, PriceBook, Product
from pricing.pricebook_loader import reference_books
from schemas.meters import gauge_source as _gauge_source
from schemas.records import Alert, Decision, DecisionKind, MeteredEvent

ZERO = Decimal(0)
NAMESPACE = uuid.UUID("6f1c1a36-8d0e-4d55-9f55-4c1f3a2b7e10")
DOWNGRADE_NOTICE = timedelta(hours=24)
FORECAST_MIN_FRACTION = Decimal("0.05")
"""No forecast before 5% of the cycle has passed (about a day and a half of a month)."""
LIMIT_REASONS = frozenset({"limit_reached", "top_of_ladder", "flex_not_eligible"})
SEATS = "seats.full_time"
LEVELS_CACHED = 10_000
gauge_source = lru_cache(maxsize=4096)(_gauge_source)
"""`schemas.meters.gauge_source`, cached: it is asked several times per meter and event."""


Watched = tuple[str, ProductPlan, PriceBook, Product, Plan]
"""(product id, the account's plan of it, price book, product, plan in force)."""


@dataclass(frozen=True)
class LimitsContext:
    books: Mapping[str, PriceBook]
    default_book: str

    _tracked: dict[tuple[tuple[str, str], ...], frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    """Cache: (product, price book) of the watched products -> the meters kept."""
    _thresholds: dict[tuple[int, str], list[Threshold]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _levels: dict[tuple[int, str, Decimal | None], Levels] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def book_for(self, plan: ProductPlan) -> PriceBook | None:
        """The account's price book (whether it has the product and plan: watched_products)."""
        return self.books.get(plan.pricebook or self.default_book)

    def thresholds(self, book: PriceBook, meter: str) -> list[Threshold]:
        """`pricing.alerts.thresholds_for`, once per (price book, meter)."""
        key = (id(book), meter)
        found = self._thresholds.get(key)
        if found is None or self.books.get(book.name) is not book:
            found = self._thresholds[key] = thresholds_for(book, meter)
        return found

    def levels(self, book: PriceBook, meter: str, limit: Decimal | None) -> Levels:
        """The thresholds' levels under `limit` (`pricing.alerts.levels_of`), once per
        (price book, meter, limit); at most LEVELS_CACHED kept (limits vary with seats)."""
        key = (id(book), meter, limit)
        found = self._levels.get(key)
        if found is None or self.books.get(book.name) is not book:
            if len(self._levels) >= LEVELS_CACHED:
                self._levels.clear()
            found = self._levels[key] = levels_of(self.thresholds(book, meter), limit)
        return found

    @cached_property
    def gauges(self) -> frozenset[str]:
        """Stream gauges that some limit of some known price book reads (levels now)."""
        out: set[str] = set()
        for book in self.books.values():
            for product in book.products:
                for meter in _product_meters(product):
                    source = gauge_source(meter)
                    if source is not None:
                        out.add(source[0])
        return frozenset(out)

    def tracked(self, watched: list[Watched]) -> frozenset[str]:
        """The stream meters the live limits keep for an account watching `watched`."""
        key = tuple((pid, book.name) for pid, _, book, _, _ in watched)
        found = self._tracked.get(key)
        if found is None:
            sums = {m for _, _, _, product, _ in watched for m in _product_meters(product)
                    if gauge_source(m) is None}
            found = self._tracked[key] = frozenset(sums) | self.gauges
        return found


def limits_context(rate_book: PriceBook) -> LimitsContext:
    """Every reference price book by name; `rate_book` for accounts that name none."""
    return LimitsContext(reference_books(rate_book), rate_book.name)


def _product_meters(product: Product) -> set[str]:
    """Pricing meters the live limits of `product` read, under any of its plans."""
    meters = {m for plan in product.plans for m in plan.limits}
    extra = (product.send_limit_meter, product.upgrade_next_cycle_meter,
             product.auto_downgrade_meter, product.seats_meter or SEATS)
    return meters | {m for m in extra if m}


@lru_cache(maxsize=4096)
def _cycle(start: datetime, end: datetime) -> Cycle:
    return Cycle(start, end)


def _gauge(meter: str) -> str:
    """The stream gauge a pricing meter reads (itself when it is a stream name)."""
    source = gauge_source(meter)
    return meter if source is None else source[0]


@dataclass
class LimitsOutcome:
    state: AccountState
    alerts: list[Alert] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    changed: bool = False


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


alert_id = _id
"""The id of an alert: (account, cycle or window start, product, meter, threshold)."""


def watched_products(state: AccountState, ctx: LimitsContext) -> list[Watched]:
    out: list[Watched] = []
    for pid, pp in state.products.items():
        if pp.cancelled_at is not None:
            continue
        book = ctx.book_for(pp)
        if book is None:
            continue
        try:
            product = book.product(pid)
            out.append((pid, pp, book, product, product.plan(pp.plan)))
        except KeyError:
            continue
    return out


class LiveRun:
    """One application of a record (or a tick) to an account's state."""

    def __init__(self, state: AccountState, account: str, ctx: LimitsContext,
                 at: datetime, offset: int) -> None:
        self.state, self.account, self.ctx, self.at, self.offset = state, account, ctx, at, offset
        self.out = LimitsOutcome(state)

    def finish(self) -> LimitsOutcome:
        changed = self.state is not self.out.state
        state = self.state
        if changed and self.offset > state.last_offset:
            state = replaced(state, {"last_offset": self.offset})
        return LimitsOutcome(state, self.out.alerts, self.out.decisions, changed)

    # -- state helpers ---------------------------------------------------------------------
    @property
    def live(self) -> LiveCycle:
        assert self.state.live is not None
        return self.state.live

    def set_live(self, **update: Any) -> None:
        self.state = replaced(self.state, {"live": replaced(self.live, update)})

    def set_plan(self, pid: str, **update: Any) -> None:
        products = dict(self.state.products)
        products[pid] = replaced(products[pid], update)
        self.state = replaced(self.state, {"products": products})

    def value(self, meter: str) -> Decimal:
        source = gauge_source(meter)
        if source is None:
            return self.live.sums.get(meter, ZERO)
        gauge, which = source
        level = self.state.levels.get(gauge, ZERO)
        return self.live.peaks.get(gauge, level) if which == "peak" else level

    def limit(self, product: Product, plan: Plan, meter: str) -> Decimal | None:
        raw = plan.limits.get(meter)
        if isinstance(raw, Allowance):
            seats = self.state.levels.get(_gauge(product.seats_meter or SEATS), ZERO)
            return raw.base + raw.per_seat * max(seats, ZERO)
        if raw is not None and meter == product.send_limit_meter and \
                product.id in self.live.flexed:
            flexed = product.plan(self.live.flexed[product.id]).limits.get(meter)
            if isinstance(flexed, Decimal):
                return max(raw, flexed)
        return raw

    def decide(self, kind: DecisionKind, pid: str, meter: str, reason: str, plan: str,
               limit: Decimal, book: PriceBook, *, d: LimitDecision | None = None,
               target: str | None = None, effective: datetime | None = None,
               discriminator: object = None) -> None:
        live = self.live
        self.out.decisions.append(Decision(
            id=_id(self.account, kind, pid, live.start.isoformat(),
                   self.offset if discriminator is None else discriminator),
            account=self.account, product=pid, meter=meter, kind=kind, reason=reason,
            plan=plan, target_plan=target if d is None else d.target_plan, limit=limit,
            capacity=d.capacity if d else ZERO, unit_price=d.unit_price if d else ZERO,
            cost=d.cost if d else ZERO, currency=book.currency,
            pricebook=f"{book.name}@{book.version}", at=self.at, effective=effective,
            cycle_start=live.start, cycle_end=live.end, offset=self.offset))

    # -- the cycle -----------------------------------------------------------------------
    def roll(self, cycle: Cycle) -> None:
        """Make `cycle` the live one: pending plan changes apply, blocks and flex end."""
        old = self.state.live
        if old is not None and old.start >= cycle.start:
            return
        if old is not None:
            for pid, pp in self.state.products.items():
                target = old.downgrades.get(pid) or pp.next_plan
                if target:
                    self.set_plan(pid, plan=target, since=old.end, next_plan=None)
        self.state = self.state.model_copy(update={"live": LiveCycle(
            start=cycle.start, end=cycle.end, peaks=dict(self.state.levels),
            opening=dict(self.state.levels))})
        if old is None:
            return
        for pid, _, book, product, plan in watched_products(self.state, self.ctx):
            if pid in old.blocked:
                meter = product.send_limit_meter or ""
                self.decide("sending.unblocked", pid, meter, "next_cycle", plan.id,
                            self.limit(product, plan, meter) or ZERO, book,
                            discriminator="next_cycle")

    # -- usage ---------------------------------------------------------------------------
    def usage(self, event: MeteredEvent, watched: list[Watched] | None = None) -> None:
        """Apply one accepted usage event; `watched`: the watched products of the state
        the run started from (recomputed when the cycle roll changed the plans)."""
        cycle = Cycle(event.cycle_start, event.cycle_end)
        products = self.state.products
        self.roll(cycle)
        late = cycle.start < self.live.start
        if watched is None or self.state.products is not products:
            watched = watched_products(self.state, self.ctx)
        tracked = self.ctx.tracked(watched)
        moves = [mv for mv in event.meters if mv.meter in tracked]
        if not moves:
            if not late:
                self.recheck(watched)
            return
        before = {(pid, m): self.value(m) for pid, _, _, _, plan in watched for m in plan.limits}
        live = self.live
        levels = dict(self.state.levels)
        sums, peaks, after = dict(live.sums), dict(live.peaks), live.after_start
        opening, daily, ends = live.opening, dict(live.daily), live.daily_end
        at_start = event.time <= live.start
        day = event.time.date().isoformat()
        for mv in moves:
            if mv.kind in ("sum", "distinct"):
                sums[mv.meter] = sums.get(mv.meter, ZERO) + mv.quantity
                days = daily[mv.meter] = dict(daily.get(mv.meter, ()))
                days[day] = days.get(day, ZERO) + mv.quantity
                continue
            level = levels.get(mv.meter, ZERO)
            level = level + mv.quantity if mv.kind == "delta" else mv.quantity
            levels[mv.meter] = level
            if at_start:  # half-open cycle: a change at its first instant sets the opening
                peaks[mv.meter] = max(level, after.get(mv.meter, level))
                opening = {**opening, mv.meter: level}
                continue
            peaks[mv.meter] = max(peaks.get(mv.meter, level), level)
            if after is live.after_start:
                after = dict(after)
            after[mv.meter] = max(after.get(mv.meter, level), level)
            days = daily[mv.meter] = dict(daily.get(mv.meter, ()))
            days[day] = max(days.get(day, level), level)
            ends = {**ends, mv.meter: {**ends.get(mv.meter, {}), day: level}}
        if late:
            self.state = replaced(self.state, {"levels": levels})
            return
        self.state = replaced(self.state, {
            "levels": levels, "live": replaced(live, {
                "sums": sums, "peaks": peaks, "after_start": after, "opening": opening,
                "daily": daily, "daily_end": ends}),
            "last_offset": max(self.offset, self.state.last_offset)})
        for pid, pp, book, product, plan in watched:
            self.alerts(pid, book, product, plan, before)
            self.send_limit(pid, pp, book, product, plan, before)
            self.profile_limit(pid, book, product, plan)

    def recheck(self, watched: list[Watched]) -> None:
        """An event that moved no tracked meter: no alert can fire (no value rose), but a
        state that already calls for a decision (e.g. a plan changed now to one under the
        usage) takes it, as on any usage event."""
        for pid, pp, book, product, plan in watched:
            meter = product.send_limit_meter
            now = {} if meter is None else {(pid, meter): self.value(meter)}
            self.send_limit(pid, pp, book, product, plan, now)
            self.profile_limit(pid, book, product, plan)

    def alerts(self, pid: str, book: PriceBook, product: Product, plan: Plan,
               before: Mapping[tuple[str, str], Decimal]) -> None:
        live, fired = self.live, list(self.live.fired)
        cycle = _cycle(live.start, live.end)
        for meter in plan.limits:
            b, a = before.get((pid, meter), ZERO), self.value(meter)
            if a <= b:
                continue
            limit = self.limit(product, plan, meter)
            is_sum = gauge_source(meter) is None

            def alert(kind: str, key: str, level: Decimal, exhausts: datetime | None = None,
                      meter: str = meter, limit: Decimal | None = limit,
                      is_sum: bool = is_sum, a: Decimal = a) -> None:
                projected = projected_quantity(a, cycle, self.at) if is_sum else a
                fired.append(f"{pid}|{meter}|{key}")
                self.out.alerts.append(Alert(
                    id=_id(self.account, live.start.isoformat(), pid, meter, key),
                    account=self.account, product=pid, plan=plan.id, meter=meter,
                    kind=cast(Any, kind), threshold=key, level=level, value=a, limit=limit,
                    crossed_at=self.at, cycle_start=live.start, cycle_end=live.end,
                    projected=projected,
                    projected_overage_cost=projected_overage_cost(plan, meter, limit,
                                                                  projected),
                    currency=book.currency, exhausts_at=exhausts, offset=self.offset))

            for c in crossed(self.ctx.levels(book, meter, limit), b, a):
                if f"{pid}|{meter}|{c.threshold.key}" not in fired:
                    alert("threshold", c.threshold.key, c.level)
            if is_sum and f"{pid}|{meter}|forecast" not in fired:
                when = exhaustion_time(a, limit, cycle, self.at, FORECAST_MIN_FRACTION)
                if when is not None and limit is not None:
                    alert("forecast", "forecast", limit, when)
        if len(fired) != len(live.fired):
            self.set_live(fired=fired)

    def send_limit(self, pid: str, pp: ProductPlan, book: PriceBook, product: Product,
                   plan: Plan, before: Mapping[tuple[str, str], Decimal],
                   extra: Decimal = ZERO, reason: str | None = None) -> None:
        meter = product.send_limit_meter
        if meter is None or pid in self.live.blocked:
            return
        limit = self.limit(product, plan, meter)
        used = self.value(meter) + extra
        if limit is None or used <= limit:
            return
        d = decide_at_limit(book, pid, plan.id, cast(LimitPolicy, pp.limit_policy),
                            before.get((pid, meter), ZERO), used, earlier=self.flexed(pid),
                            at=self.at)
        if extra and d.action != "upgrade":
            return  # a scheduled send only acts in advance under auto_upgrade
        self.apply(pid, book, product, plan, meter, d, reason)

    def flexed(self, pid: str) -> list[LimitDecision]:
        target = self.live.flexed.get(pid)
        if target is None:
            return []
        return [LimitDecision(pid, "", "flex", "", target, ZERO)]

    def apply(self, pid: str, book: PriceBook, product: Product, plan: Plan, meter: str,
              d: LimitDecision, reason: str | None = None) -> None:
        if d.action == "block":
            self.set_live(blocked={**self.live.blocked, pid: d.reason})
            self.decide("sending.blocked", pid, meter, d.reason, plan.id, d.limit, book, d=d)
        elif d.action == "flex" and d.target_plan:
            self.set_live(flexed={**self.live.flexed, pid: d.target_plan})
            self.decide("flex.purchased", pid, meter, reason or d.reason, plan.id, d.limit,
                        book, d=d)
        elif d.action == "upgrade" and d.target_plan:
            self.set_plan(pid, plan=d.target_plan, since=self.at)
            self.decide("plan.upgraded", pid, meter, reason or d.reason, plan.id, d.limit,
                        book, d=d)
            self.upgraded(pid, book, product, d.target_plan)

    def upgraded(self, pid: str, book: PriceBook, product: Product, new_plan: str) -> None:
        live = self.live
        self.set_live(upgraded=sorted({*live.upgraded, pid}))
        pending = live.downgrades.get(pid)
        if pending:
            self.set_live(downgrades={**self.live.downgrades, pid: ""})
            self.decide("downgrade.cancelled", pid, product.auto_downgrade_meter or "",
                        "upgraded", new_plan, ZERO, book, target=pending)
        reason = live.blocked.get(pid)
        if reason in LIMIT_REASONS and product.send_limit_meter:
            meter = product.send_limit_meter
            limit = self.limit(product, product.plan(new_plan), meter)
            if limit is not None and self.value(meter) <= limit:
                self.unblock(pid, book, meter, new_plan, limit, "upgrade")

    def unblock(self, pid: str, book: PriceBook, meter: str, plan: str, limit: Decimal,
                reason: str) -> None:
        self.set_live(blocked={k: v for k, v in self.live.blocked.items() if k != pid})
        self.decide("sending.unblocked", pid, meter, reason, plan, limit, book)

    def profile_limit(self, pid: str, book: PriceBook, product: Product, plan: Plan) -> None:
        meter = product.upgrade_next_cycle_meter
        if meter is None or not plan.free:
            return
        limit = self.limit(product, plan, meter)
        if limit is None:
            return
        reason = "free_plan_over_profile_limit"
        blocked = self.live.blocked.get(pid)
        if blocked is None and self.value_now(meter) > limit:
            self.set_live(blocked={**self.live.blocked, pid: reason})
            self.decide("sending.blocked", pid, meter, reason, plan.id, limit, book)
        elif blocked == reason and self.value_now(meter) <= limit:
            self.unblock(pid, book, meter, plan.id, limit, "under_profile_limit")

    def value_now(self, meter: str) -> Decimal:
        """A gauge's level now (a peak meter's current level, not its cycle peak)."""
        source = gauge_source(meter)
        return self.value(meter) if source is None else self.state.levels.get(source[0], ZERO)


# -- entry points ------------------------------------------------------------------------

def watches(state: AccountState | None, ctx: LimitsContext) -> bool:
    return state is not None and bool(watched_products(state, ctx))


def apply_usage(state: AccountState, event: MeteredEvent, ctx: LimitsContext,
                offset: int) -> LimitsOutcome:
    """The live limits after one accepted usage event (a replayed offset changes nothing)."""
    if offset <= state.last_offset:
        return LimitsOutcome(state)
    watched = watched_products(state, ctx)
    if not watched:
        return LimitsOutcome(state)
    run = LiveRun(state, event.account, ctx, event.time, offset)
    run.usage(event, watched)
    return run.finish()


def roll_to(state: AccountState, account: str, ctx: LimitsContext,
            at: datetime) -> LimitsOutcome:
    """The live cycle rolled over to the one holding `at` (pending plan changes applied,
    blocks and flex ended), before an account event of that cycle is applied: a plan
    change requested in the new cycle must not replace the one pending from the old."""
    if not watches(state, ctx) or (state.live is not None and
                                   state.cycle_for(at).start <= state.live.start):
        return LimitsOutcome(state)  # (no live cycle yet: this event's cycle becomes it)
    run = LiveRun(state, account, ctx, at, state.last_offset)
    run.roll(state.cycle_for(at))
    return run.finish()


def account_changed(before: AccountState | None, after: AccountState, account: str,
                    ctx: LimitsContext, at: datetime, offset: int) -> LimitsOutcome:
    """Consequences of an applied account event: an upgrade (or a plan change effective
    now) cancels a pending auto-downgrade and lifts a limit block it resolves; a policy
    changed to flex or auto_upgrade while blocked acts at once."""
    if before is None or after.live is None or not watches(after, ctx):
        return LimitsOutcome(after)
    run = LiveRun(after, account, ctx, at, offset)
    run.roll(after.cycle_for(at))
    for pid, pp, book, product, plan in watched_products(run.state, ctx):
        old = before.products.get(pid)
        if old is None:
            continue
        if old.plan != pp.plan and product.rank(pp.plan) > product.rank(old.plan):
            run.upgraded(pid, book, product, pp.plan)
        elif old.limit_policy != pp.limit_policy and run.live.blocked.get(pid) in LIMIT_REASONS:
            meter = product.send_limit_meter or ""
            used = run.value(meter)
            d = decide_at_limit(book, pid, plan.id, cast(LimitPolicy, pp.limit_policy), used,
                                used, earlier=run.flexed(pid), at=at)
            if d.action in ("flex", "upgrade"):
                run.apply(pid, book, product, plan, meter, d, "policy_changed")
                if d.action == "flex":
                    run.unblock(pid, book, meter, plan.id, d.limit, "flex")
    return run.finish()


def scheduled_send(state: AccountState, account: str, product: str, count: int,
                   ctx: LimitsContext, at: datetime, offset: int) -> LimitsOutcome:
    """A send planned in this cycle that would cross the limit upgrades now (auto_upgrade)."""
    if offset <= state.last_offset or not watches(state, ctx):
        return LimitsOutcome(state)
    run = LiveRun(state, account, ctx, at, offset)
    run.roll(state.cycle_for(at))
    for pid, pp, book, spec, plan in watched_products(run.state, ctx):
        if pid == product and spec.send_limit_meter:
            run.send_limit(pid, pp, book, spec, plan, {}, Decimal(count), "scheduled_send")
    out = run.finish()
    if not out.changed:  # stored anyway: whoever scheduled it can see it was processed
        out = LimitsOutcome(state.model_copy(update={"last_offset": offset}), changed=True)
    return out


def tick(state: AccountState, account: str, ctx: LimitsContext, now: datetime) -> LimitsOutcome:
    """Time passing: roll into the cycle of `now`; from 24 hours before its end, schedule
    the auto-downgrade of flex + auto_downgrade products to the lowest paid plan covering
    the active profiles (once per cycle; not after an upgrade in the cycle)."""
    if not watches(state, ctx):
        return LimitsOutcome(state)
    run = LiveRun(state, account, ctx, now, state.last_offset)
    run.roll(state.cycle_for(now))
    live = run.live
    if now < live.end - DOWNGRADE_NOTICE:
        return run.finish()
    for pid, pp, book, product, plan in watched_products(run.state, ctx):
        meter = product.auto_downgrade_meter
        if meter is None or pp.limit_policy != "flex" or not pp.auto_downgrade or \
                pid in run.live.downgrades:
            continue
        target = None
        if pid not in run.live.upgraded:
            value = run.value_now(meter)
            target = lowest_covering(product, limit_meter_for(product, meter), value,
                                     paid_only=True)
        if target is not None and product.rank(target.id) < product.rank(plan.id):
            run.set_live(downgrades={**run.live.downgrades, pid: target.id})
            run.decide("downgrade.scheduled", pid, meter, "auto_downgrade", plan.id,
                       ZERO, book, target=target.id, effective=live.end,
                       discriminator="auto_downgrade")
        else:
            run.set_live(downgrades={**run.live.downgrades, pid: ""})
    return run.finish()
