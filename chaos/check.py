"""The checker: everything in ClickHouse against the scenario's ground truth.

- accepted: the usage log read deduplicated (`projections.queries.accepted_keys`, FINAL);
  an event whose send was acknowledged must be there exactly once, under its account;
  one no attempt got acknowledged may be absent, and is there once if present;
- rejected: `projections.queries.rejections` by input position; each acknowledged bad
  record must be there with its expected reason;
- the counters and peaks views against the oracle computed from the events that are in
  the log (testkit/compare.py);
- lost = acknowledged events missing + acknowledged bad records without a rejection;
  duplicated = events the deduplicated log counts more than once; unexpected = events
  that are not in the truth (or under another account), rejections where none was
  expected or with another reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos import queries as chaos_queries
from chaos.sender import Delivery
from chaos.truth import ACCEPT, Truth, is_rejection
from projections import queries
from testkit.compare import oracle_differences
from testkit.workload import Workload

EXAMPLES = 10


@dataclass
class Check:
    produced: int = 0
    acknowledged: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    accepted: int = 0
    expected_accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    expected_rejected: dict[str, int] = field(default_factory=dict)
    rejected_copies: dict[str, int] = field(default_factory=dict)
    raw_copies: int = 0
    lost_accepted: int = 0
    lost_rejected: int = 0
    duplicated: int = 0
    unexpected_accepted: int = 0
    wrong_account: int = 0
    unexpected_rejected: int = 0
    wrong_reason: int = 0
    unacked_present: int = 0
    unacked_absent: int = 0
    counter_mismatches: int = 0
    peak_mismatches: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.lost_accepted + self.lost_rejected

    @property
    def unexpected(self) -> int:
        return (self.unexpected_accepted + self.wrong_account + self.unexpected_rejected
                + self.wrong_reason)

    @property
    def oracle_mismatches(self) -> int:
        return self.counter_mismatches + self.peak_mismatches

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.oracle_mismatches)

    def note(self, what: str, items: Sequence[object]) -> None:
        if items:
            self.examples[what] = [str(x) for x in list(items)[:EXAMPLES]]


def check(client: Any, db: str, truth: Truth, deliveries: Sequence[Delivery]) -> Check:
    records, good = truth.records, truth.workload.good
    c = Check(produced=len(records), acknowledged=sum(d.acked for d in deliveries),
              attempts=sum(d.attempts for d in deliveries),
              failed_attempts=sum(len(d.errors) for d in deliveries))
    required: set[tuple[str, str]] = set()
    optional: set[tuple[str, str]] = set()
    expected_rej: dict[tuple[int, int], str] = {}
    at: dict[tuple[int, int], int] = {}
    for i, (r, d) in enumerate(zip(records, deliveries, strict=True)):
        for pos in d.positions:
            at[pos] = i
        if r.expect == ACCEPT and r.event_key is not None:
            (required if d.acked else optional).add(r.event_key)
        elif is_rejection(r.expect):
            expected_rej.update((pos, r.expect) for pos in d.positions)
    optional -= required
    c.expected_accepted = len(required)
    c.expected_rejected = dict(sorted(Counter(expected_rej.values()).items()))

    def where(pos: tuple[int, int]) -> str:
        i = at.get(pos)
        return f"{pos} -> " + (f"record {i} ({truth.labels[i]})" if i is not None
                               else "no acknowledged record")

    rows = queries.accepted_keys(db).rows(client)
    seen = Counter((s, i) for _, s, i in rows)
    present = set(seen)
    c.accepted = len(present)
    c.duplicated = sum(n - 1 for n in seen.values() if n > 1)
    c.note("duplicated", [k for k, n in seen.items() if n > 1])
    lost = sorted(required - present)
    c.lost_accepted = len(lost)
    c.note("lost_accepted", lost)
    unexpected = sorted(present - required - optional)
    c.unexpected_accepted = len(unexpected)
    c.note("unexpected_accepted", unexpected)
    wrong = [(a, s, i) for a, s, i in rows if (s, i) in good and good[(s, i)].account != a]
    c.wrong_account = len(wrong)
    c.note("wrong_account", wrong)
    c.unacked_present = len(optional & present)
    c.unacked_absent = len(optional - present)

    got = {(p, o): reason for p, o, reason in queries.rejections(db).rows(client)}
    c.rejected = dict(sorted(Counter(got.values()).items()))
    missing = sorted(set(expected_rej) - set(got))
    c.lost_rejected = len(missing)
    c.note("lost_rejected", [f"{where(p)} expected {expected_rej[p]}" for p in missing])
    extra = sorted(set(got) - set(expected_rej))
    c.unexpected_rejected = len(extra)
    c.note("unexpected_rejected", [f"{where(p)} rejected {got[p]}" for p in extra])
    differ = sorted(p for p in set(got) & set(expected_rej) if got[p] != expected_rej[p])
    c.wrong_reason = len(differ)
    c.note("wrong_reason", [f"{where(p)} rejected {got[p]}, expected {expected_rej[p]}"
                            for p in differ])

    c.raw_copies = int(chaos_queries.raw_copies(db).rows(client)[0][0])
    c.rejected_copies = {str(r): int(n) for r, n in chaos_queries.rejected_copies(db)
                         .rows(client)}

    # the oracle over the events that are in the log (acknowledged, or present anyway)
    in_log = required | (optional & present)
    subset = Workload(good={k: v for k, v in good.items() if k in in_log},
                      anchors=truth.workload.anchors)
    diffs = oracle_differences(client, db, subset)
    c.counter_mismatches = len(diffs["counters"])
    c.peak_mismatches = len(diffs["peaks"])
    c.note("counter_mismatches", diffs["counters"])
    c.note("peak_mismatches", diffs["peaks"])
    return c
