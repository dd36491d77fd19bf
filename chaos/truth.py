"""The ground truth of a scenario: every record the generator will produce, in send order,
what it is (its key, account and quantities) and what the pipeline must make of it.

`workload` is the seeded generator's `testkit.workload.Workload`: `records` (each
with `expect`: "accept", "duplicate" or a rejection reason, and its event key) and `good`
(every event that must be accepted, with its meters), from which the oracle computes the
counters and peaks independently of the pipeline's code. `labels` says, per record, which
case of the scenario it is (for the report and for diagnosis).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaos.sender import Delivery
from testkit.records import Record
from testkit.workload import Good, Workload

ACCEPT = "accept"
DUPLICATE = "duplicate"


def is_rejection(expect: str) -> bool:
    return expect not in (ACCEPT, DUPLICATE)


@dataclass
class Truth:
    workload: Workload
    labels: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        return self.workload.records

    def add(self, record: Record, label: str, good: Good | None = None) -> None:
        self.workload.records.append(record)
        self.labels.append(label)
        if good is not None:
            self.workload.good[(good.source, good.id)] = good

    def reorder(self, order: Sequence[int]) -> None:
        """Put the records (and their labels) in the order of these indices."""
        self.workload.records = [self.workload.records[i] for i in order]
        self.labels = [self.labels[i] for i in order]

    def by_arrival(self) -> None:
        """Send order = record timestamp order (stable), as a live log would be."""
        self.reorder(sorted(range(len(self.records)), key=lambda i: self.records[i].arrival))

    def keep(self, predicate: Sequence[bool]) -> None:
        self.reorder([i for i, ok in enumerate(predicate) if ok])

    def expected(self) -> Counter[str]:
        """How many records of each outcome: accept, duplicate, or a reason."""
        return Counter(r.expect for r in self.records)

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def write_jsonl(self, path: Path, deliveries: Sequence[Delivery] | None = None) -> None:
        """One line per record: what was generated and what Kafka said (for diagnosis)."""
        good = self.workload.good
        with path.open("w") as out:
            for i, (r, label) in enumerate(zip(self.records, self.labels, strict=True)):
                g = good.get(r.event_key) if r.event_key else None
                line = {
                    "i": i, "label": label, "expect": r.expect,
                    "key": list(r.event_key) if r.event_key else None,
                    "account": g.account if g else (r.key or b"").decode("utf-8", "replace"),
                    "record_time": r.arrival.isoformat(),
                    "quantities": [[m, k, str(q)] for m, k, q, _ in g.contributions]
                    if g and r.expect == ACCEPT else [],
                    "bytes": len(r.value),
                }
                if deliveries is not None:
                    d = deliveries[i]
                    line.update(attempts=d.attempts, acked_at=d.positions, errors=d.errors)
                out.write(json.dumps(line) + "\n")
