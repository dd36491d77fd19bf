"""The live limits again, over an account's accepted log: the decisions billing prices.

Billing never decides a limit a second way. The close of cycle, re-rating and
`metering rate` replay the accepted events of an account (the usage log, in input-offset
order, which is the order the stream decided them in) through the same step the stream
takes for every accepted record (`core.process.live_step`), and price the decisions it
returns: flex purchases, upgrades (by usage, by a scheduled send, by a policy changed
while blocked) and blocks.

`injected` plan changes are the close of cycle's own (an auto-upgrade for contacts, an
auto-downgrade): the pipeline feeds them back into the log as account events, which the
stream applies when they arrive; offline they are not in the log, so the replay applies
each before the first event at or after its effective time. Applied twice (the pipeline's
log has them too) they change nothing: the plan is already the target.

The clock is replayed too: the worker looks at it every `METERING_TICK_S` and, from 24
hours before a cycle's end, schedules the auto-downgrade (`core.limits.tick`); the replay
looks at exactly 24 hours before each cycle's end, before the first event at or after that
moment and up to `until`. (Live, the look comes up to one tick later: an active-profile
change inside that window can make the live notice and the bill differ; the bill follows
the replay.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ValidationError

from core.accounts import AccountState
from core.limits import DOWNGRADE_NOTICE, LimitsContext, tick
from core.process import account_step, live_step
from schemas.events import ACCOUNT_TYPES, EVENT_DATA, AccountPlanChangeRequested
from schemas.records import Decision, MeteredEvent


@dataclass(frozen=True)
class InjectedChange:
    product: str
    plan: str
    at: datetime


def _data(event: MeteredEvent) -> BaseModel | None:
    model = EVENT_DATA.get(event.type)
    if model is None:
        return None
    try:
        return model.model_validate(event.data)
    except ValidationError:
        return None


def replay_decisions(events: Iterable[MeteredEvent], limits: LimitsContext,
                     injected: Sequence[InjectedChange] = (),
                     until: datetime | None = None) -> list[Decision]:
    """Every decision the live limits take over `events` (one account's accepted log),
    with the clock's look at each cycle 24 hours before its end (`tick`) up to `until`."""
    ordered = sorted(events, key=lambda e: (e.partition, e.offset))
    pending = sorted(injected, key=lambda c: c.at)
    state: AccountState | None = None
    account = ordered[0].account if ordered else ""
    clock = _Clock(account, limits)
    out: list[Decision] = []
    for event in ordered:
        if state is not None:
            state = clock.up_to(state, event.time, out)
        while pending and state is not None and pending[0].at <= event.time:
            change = pending.pop(0)
            state = _inject(state, change, limits, event)
        data = _data(event)
        if data is None:
            continue
        before = state
        if event.type in ACCOUNT_TYPES:
            before, after, rolled, _ = account_step(state, data, event.account,  # type: ignore[arg-type]
                                                 event.time, event.offset, limits)
            if rolled is not None:
                out += rolled.decisions
            if after is None:
                continue
            state = after
        if state is None:
            continue
        try:
            live = live_step(before, state, state is not before, event, data, limits)
        except Exception:  # as live: the usage stands, the limits catch up
            continue
        if live.changed:
            state = live.state
        out += live.decisions
    if state is not None and until is not None:
        clock.up_to(state, until, out)
    return out


class _Clock:
    """The worker's clock, replayed: a look at each live cycle 24 hours before its end
    (the moment from which the auto-downgrade is scheduled), in order, up to a time."""

    def __init__(self, account: str, limits: LimitsContext) -> None:
        self.account, self.limits = account, limits
        self.looked: set[datetime] = set()

    def up_to(self, state: AccountState, t: datetime, out: list[Decision]) -> AccountState:
        if state.live is None:
            return state
        cycle = state.cycle_for(state.live.start)
        while cycle.end - DOWNGRADE_NOTICE <= t:
            if cycle.start not in self.looked:
                self.looked.add(cycle.start)
                result = tick(state, self.account, self.limits, cycle.end - DOWNGRADE_NOTICE)
                if result.changed:
                    state = result.state
                out += result.decisions
            cycle = state.cycle_for(cycle.end)
        return state


def _inject(state: AccountState, change: InjectedChange, limits: LimitsContext,
            at_event: MeteredEvent) -> AccountState:
    current = state.products.get(change.product)
    if current is None or current.plan == change.plan:
        return state
    data = AccountPlanChangeRequested.model_validate(
        {"product": change.product, "plan": change.plan, "effective": "now"})
    # no offset of its own: applied as of the state's last one (the next event still counts)
    after = state.model_copy(update={"products": {
        **state.products, change.product: current.model_copy(
            update={"plan": change.plan, "since": change.at, "next_plan": None})}})
    carrier = at_event.model_copy(update={"time": change.at, "meters": [],
                                          "offset": state.last_offset})
    live = live_step(state, after, True, carrier, data, limits)
    return live.state if live.changed else after
