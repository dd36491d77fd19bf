"""Seeded workloads of the scenarios, built on the shared generator
(`testkit.workload.generate`: accounts over two billing cycles, duplicates,
reordering within the allowed lateness, bad input of every reason, and the oracle).

Every function is deterministic in its seed: the same seed gives the same records in the
same order, whatever happens when they are sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chaos.poison import EXTRA_KINDS, extra_record
from chaos.truth import ACCEPT, DUPLICATE, Truth
from testkit.records import Record, as_bytes, event_doc
from testkit.workload import Good, generate, oracle_cycle

START = date(2026, 5, 1)
SOURCE = "urn:test:chaos"
LATENESS = timedelta(hours=24)  # METERING_ALLOWED_LATENESS_H (the default)
MAX_FUTURE = timedelta(seconds=300)  # METERING_MAX_FUTURE_S (the default)


@dataclass(frozen=True)
class Size:
    accounts: int
    events_per_account: int


def base(seed: int, size: Size, *, dup_rate: float = 0.05, bad_rate: float = 0.0005,
         late_rate: float = 0.10) -> Truth:
    """The shared generator's workload: usage of every kind, `dup_rate` producer
    duplicates, `bad_rate` bad records of every reason (at least one each), events
    reordered within the allowed lateness; in record-timestamp order."""
    w = generate(seed, size.accounts, size.events_per_account, start=START,
                 dup_rate=dup_rate, bad_rate=bad_rate, late_rate=late_rate)
    labels = ["event" if r.expect == ACCEPT else
              "duplicate" if r.expect == DUPLICATE else f"bad:{r.expect}" for r in w.records]
    return Truth(w, labels)


def good_only(seed: int, size: Size) -> Truth:
    """`base` without bad records or duplicates: every record is one event to accept."""
    t = base(seed, size, dup_rate=0.0)
    t.keep([r.expect == ACCEPT for r in t.records])
    return t


def retry_storm(seed: int, size: Size, copy_rate: float = 0.10) -> tuple[Truth, int]:
    """`copy_rate` of the events sent again with the same id and bytes: 40% right after
    the original, 30% some hundreds to thousands of records later, 30% at the very end
    (after the scenario's worker restart, far beyond the in-memory dedup window); their
    record times later by 1 ms, up to 2 h, 2 to 40 h (some past their cycle's close: a
    copy then reads too_late, and is still the accepted event's copy). Returns the truth
    and the index where the tail of late copies starts."""
    t = base(seed, size, dup_rate=0.0)
    rng = random.Random(seed * 7919 + 1)
    records = t.records
    n = len(records)
    originals = [i for i, r in enumerate(records) if r.expect == ACCEPT]
    after: dict[int, list[tuple[Record, str]]] = {}
    tail: list[tuple[Record, str]] = []
    for i in sorted(rng.sample(originals, round(copy_rate * n))):
        r = records[i]
        roll = rng.random()
        if roll < 0.4:
            where, delay, label = i, timedelta(milliseconds=1), "copy:immediate"
        elif roll < 0.7:
            where = min(n - 1, i + rng.randint(200, 5000))
            delay, label = timedelta(seconds=rng.uniform(1, 7200)), "copy:later"
        else:
            where, delay, label = -1, timedelta(hours=rng.uniform(2, 40)), "copy:tail"
        entry = (Record(r.key, r.value, r.arrival + delay, DUPLICATE, r.event_key), label)
        (tail if where < 0 else after.setdefault(where, [])).append(entry)
    rng.shuffle(tail)
    out = Truth(t.workload, [])
    old, old_labels = records, t.labels
    t.workload.records = []
    for i, (r, label) in enumerate(zip(old, old_labels, strict=True)):
        out.add(r, label)
        for dup, dup_label in after.get(i, []):
            out.add(dup, dup_label)
    tail_start = len(out.records)
    for dup, dup_label in tail:
        out.add(dup, dup_label)
    return out, tail_start


def poison(seed: int, size: Size, rate: float = 0.01) -> Truth:
    """`rate` of bad records of every kind (the shared reasons, Infinity, > 1 MB), each
    at a random moment of a random account's first cycle, among 5% duplicates."""
    t = base(seed, size, dup_rate=0.05, bad_rate=rate)
    rng = random.Random(seed * 7919 + 2)
    n = max(1, round(len(t.workload.good) * rate))
    accounts = sorted(t.workload.anchors)
    serial = 0
    for kind in EXTRA_KINDS:
        for _ in range(n):
            account = rng.choice(accounts)
            c1_start, _ = _first_cycle(t, account)
            at = c1_start + timedelta(hours=rng.uniform(1, 24 * 20))
            serial += 1
            t.add(extra_record(kind, account, at, f"cx-{seed}-p{serial}", rng), f"bad:{kind}")
    t.by_arrival()
    return t


def late_future(seed: int, size: Size, rate: float = 0.02) -> Truth:
    """Events of a closed cycle received inside the allowed lateness (accepted) and after
    it (too_late), events ahead of their receipt by more than the allowed 5 minutes
    (future_timestamp), `rate` each, plus the exact edges of both rules."""
    t = base(seed, size, dup_rate=0.05)
    rng = random.Random(seed * 7919 + 3)
    n = max(1, round(len(t.workload.good) * rate))
    accounts = sorted(t.workload.anchors)
    serial = 0

    def email(account: str, at: datetime, received: datetime, label: str,
              accepted: bool, reason: str = "") -> None:
        nonlocal serial
        serial += 1
        eid, count = f"cx-{seed}-l{serial}", rng.randint(1, 5)
        value = as_bytes(event_doc("email.sent", account, at, {"count": count}, eid,
                                   source=SOURCE))
        good = Good(account, SOURCE, eid, at, [("email.sent", "sum", Decimal(count), "")])
        t.add(Record(account.encode(), value, received, ACCEPT if accepted else reason,
                     (SOURCE, eid)), label, good if accepted else None)

    edges = max(2, n // 50)
    for case in range(3 * n + 5 * edges):
        account = rng.choice(accounts)
        c1_start, c1_end = _first_cycle(t, account)
        close = c1_end + LATENESS
        at = c1_start + timedelta(seconds=rng.randrange(3600, int((c1_end - c1_start)
                                                                  .total_seconds())))
        kind = case % 3 if case < 3 * n else 3 + (case - 3 * n) % 5
        if kind == 0:  # late, inside the allowed lateness
            email(account, at, c1_end + timedelta(seconds=rng.randrange(0, 86_399)),
                  "late:inside", True)
        elif kind == 1:  # after the allowed lateness
            email(account, at, close + timedelta(seconds=rng.randrange(0, 10 * 86_400)),
                  "late:after", False, "too_late")
        elif kind == 2:  # ahead of its receipt
            ahead = timedelta(seconds=rng.randrange(301, 30 * 86_400))
            email(account, at + ahead, at, "future", False, "future_timestamp")
        elif kind == 3:  # the last second inside the lateness
            email(account, at, close - timedelta(seconds=1), "edge:late-last-second", True)
        elif kind == 4:  # the close itself is outside
            email(account, at, close, "edge:late-at-close", False, "too_late")
        elif kind == 5:  # exactly the allowed 5 minutes ahead
            email(account, at + MAX_FUTURE, at, "edge:future-300s", True)
        elif kind == 6:  # a second more
            email(account, at + MAX_FUTURE + timedelta(seconds=1), at, "edge:future-301s",
                  False, "future_timestamp")
        else:  # received as it happens
            email(account, at, at, "edge:on-time", True)
    t.by_arrival()
    return t


def _first_cycle(t: Truth, account: str) -> tuple[datetime, datetime]:
    anchor = t.workload.anchors[account]
    return oracle_cycle(anchor, datetime.combine(anchor, datetime.min.time(), UTC))
