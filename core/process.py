"""The whole per-record decision, as one pure function over (record, account state).

`process_record` returns what to emit and the account state to store; it reads no clock
and does no I/O. `Deduplicator` is a bounded, per-process first filter of accepted ids; the
exact, permanent deduplication by (source, id) is the usage log's (ReplacingMergeTree,
FINAL). `core.batch.Core` runs it over a batch of records (every role's entry point).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from core.accounts import AccountData, AccountState, apply_account_event, apply_seats
from core.derive import DeriveRules, derive
from core.limits import (
    LimitsContext,
    LimitsOutcome,
    account_changed,
    apply_usage,
    roll_to,
    scheduled_send,
)
from core.seasonal import seasonal_alerts
from core.validate import RecordMeta, decode, reject
from pricing.sms_rates import UnknownCountry
from schemas.envelope import Envelope
from schemas.events import ACCOUNT_TYPES, SeatsChanged, SendScheduled
from schemas.records import (
    Alert,
    Decision,
    MeteredEvent,
    RejectedEvent,
    RejectReason,
    trusted_metered,
)


@dataclass(frozen=True)
class Policy:
    allowed_lateness: timedelta = timedelta(hours=24)
    """An event is accepted until its cycle's end plus this, measured on record timestamps."""
    max_future: timedelta = timedelta(minutes=5)
    """An event whose time is ahead of its record timestamp by more than this is rejected."""


@dataclass(frozen=True, slots=True)
class Outcome:
    metered: MeteredEvent | None = None
    rejected: RejectedEvent | None = None
    state: AccountState | None = None
    """The account's new state, when `state_changed`."""
    state_changed: bool = False
    state_account: str = ""
    duplicate: bool = False
    alerts: tuple[Alert, ...] = ()
    decisions: tuple[Decision, ...] = ()
    limits_error: str | None = None
    """The live limits failed on this (accepted, metered) record: logged and counted."""


class Deduplicator:
    """Remembers the offset at which each accepted (source, id) was first seen, for a
    bounded window.

    Only accepted events are remembered (`remember`, after every acceptance check): a
    rejected event may be sent again, once its cause is fixed, and is judged again. A
    record seen again at the *same* offset is a replay of the same delivery (after a
    rebalance or restart) and is processed again; at another offset it is a duplicate.
    """

    def __init__(self, capacity: int = 500_000) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._capacity = capacity

    @staticmethod
    def _key(account: str, source: str, event_id: str) -> str:
        """One string per id (a third of the memory of a tuple of three), unambiguous:
        the first two parts carry their lengths."""
        return f"{len(account)}:{account}{len(source)}:{source}{event_id}"

    key = _key

    def seen(self, account: str, source: str, event_id: str, offset: int) -> bool:
        """Whether an accepted copy of this event came at another offset."""
        return self.seen_key(self._key(account, source, event_id), offset)

    def seen_key(self, key: str, offset: int) -> bool:
        """`seen`, by the event's `key`."""
        first = self._seen.get(key)
        return first is not None and first != offset

    def remember(self, account: str, source: str, event_id: str, offset: int) -> None:
        self.remember_key(self._key(account, source, event_id), offset)

    def remember_key(self, key: str, offset: int) -> None:
        """`remember`, by the event's `key`."""
        if key in self._seen:
            return
        self._seen[key] = offset
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)

    def is_duplicate(self, account: str, source: str, event_id: str, offset: int) -> bool:
        """`seen`, then `remember` (the warm-up reads accepted events only)."""
        if self.seen(account, source, event_id, offset):
            return True
        self.remember(account, source, event_id, offset)
        return False

    def __len__(self) -> int:
        return len(self._seen)


