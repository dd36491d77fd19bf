"""What `metering rate` bills for a log: the invoices every closed cycle of a log yields,
per price book, and the key two invoices must share to be the same bill (the oracle of the
live projector in the demo, the chaos run and the billing tests)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pricing.pricebook_loader import load_pricebook
from projections.invoicing import candidates
from projections.offline_log import read_log
from projections.offline_rating import rate_log

Doc = dict[str, Any]


def comparable(doc: Mapping[str, Any]) -> tuple[Any, ...]:
    """An invoice without its id, number and issue time."""
    lines = tuple(sorted(json.dumps(ln, sort_keys=True) for ln in doc["lines"]))
    return (doc["account"], doc["kind"], doc["cycle_start"], doc["cycle_end"],
            doc["total"], lines)


def offline_invoices(logs: Mapping[str, Sequence[Doc]], now: datetime) -> list[Doc]:
    """Per price book name, its CloudEvents; every invoice of a cycle closed at `now`
    (its end plus the book's lateness passed), as the projector would propose it."""
    out: list[Doc] = []
    for name, docs in logs.items():
        book = load_pricebook(name)
        aggregator, _ = read_log([json.dumps(d).encode() for d in docs], book, fallback=now)
        records, problems = rate_log(book, aggregator,
                                     now - timedelta(hours=book.lateness_hours))
        if problems:
            raise ValueError(f"{name}: the log cannot be rated: {problems[:3]}")
        out += [c for c in candidates(records) if "invoice_id" in c]
    return out
