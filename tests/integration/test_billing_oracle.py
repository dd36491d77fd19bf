"""The live pipeline (real broker, worker, sink, projector and ledger on chdb) against the
independent billing oracle (testkit/billing_oracle.py): a seeded workload over all four
reference books, every invoice recorded in ClickHouse equal to the oracle's to the cent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from projections.rerating import issued_invoices
from testkit.billing_oracle import Bill, oracle_bills, when
from testkit.billing_workload import NOW, billing_workload
from testkit.events import Sender
from testkit.pipeline import Pipeline

pytestmark = pytest.mark.integration


def test_live_invoices_equal_the_independent_oracle(bootstrap: str, tmp_path: Path) -> None:
    logs = billing_workload(seed=107, per_book=2)  # flex, upgrades, contacts over the limit
    docs = sorted((d for book in logs.values() for d in book), key=lambda d: d["time"])
    oracle = oracle_bills(docs, NOW)
    expected = sorted(b.key() for b in oracle)
    charges = [b for b in oracle if b.kind == "immediate" and "marketing" in b.account]
    assert len(expected) >= 40 and len(charges) >= 4  # first fees + charges decided live
    clock = NOW.isoformat().replace("+00:00", "Z")
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK=f"fixed:{clock}",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1")
    s = Sender(bootstrap, p.prefix)
    try:
        p.start_worker()
        for d in docs:
            s.send(d["subject"], d["type"], d["data"], when(d["time"]), eid=d["id"])
        s.flush()
        p.start_sink()  # after the log is in Kafka (old record times: see test_billing)
        p.wait_caught_up(timeout=180)
        deadline = time.monotonic() + 180
        issued = issued_invoices(p.bootstrap, p.topics.invoices)
        while len(issued) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.5)  # polling the condition: the ledger publishes as it records
            issued = issued_invoices(p.bootstrap, p.topics.invoices)
        client = p.clickhouse()
        rows = client.query(f"SELECT doc FROM {p.ch.database}.invoices FINAL").result_rows
        client.close()
    finally:
        s.close()
        p.stop()

    def bills(found: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(Bill(d["account"], d["kind"], when(d["cycle_start"]),
                           when(d["cycle_end"]), Decimal(d["total"])).key() for d in found)

    assert bills(issued.values()) == expected
    assert bills(json.loads(r[0]) for r in rows) == expected
