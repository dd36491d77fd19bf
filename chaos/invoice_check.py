"""The checker of scenario 7: every invoice the ledger recorded (each stored row, no
FINAL) against `metering rate`'s invoices for the same log, numbering, and a further
projector run on the final state."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from projections.expected_invoices import comparable


@dataclass
class InvoiceCheck:
    expected: int
    """Invoices `metering rate` closes the log into."""
    recorded_rows: int
    """Rows in the invoices table (no FINAL: a copy would count)."""
    recorded: int
    """Distinct invoice ids among them."""
    lost: int
    """Expected invoices with no recorded equal."""
    duplicated: int
    """Rows beyond one per invoice id, plus cycle invoices of an (account, cycle) beyond
    the first (the same bill under two ids)."""
    unexpected: int
    """Recorded invoices `metering rate` does not bill."""
    number_faults: int
    """Numbers missing from or repeated in a series 1..n."""
    second_run: int
    """Invoices or plan changes a projector run on the final state still proposes."""

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.number_faults
                    or self.second_run)


def check_invoices(expected: Sequence[dict[str, Any]],
                   rows: Sequence[tuple[str, str, str]], again: Sequence[Any]
                   ) -> InvoiceCheck:
    """`rows`: (invoice_id, number, doc JSON) of every stored row."""
    ids = Counter(r[0] for r in rows)
    first = {r[0]: json.loads(r[2]) for r in rows}
    live = Counter(comparable(d) for d in first.values())
    want = Counter(comparable(d) for d in expected)
    cycles = Counter((d["account"], d["cycle_start"]) for d in first.values()
                     if d["kind"] == "cycle" and not int(d.get("revision") or 0))
    series: dict[str, list[int]] = {}
    for number in {r[0]: r[1] for r in rows}.values():
        name, seq = number.rsplit("-", 1)
        series.setdefault(name, []).append(int(seq))
    number_faults = 0
    for seqs in series.values():
        counts = Counter(seqs)
        number_faults += sum(n - 1 for n in counts.values())
        number_faults += len(set(range(1, max(seqs) + 1)) - set(seqs))
    return InvoiceCheck(
        expected=len(expected), recorded_rows=len(rows), recorded=len(ids),
        lost=sum((want - live).values()),
        duplicated=sum(n - 1 for n in ids.values()) + sum(n - 1 for n in cycles.values()),
        unexpected=sum((live - want).values()),
        number_faults=number_faults, second_run=len(again))
