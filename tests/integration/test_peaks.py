"""Peak-concurrent semantics through the real pipeline: the peak of carts active at the
same moment differs from the number of distinct carts and from the count at cycle end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from projections import queries
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
