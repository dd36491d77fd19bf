"""Close of cycle on the real broker and chdb: the projector's invoices equal `metering
rate`'s for scenarios of all four reference price books, exactly one invoice per id with
gap-free numbers although the projector runs every second and the sink is killed -9."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pricing.pricebook_loader import load_pricebook
from projections.invoicing import candidates
from projections.offline_log import read_log
from projections.offline_rating import rate_log
from tests.support.events import Sender
from tests.support.pipeline import ROOT, Pipeline

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the clock: every example's cycles have closed
EXAMPLES = {"flex_1000": "marketing_tiers", "sms_200_credits": "marketing_tiers",
            "carts_peak": "peak_carts", "storage_overage": "seats_storage",
            "seat_proration": "seats_storage"}
PACKAGE = [  # package plans: a monthly fee and email overage
    ("account.subscribed", {"product": "package", "plan": "starter"}, "2025-04-01T00:00:00Z"),
    ("email.sent", {"count": 900_000}, "2025-04-10T00:00:00Z"),
    ("email.sent", {"count": 5}, "2025-05-02T00:00:00Z"),
]


def scenario() -> dict[str, list[dict[str, Any]]]:
    """Per price book, its events (subscriptions name their price book)."""
    logs: dict[str, list[dict[str, Any]]] = {}
    for name, book in EXAMPLES.items():
        for line in (ROOT / "pricing" / "examples" / f"{name}.jsonl").read_text().splitlines():
            if line.strip():
                doc = json.loads(line)
                if doc["type"] == "account.subscribed":
                    doc["data"]["pricebook"] = book
                logs.setdefault(book, []).append(doc)
    logs["package_plans"] = [
        {"specversion": "1.0", "id": f"pkg-{n}", "source": "app", "type": t,
         "subject": "acme-package", "time": at,
         "data": {**d, "pricebook": "package_plans"} if t == "account.subscribed" else d}
        for n, (t, d, at) in enumerate(PACKAGE)]
    return logs


def comparable(doc: dict[str, Any]) -> tuple[Any, ...]:
    lines = tuple(sorted(json.dumps(ln, sort_keys=True) for ln in doc["lines"]))
    return (doc["account"], doc["kind"], doc["cycle_start"], doc["cycle_end"],
            doc["total"], lines)


def offline(logs: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    out = []
    for book_name, docs in logs.items():
        book = load_pricebook(book_name)
        aggregator, _ = read_log([json.dumps(d).encode() for d in docs], book, fallback=NOW)
        # the projector closes a cycle once its end plus the book's lateness has passed
        records, problems = rate_log(book, aggregator,
                                     NOW - timedelta(hours=book.lateness_hours))
        assert problems == []
        out += [comparable(c) for c in candidates(records) if "invoice_id" in c]
    return sorted(out)


def test_live_invoices_equal_offline_and_are_numbered_once(bootstrap: str,
                                                          tmp_path: Path) -> None:
    logs = scenario()
    expected = offline(logs)
    assert len(expected) >= 8
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK="fixed:2026-01-01T00:00:00Z",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1")
    s = Sender(bootstrap, p.prefix)
    try:
        p.start_sink()
        p.start_worker()
        for docs in logs.values():
            for d in docs:
                s.send(d["subject"], d["type"], d["data"],
                       datetime.fromisoformat(d["time"].replace("Z", "+00:00")), eid=d["id"])
        s.flush()
        p.wait_caught_up(timeout=120)
        time.sleep(2.5)  # the projector proposes while the ledger may be mid-batch
        assert p.sink is not None
        p.kill_worker(p.sink)  # kill -9 the ClickHouse owner (projector and ledger)
        p.start_sink()
        deadline = time.monotonic() + 90
        while True:
            p.wait_caught_up(timeout=120)
            time.sleep(3)  # at least two more projector runs after catching up
            p.wait_caught_up(timeout=120)
            client = p.clickhouse()
            rows = client.query(f"SELECT invoice_id, number, doc FROM {p.ch.database}.invoices"
                                ).result_rows  # no FINAL: every stored row counts
            history = client.query(
                f"SELECT number, account, total FROM {p.ch.database}.payment_history"
            ).result_rows
            client.close()
            if len({r[0] for r in rows}) >= len(expected) or time.monotonic() > deadline:
                break
            p.start_sink()
    finally:
        s.close()
        p.stop()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "an invoice was recorded twice"
    numbers = sorted(r[1] for r in rows)
    assert len(numbers) == len(set(numbers))
    by_series: dict[str, list[int]] = {}
    for n in numbers:
        series, seq = n.rsplit("-", 1)
        by_series.setdefault(series, []).append(int(seq))
    for seqs in by_series.values():
        assert seqs == list(range(1, len(seqs) + 1)), "numbers must be gap-free"
    live = sorted(comparable(json.loads(r[2])) for r in rows)
    assert live == expected
    assert len(history) == len(rows)
    assert all(isinstance(t, Decimal) for _, _, t in history)
