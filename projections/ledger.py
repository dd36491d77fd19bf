"""The invoice ledger: numbers each proposed invoice id once, in the order first seen.

Candidates arrive on a single-partition topic, so every projector instance's proposals
meet in one total order; the sink consuming it is the only numberer. A number is stored
in ClickHouse with its invoice before the candidate's offset commits: after a crash the
ledger reloads (id -> number, next number per series) from `invoices`, so a replayed
candidate gets the number it had, and a number is never skipped (gap-free per series).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from projections.invoicing import Record, number_of

INVOICE_COLUMNS = [
    "invoice_id", "number", "series", "seq", "account", "kind", "revision", "cycle_start",
    "cycle_end", "issued_at", "currency", "total", "pricebook", "doc",
]
LINE_COLUMNS = [
    "invoice_id", "number", "account", "line_no", "kind", "product", "meter", "plan",
    "description", "quantity", "unit_price", "amount", "period_start", "period_end",
]
PLAN_COLUMNS = ["id", "account", "product", "from_plan", "to_plan", "effective", "reason"]


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


class Ledger:
    def __init__(self) -> None:
        self.numbers: dict[str, str] = {}
        self.next_seq: dict[str, int] = {}
        self.loaded = False

    def load(self, client: Any, db: str) -> None:
        rows = client.query(f"SELECT invoice_id, series, seq, number FROM {db}.invoices FINAL"  # noqa: S608
                            ).result_rows
        self.numbers = {r[0]: r[3] for r in rows}
        self.next_seq = {}
        for _, series, seq, _ in rows:
            self.next_seq[series] = max(self.next_seq.get(series, 1), int(seq) + 1)
        self.loaded = True

    def assign(self, candidate: Record) -> tuple[str, bool]:
        """(number, new) of a candidate invoice."""
        known = self.numbers.get(candidate["invoice_id"])
        if known is not None:
            return known, False
        series = candidate["series"]
        seq = self.next_seq.get(series, 1)
        self.next_seq[series] = seq + 1
        number = number_of(series, seq)
        self.numbers[candidate["invoice_id"]] = number
        return number, True


def invoice_rows(doc: Record, number: str) -> tuple[list[Any], list[list[Any]]]:
    seq = int(number.rsplit("-", 1)[1])
    issued = _ts(doc.get("issued_at")) or _ts(doc["cycle_end"])
    head = [doc["invoice_id"], number, doc["series"], seq, doc["account"], doc["kind"],
            int(doc.get("revision", 0)), _ts(doc["cycle_start"]), _ts(doc["cycle_end"]),
            issued, doc["currency"], Decimal(doc["total"]), doc.get("pricebook", ""),
            _dumps(doc)]
    lines = [[doc["invoice_id"], number, doc["account"], n, ln["kind"], ln["product"],
              ln.get("meter"), ln.get("plan"), ln.get("description", ""),
              Decimal(ln["quantity"]), Decimal(ln["unit_price"]), Decimal(ln["amount"]),
              _ts(ln.get("period_start")), _ts(ln.get("period_end"))]
             for n, ln in enumerate(doc["lines"])]
    return head, lines


def plan_row(doc: Record) -> list[Any]:
    return [doc["id"], doc["account"], doc["product"], doc.get("from_plan"), doc["to_plan"],
            _ts(doc["effective"]), doc["reason"]]


def _dumps(doc: Record) -> str:
    return orjson.dumps(doc).decode()


def record_batch(client: Any, db: str, token: str, invoices: Sequence[tuple[list[Any],
                 list[list[Any]]]], plans: Sequence[list[Any]], settings: dict[str, Any]
                 ) -> None:
    """Insert one candidate batch (idempotent: dedup tokens, ReplacingMergeTree by id)."""
    if invoices:
        client.insert(f"{db}.invoices", [h for h, _ in invoices], column_names=INVOICE_COLUMNS,
                      settings={**settings, "insert_deduplication_token": f"{token}:inv"})
        lines = [ln for _, ls in invoices for ln in ls]
        if lines:
            client.insert(f"{db}.invoice_lines", lines, column_names=LINE_COLUMNS,
                          settings={**settings, "insert_deduplication_token": f"{token}:ln"})
    if plans:
        client.insert(f"{db}.plan_changes", plans, column_names=PLAN_COLUMNS,
                      settings={**settings, "insert_deduplication_token": f"{token}:plan"})