def process_record(raw: bytes, meta: RecordMeta, key: bytes | None,
                   states: Callable[[str], AccountState | None],
                   rules: DeriveRules, policy: Policy,
                   dedup: Deduplicator | None = None,
                   limits: LimitsContext | None = None) -> Outcome:
    """Decide one record. `states` looks up the stored state of an account id; with
    `limits`, accepted records also move the live limits (alerts and decisions).

    A rejected record changes nothing: no account state, no dedup memory, no limit. A
    failure inside the live limits never costs the usage: the event is metered, the state
    is the one without the limits' step, and `limits_error` says what failed."""
    decoded = decode(raw, meta)
    if isinstance(decoded, RejectedEvent):
        return Outcome(rejected=decoded)
    event, data = decoded.event, decoded.data

    def rejected(reason: RejectReason, detail: str) -> Outcome:
        return Outcome(rejected=reject(meta, reason, detail, raw, event))

    if key != event.subject.encode():  # a missing key too: ordering needs the account key
        return rejected(RejectReason.KEY_MISMATCH,
                        "the record key must be the account id (subject)")
    dedup_key = "" if dedup is None else dedup.key(event.subject, event.source, event.id)
    if dedup is not None and dedup.seen_key(dedup_key, meta.offset):
        return Outcome(duplicate=True)
    received = event.time if meta.exported else meta.timestamp
    if _ahead(event.time, received, policy.max_future):
        return rejected(RejectReason.FUTURE_TIMESTAMP,
                        f"time {event.time.isoformat()} is ahead of receipt "
                        f"{received.isoformat()}")
    state = before = states(event.subject)
    changed: AccountState | None = None
    rolled: LimitsOutcome | None = None
    roll_error: str | None = None
    if event.type in ACCOUNT_TYPES:
        before, after, rolled, roll_error = account_step(
            state, data, event.subject, event.time, meta.offset, limits)  # type: ignore[arg-type]
        if after is not state:
            changed = state = after
    if state is None or meta.offset < state.subscribed_offset:
        return rejected(RejectReason.UNKNOWN_ACCOUNT,
                        f"no subscription for account {event.subject[:128]!r}")
    outcome = _accept(raw, meta, received, event, data, state, rules, policy)
    metered = outcome.metered
    if metered is None:  # rejected: the account state stays as it was
        return outcome
    seated: AccountState | None = None
    seasonal: list[Alert] = []
    if isinstance(data, SeatsChanged) and _seat_contract(state, rules):
        seat = apply_seats(state, data, event.time, meta.offset)
        if isinstance(seat, str):
            return rejected(RejectReason.SEAT_REDUCTION_BEFORE_RENEWAL, seat)
        if seat is not state:
            seated = state = seat
        if data.effective == "renewal" and state.seats_pending == data.full_time:
            # a reduction for the renewal: the seats level stays until it applies
            metered = metered.model_copy(update={"meters": []})
            outcome = Outcome(metered=metered)
        if limits is not None and data.seasonal:
            seasonal, after = seasonal_alerts(state, data, event.subject, event.time,
                                              meta.offset, limits)
            if after is not state:
                seated = state = after
    if dedup is not None:
        dedup.remember_key(dedup_key, meta.offset)
    error: str | None = roll_error
    live: LimitsOutcome | None = None
    if limits is not None:
        try:
            live = live_step(before, state, changed is not None, metered, data, limits)
        except Exception as exc:  # the usage stands; the limits catch up on the next event
            error, live = f"{type(exc).__name__}: {exc}"[:500], None
        if live is not None and live.changed:
            changed = live.state
    if seated is not None and changed is None:
        changed = seated
    if changed is not None:  # an account event: its state is stored whatever else happens
        rolled_decisions = rolled.decisions if rolled is not None else []
        alerts, decisions = (live.alerts, live.decisions) if live is not None else ((), ())
        return Outcome(metered=metered, state=changed, state_changed=True,
                       state_account=event.subject, alerts=(*alerts, *seasonal),
                       decisions=(*rolled_decisions, *decisions), limits_error=error)
    if error is not None:
        return Outcome(metered=metered, limits_error=error)
    return outcome


def account_step(state: AccountState | None, data: AccountData, account: str, at: datetime,
                 offset: int, limits: LimitsContext | None
                 ) -> tuple[AccountState | None, AccountState | None, LimitsOutcome | None,
                            str | None]:
    """An account event applied to the stored state: (the state before it, rolled over to
    the event's cycle first when the live limits run; the state after it; that roll-over's
    outcome; the roll-over's failure, if the limits failed: the event applies without it).
    The stream and the replay (`core.replay`) both take this step."""
    rolled: LimitsOutcome | None = None
    error: str | None = None
    if limits is not None and state is not None:
        try:
            rolled = roll_to(state, account, limits, at)
            state = rolled.state
        except Exception as exc:  # the limits failed: the account event still applies
            error = f"{type(exc).__name__}: {exc}"[:500]
    return state, apply_account_event(state, data, at, offset), rolled, error


def live_step(before: AccountState | None, state: AccountState, account_event: bool,
              metered: MeteredEvent, data: BaseModel, limits: LimitsContext) -> LimitsOutcome:
    """What one accepted record does to the live limits: `before` is the stored state,
    `state` the state after the record's account event (if it is one). The stream and the
    replay of the accepted log (`core.replay`) both take this one step."""
    at, offset = metered.time, metered.offset
    if account_event:
        return account_changed(before, state, metered.account, limits, at, offset)
    if isinstance(data, SendScheduled):
        return scheduled_send(state, metered.account, data.product, data.count, limits, at,
                              offset)
    if metered.meters:
        return apply_usage(state, metered, limits, offset)
    return LimitsOutcome(state)


def _seat_contract(state: AccountState, rules: DeriveRules) -> bool:
    """Whether the account subscribes to a plan priced per seat (a seat contract)."""
    return any(rules.seat_priced(pp.pricebook, pid, pp.plan)
               for pid, pp in state.products.items())


def _ahead(t: datetime, received: datetime, tolerance: timedelta) -> bool:
    try:
        return t > received + tolerance
    except OverflowError:  # a record time near year 9999: nothing is ahead of it
        return False


def _accept(raw: bytes, meta: RecordMeta, received: datetime, event: Envelope,
            data: BaseModel, state: AccountState, rules: DeriveRules, policy: Policy
            ) -> Outcome:
    def rejected(reason: RejectReason, detail: str) -> Outcome:
        return Outcome(rejected=reject(meta, reason, detail, raw, event))

    if event.time < state.subscribed_at:
        return rejected(RejectReason.BEFORE_SUBSCRIPTION,
                        "event time is before the account's subscription")
    cycle = state.cycle_for(event.time)
    closes = cycle.end + policy.allowed_lateness
    if event.type not in ACCOUNT_TYPES and received >= closes:
        return rejected(RejectReason.TOO_LATE,
                        f"cycle {cycle.id} closed for events at {closes.isoformat()}")
    try:
        derived = derive(data, rules)
    except UnknownCountry as exc:
        return rejected(RejectReason.UNKNOWN_COUNTRY, f"no SMS credit rate for {exc.args[0]!r}")
    return Outcome(metered=trusted_metered(
        account=event.subject, source=event.source, id=event.id, type=event.type,
        time=event.time, cycle_start=cycle.start, cycle_end=cycle.end, meters=derived.meters,
        dim=derived.dim, data=derived.stored_data, partition=meta.partition,
        offset=meta.offset, received_at=received,
    ))
