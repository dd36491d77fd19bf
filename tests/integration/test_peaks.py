"""Peak-concurrent semantics through the real pipeline: the peak of carts active at the
same moment differs from the number of distinct carts and from the count at cycle end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pricing.pricebook_loader import load_pricebook
from projections import queries
from projections.offline_log import read_log
from testkit.billing_oracle import oracle_bills
from testkit.pipeline import Pipeline
from testkit.produce import produce
from testkit.workload import Record

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 10, tzinfo=UTC)  # anchor: cycles [May 10, Jun 10), [Jun 10, Jul 10)


def _rec(n: int, etype: str, t: datetime, data: dict[str, object]) -> Record:
    doc = {"specversion": "1.0", "id": f"pk-{n}", "source": "urn:test:peaks", "type": etype,
           "subject": "carts-acc", "time": t.isoformat(), "data": data}
    return Record(b"carts-acc", json.dumps(doc).encode(), t + timedelta(seconds=1), "accept")


def test_peak_concurrent_carts_per_category(pipeline: Pipeline) -> None:
    day = timedelta(days=1)
    steps: list[tuple[str, datetime, str, str]] = [
        # cycle 1: A on, B on, A off, C on, D on, B off  -> peak 3 (B, C, D), 4 distinct
        ("on", T0 + 1 * day, "A", "standard"), ("on", T0 + 2 * day, "B", "standard"),
        ("off", T0 + 3 * day, "A", "standard"), ("on", T0 + 4 * day, "C", "standard"),
        ("on", T0 + 5 * day, "D", "standard"), ("off", T0 + 6 * day, "B", "standard"),
        ("on", T0 + 7 * day, "E", "edi"), ("off", T0 + 8 * day, "E", "edi"),
        ("on", T0 + 9 * day, "F", "edi"),  # licence reused: EDI peak stays 1
        # cycle 2: C and D active since before the cycle; D off on day 1, G on same instant
        ("off", T0 + 32 * day, "D", "standard"), ("on", T0 + 32 * day, "G", "standard"),
        ("off", T0 + 33 * day, "C", "standard"), ("off", T0 + 34 * day, "G", "standard"),
        ("on", T0 + 59 * day, "H", "premium"),  # turned on the day before the cycle ends
    ]
    records = [_rec(0, "account.subscribed", T0, {"product": "carts", "plan": "growth"})]
    records += [_rec(i + 1, f"cart.{'activated' if op == 'on' else 'deactivated'}", t,
                     {"cart_id": cart, "category": cat})
                for i, (op, t, cart, cat) in enumerate(steps)]
    pipeline.start_sink()
    pipeline.start_worker()
    produce(pipeline.bootstrap, pipeline.prefix, sorted(records, key=lambda r: r.arrival))
    pipeline.wait_caught_up(timeout=120)
    client = pipeline.clickhouse()
    got = {(c.replace(tzinfo=None).date().isoformat(), m): (Decimal(o), Decimal(p), Decimal(e))
           for _, c, m, o, p, e in queries.peaks(pipeline.ch.database, "carts-acc").rows(client)}
    client.close()
    # (opening, peak, end) per cycle and category
    assert got == {
        ("2026-05-10", "carts.standard"): (Decimal(0), Decimal(3), Decimal(2)),
        ("2026-05-10", "carts.edi"): (Decimal(0), Decimal(1), Decimal(1)),
        # opening 2 (C, D carried over); the off at the same instant is applied first -> 2
        ("2026-06-10", "carts.standard"): (Decimal(2), Decimal(2), Decimal(0)),
        ("2026-06-10", "carts.premium"): (Decimal(0), Decimal(1), Decimal(1)),
        # no EDI event in cycle 2: cart F, on since cycle 1, still counts for the whole cycle
        ("2026-06-10", "carts.edi"): (Decimal(1), Decimal(1), Decimal(1)),
    }


def test_a_level_that_changes_at_a_cycles_first_instant_counts_from_it(
        pipeline: Pipeline) -> None:
    """Cycles are half-open: cart A deactivated at exactly 2026-06-10T00:00Z was active only
    before cycle 2 and is not in its peak; cart P activated at that instant is in its
    opening. The ClickHouse view, the offline aggregator (`metering rate`) and the
    independent billing oracle agree (contract)."""
    day, jun10 = timedelta(days=1), T0 + timedelta(days=31)
    docs = [{"specversion": "1.0", "id": "hp-0", "source": "urn:test:half-open",
             "type": "account.subscribed", "subject": "half-open", "time": T0.isoformat(),
             "data": {"product": "carts", "plan": "growth", "pricebook": "peak_carts"}}]
    for n, (op, t, cart, category) in enumerate([
            ("activated", T0 + day, "A", "standard"), ("activated", T0 + 2 * day, "B",
                                                       "standard"),
            ("deactivated", jun10, "A", "standard"), ("activated", jun10, "P", "premium"),
            ("activated", jun10 + day, "Q", "premium"), ("deactivated", jun10 + 2 * day,
                                                         "Q", "premium")], start=1):
        docs.append({"specversion": "1.0", "id": f"hp-{n}", "source": "urn:test:half-open",
                     "type": f"cart.{op}", "subject": "half-open", "time": t.isoformat(),
                     "data": {"cart_id": cart, "category": category}})
    records = [Record(b"half-open", json.dumps(d).encode(),
                      datetime.fromisoformat(d["time"]) + timedelta(seconds=1), "accept")
               for d in docs]
    pipeline.start_sink()
    pipeline.start_worker()
    produce(pipeline.bootstrap, pipeline.prefix, records)
    pipeline.wait_caught_up(timeout=120)
    client = pipeline.clickhouse()
    view = {(c.replace(tzinfo=None).date().isoformat(), m): (Decimal(o), Decimal(p),
                                                             Decimal(e))
            for _, c, m, o, p, e in queries.peaks(pipeline.ch.database, "half-open"
                                                  ).rows(client)}
    client.close()
    aggregator, _ = read_log([json.dumps(d).encode() for d in docs],
                             load_pricebook("peak_carts"), fallback=jun10 + 40 * day)
    offline = {(r.cycle_start.date().isoformat(), r.meter): (r.opening, r.peak, r.end_value)
               for r in aggregator.rows("half-open").peaks}
    expected = {
        ("2026-05-10", "carts.standard"): (Decimal(0), Decimal(2), Decimal(2)),
        ("2026-06-10", "carts.standard"): (Decimal(1), Decimal(1), Decimal(1)),  # B only
        ("2026-06-10", "carts.premium"): (Decimal(1), Decimal(2), Decimal(1)),  # P, then Q
    }
    assert view == expected
    assert offline == expected
    june = [b for b in oracle_bills(docs, jun10 + 40 * day)
            if b.kind == "cycle" and b.start == jun10]
    # standard $25 and premium $50 per peak licence: 1 x 25 + 2 x 50
    assert [b.total for b in june] == [Decimal(125)]
