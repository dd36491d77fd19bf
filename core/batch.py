"""The one per-record loop, with a batch entry point. Every role decides records here.

`Core` holds what a decision needs (the account states, derive rules, lateness policy,
the accepted-ids window, the live limits) and decides one record (`decide`) or a batch
of raw records with their Kafka metadata (`decide_batch`) into one `BatchOutcome`:
accepted (metered) events per input partition, rejections, duplicates, the account states
to store, alerts, decisions and the limits failures to log and count. The stream worker
calls it once per fetched batch, `metering rate` once per file chunk, re-rating for the
late events; the state store is the caller's (`StateStore`: a dict, the worker's store).

Pure: no clock, no I/O. A bug in the decision becomes a `processing_error` rejection of
that record (with the exception's text), never an exception out of the loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from core.accounts import AccountState
from core.derive import DeriveRules
from core.limits import LimitsContext
from core.process import Deduplicator, Outcome, Policy, process_record
from core.validate import RecordMeta, reject
from schemas.records import Alert, Decision, MeteredEvent, RejectedEvent, RejectReason

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StateStore(Protocol):
    def get(self, account: str) -> AccountState | None: ...

    def put(self, account: str, state: AccountState) -> None: ...


class DictStore:
    """A `StateStore` in a dict (offline rating, re-rating, tests)."""

    def __init__(self) -> None:
        self.states: dict[str, AccountState] = {}

    def get(self, account: str) -> AccountState | None:
        return self.states.get(account)

    def put(self, account: str, state: AccountState) -> None:
        self.states[account] = state


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as Kafka delivered it (or a line of an exported log)."""

    topic: str
    partition: int
    offset: int
    timestamp: float
    """Record time, seconds since the epoch."""
    key: bytes | None
    value: bytes


@dataclass
class PartitionRange:
    first: int
    last: int
    max_timestamp: float
    metered: list[MeteredEvent] = field(default_factory=list)


@dataclass
class BatchOutcome:
    partitions: dict[int, PartitionRange] = field(default_factory=dict)
    """Input partition -> its offset range in the batch and the events accepted from it."""
    rejected: list[RejectedEvent] = field(default_factory=list)
    duplicates: int = 0
    states: dict[str, AccountState] = field(default_factory=dict)
    """Accounts whose state changed -> their latest state (to store)."""
    alerts: list[Alert] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    limits_errors: list[tuple[RecordMeta, str]] = field(default_factory=list)

    @property
    def metered(self) -> list[MeteredEvent]:
        return [e for r in self.partitions.values() for e in r.metered]


def record_meta(record: RawRecord) -> RecordMeta | RejectedEvent:
    """The record's metadata, or a rejection when its timestamp is not a time."""
    try:
        return RecordMeta(record.topic, record.partition, record.offset,
                          datetime.fromtimestamp(record.timestamp, UTC))
    except (ValueError, OverflowError, OSError) as exc:  # e.g. a timestamp of year -1e8
        meta = RecordMeta(record.topic, record.partition, record.offset, EPOCH)
        return reject(meta, RejectReason.INVALID_RECORD_TIMESTAMP,
                      f"record timestamp {record.timestamp!r}: {exc}", record.value)


class Core:
    def __init__(self, states: StateStore, rules: DeriveRules, policy: Policy,
                 dedup: Deduplicator | None = None, limits: LimitsContext | None = None
                 ) -> None:
        self.states, self.rules, self.policy = states, rules, policy
        self.dedup, self.limits = dedup, limits

    def decide(self, raw: bytes, meta: RecordMeta, key: bytes | None) -> Outcome:
        """One record; its account state is stored in `states` before the next."""
        try:
            out = process_record(raw, meta, key, self.states.get, self.rules, self.policy,
                                 self.dedup, self.limits)
        except Exception as exc:  # a bug must not drop the event silently
            return Outcome(rejected=reject(meta, RejectReason.PROCESSING_ERROR,
                                           f"{type(exc).__name__}: {exc}"[:500], raw))
        if out.state_changed and out.state is not None:
            self.states.put(out.state_account, out.state)
        return out

    def decide_batch(self, records: Iterable[RawRecord]) -> BatchOutcome:
        batch = BatchOutcome()
        for record in records:
            r = batch.partitions.get(record.partition)
            if r is None:
                r = batch.partitions[record.partition] = PartitionRange(
                    record.offset, record.offset, record.timestamp)
            else:
                r.first, r.last = min(r.first, record.offset), max(r.last, record.offset)
                r.max_timestamp = max(r.max_timestamp, record.timestamp)
            meta = record_meta(record)
            if isinstance(meta, RejectedEvent):
                batch.rejected.append(meta)
                continue
            out = self.decide(record.value, meta, record.key)
            if out.duplicate:
                batch.duplicates += 1
            if out.metered is not None:
                r.metered.append(out.metered)
            if out.rejected is not None:
                batch.rejected.append(out.rejected)
            if out.state_changed and out.state is not None:
                batch.states[out.state_account] = out.state
            batch.alerts += out.alerts
            batch.decisions += out.decisions
            if out.limits_error is not None:
                batch.limits_errors.append((meta, out.limits_error))
        return batch
