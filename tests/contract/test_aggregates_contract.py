"""One contract, two engines: the in-memory aggregator and the real ClickHouse views (chdb).

Every scenario is written to both; both must equal the hand-computed figures and each
other. Offsets are the arrival order (the first arrival of a key wins); batches reach
ClickHouse in reverse order, so only the version, never the write order, decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pricing.cycles import cycle_containing
from projections.aggregate_rows import AggregateRows, CounterRow, PeakRow
from projections.aggregates_ch import read_aggregates
from projections.client import open_client
from projections.ddl import migrate
from projections.memory import MemoryAggregator
from projections.settings import ClickHouseSettings
from projections.sink import ClickHouseSink
from schemas.records import MeteredEvent, MeterValue

ANCHOR = date(2024, 12, 1)
C0, C1, C2 = date(2024, 12, 1), date(2025, 1, 1), date(2025, 2, 1)
D = Decimal


def t(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def dec(month: int, day: int, hour: int = 0) -> datetime:
    return t(month, day, hour, year=2024)


_events: list[MeteredEvent] = []


def ev(account: str, event_id: str, at: datetime, meters: list[tuple[str, str, int]],
       dim: str = "", source: str = "app") -> None:
    """Append one event; its offset is its arrival index."""
    cycle = cycle_containing(ANCHOR, at)
    _events.append(MeteredEvent(
        account=account, source=source, id=event_id, type="test", time=at,
        cycle_start=cycle.start, cycle_end=cycle.end,
        meters=[MeterValue(meter=m, kind=k, quantity=D(q)) for m, k, q in meters],
        dim=dim, partition=0, offset=len(_events), received_at=at))


def email(account: str, event_id: str, at: datetime, n: int, source: str = "app") -> None:
    ev(account, event_id, at, [("email.sent", "sum", n)], source=source)


# ---- duplicates, incl. conflicting ones and one that crosses a cycle ----------------------
email("dup", "e1", t(1, 5), 100)
email("dup", "e2", t(1, 3), 50)                  # out of order
email("dup", "e1", t(1, 6), 999)                 # conflicting duplicate: dropped
email("dup", "e3", t(2, 2), 7)
email("dup", "e3", t(2, 2), 7)                   # exact duplicate: dropped
email("dup", "e4", t(1, 20), 5)
email("dup", "e4", t(2, 10), 9)                  # conflicting, other cycle: dropped
email("dup", "e1", t(1, 5), 100, source="other")  # same id, other source: counted
email("dup2", "e1", t(1, 5), 1)                  # same key, other account: counted

# ---- out of order sums and distinct review orders with exclusions -------------------------
ev("ooo", "r1", t(1, 20), [("reviews.orders", "distinct", 1)], dim="o1")
ev("ooo", "r2", t(1, 10), [("reviews.orders", "distinct", 1)], dim="o2")
ev("ooo", "r3", t(1, 5), [], dim="o3")                              # excluded: no meter
ev("ooo", "r4", t(1, 25), [("reviews.orders", "distinct", 1)], dim="o1")  # o1 again
ev("ooo", "r5", t(2, 3), [("reviews.orders", "distinct", 1)], dim="o4")
ev("ooo", "r6", t(2, 1), [("reviews.orders", "distinct", 1)], dim="o1")   # o1, next cycle
ev("ooo", "s1", t(1, 31, 23, 59), [("sms.credits", "sum", 150), ("sms.segments", "sum", 50)])
ev("ooo", "s2", t(1, 2), [("sms.credits", "sum", 50), ("sms.segments", "sum", 50)])
ev("ooo", "s3", t(2, 1), [("sms.credits", "sum", 3), ("sms.segments", "sum", 1)])  # boundary

# ---- carts: one active before the cycle, ties at one instant, reuse ----------------------
CART = "carts.standard"
ev("carts", "a-on", dec(12, 20), [(CART, "delta", 1)], dim="A")
ev("carts", "c-on", t(1, 15, 12), [(CART, "delta", 1)], dim="C")  # tie, arrives first
ev("carts", "b-on", t(1, 10), [(CART, "delta", 1)], dim="B")
ev("carts", "a-off", t(1, 15, 12), [(CART, "delta", -1)], dim="A")  # tie: -1 sorts first
ev("carts", "a-off", t(1, 16), [(CART, "delta", -1)], dim="A")     # duplicate: dropped
ev("carts", "d-on", t(2, 27), [(CART, "delta", 1)], dim="D")
ev("carts", "b-off", t(2, 28), [(CART, "delta", -1)], dim="B")
ev("carts", "p1-on", t(1, 2), [("carts.premium", "delta", 1)], dim="P1")
ev("carts", "p1-off", t(1, 3), [("carts.premium", "delta", -1)], dim="P1")
ev("carts", "p2-on", t(1, 4), [("carts.premium", "delta", 1)], dim="P2")  # reuses the licence
ev("carts", "x-on", t(1, 31, 23), [("carts.edi", "delta", 1)], source="b", dim="X")
ev("carts", "y-on", t(1, 31, 23), [("carts.edi", "delta", 1)], source="a", dim="Y")

# ---- a cycle whose only event has no meter carries the gauges' levels in ----------------
ev("idle", "on", t(1, 10), [(CART, "delta", 1)], dim="A")
ev("idle", "z-on", t(1, 11), [("carts.premium", "delta", 1)], dim="Z")
ev("idle", "z-off", t(1, 12), [("carts.premium", "delta", -1)], dim="Z")
ev("idle", "settings", t(2, 5), [])  # e.g. an account event: the account has cycle 2

# ---- profiles: one event moves two gauges ------------------------------------------------
TOTAL, ACTIVE = "profiles.total", "profiles.active"
ev("profiles", "p1", t(1, 2), [(TOTAL, "delta", 1), (ACTIVE, "delta", 1)], dim="p1")
ev("profiles", "p2", t(1, 3), [(TOTAL, "delta", 1)], dim="p2")
ev("profiles", "p2c", t(1, 4), [(ACTIVE, "delta", 1)], dim="p2")
ev("profiles", "p1r", t(1, 5), [(TOTAL, "delta", -1), (ACTIVE, "delta", -1)], dim="p1")

# ---- set gauges: seats and storage readings ---------------------------------------------
SEATS = "seats.full_time"
ev("sets", "s0", dec(12, 15), [(SEATS, "set", 10)])
ev("sets", "s2", t(1, 20), [(SEATS, "set", 9)])         # tie with s1b at the same instant
ev("sets", "s1", t(1, 10), [(SEATS, "set", 12)])
ev("sets", "s1b", t(1, 20), [(SEATS, "set", 8)])        # 8 sorts before 9: end is 9
ev("sets", "s3", t(2, 1), [(SEATS, "set", 11)])         # exactly on the boundary: cycle 2
ev("sets", "s4", t(2, 20), [(SEATS, "set", 5)])
ev("sets", "m1", t(1, 31), [("storage.data.bytes", "set", 4_100_000_000)])
ev("sets", "f1", t(1, 3), [("storage.attachments.bytes", "delta", 2000)], dim="f1")
ev("sets", "f2", t(1, 4), [("storage.attachments.bytes", "delta", 3000)], dim="f2")
ev("sets", "f1d", t(1, 5), [("storage.attachments.bytes", "delta", -2000)], dim="f1")

COUNTERS: dict[str, dict[tuple[date, str], tuple[int, int]]] = {
    "dup": {(C1, "email.sent"): (255, 4), (C2, "email.sent"): (7, 1)},
    "dup2": {(C1, "email.sent"): (1, 1)},
    "ooo": {(C1, "reviews.orders"): (2, 3), (C2, "reviews.orders"): (2, 2),
            (C1, "sms.credits"): (200, 2), (C1, "sms.segments"): (100, 2),
            (C2, "sms.credits"): (3, 1), (C2, "sms.segments"): (1, 1)},
    "carts": {}, "profiles": {}, "sets": {}, "idle": {},
}
PEAKS: dict[str, dict[tuple[date, str], tuple[int, int, int, int]]] = {
    "carts": {(C0, CART): (0, 1, 1, 1), (C1, CART): (1, 2, 2, 3), (C2, CART): (2, 3, 2, 2),
              (C1, "carts.premium"): (0, 1, 1, 3), (C1, "carts.edi"): (0, 2, 2, 2),
              # carried into cycle 2, where they did not change: opening = peak = end
              (C2, "carts.premium"): (1, 1, 1, 0), (C2, "carts.edi"): (2, 2, 2, 0)},
    # premium is back to 0 before cycle 2: no carried row; cycle 3 has no event: no row
    "idle": {(C1, CART): (0, 1, 1, 1), (C1, "carts.premium"): (0, 1, 0, 2),
             (C2, CART): (1, 1, 1, 0)},
    "profiles": {(C1, TOTAL): (0, 2, 1, 3), (C1, ACTIVE): (0, 2, 1, 3)},
    "sets": {(C0, SEATS): (0, 10, 10, 1), (C1, SEATS): (10, 12, 9, 3),
             # s3 at exactly cycle 2's first instant sets its opening (half-open cycle)
             (C2, SEATS): (11, 11, 5, 2),
             (C1, "storage.data.bytes"): (0, 4_100_000_000, 4_100_000_000, 1),
             (C1, "storage.attachments.bytes"): (0, 5000, 3000, 3),
             (C2, "storage.data.bytes"): (4_100_000_000, 4_100_000_000, 4_100_000_000, 0),
             (C2, "storage.attachments.bytes"): (3000, 3000, 3000, 0)},
    "dup": {}, "dup2": {}, "ooo": {},
}
ACCOUNTS = sorted(COUNTERS)


def as_counters(rows: AggregateRows, account: str) -> dict[tuple[date, str], tuple[D, int]]:
    return {(r.cycle_start.date(), r.meter): (r.value, r.events)
            for r in rows.counters if r.account == account}


def as_peaks(rows: AggregateRows, account: str) -> dict[tuple[date, str], tuple[D, ...]]:
    return {(r.cycle_start.date(), r.meter): (r.opening, r.peak, r.end_value, D(r.events))
            for r in rows.peaks if r.account == account}


@pytest.fixture(scope="module")
def memory_rows() -> AggregateRows:
    agg = MemoryAggregator()
    for event in reversed(_events):  # arrival order must not matter, only offsets
        agg.add(event)
    return agg.rows()


@pytest.fixture(scope="module")
def clickhouse_rows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AggregateRows]:
    path: Path = tmp_path_factory.mktemp("contract")
    settings = ClickHouseSettings(dsn=f"chdb://{path}/ch")
    client = open_client(settings)
    try:
        migrate(client, settings)
        sink = ClickHouseSink(client, settings.database, "contract")
        batches = [_events[i:i + 4] for i in range(0, len(_events), 4)]
        for batch in reversed(batches):
            sink.write_metered("usage", 0, batch[0].offset, batch[-1].offset, batch)
        yield read_aggregates(client, settings.database)
    finally:
        client.close()


@pytest.fixture(params=["memory", "clickhouse"])
def rows(request: pytest.FixtureRequest) -> AggregateRows:
    return request.getfixturevalue(f"{request.param}_rows")  # type: ignore[no-any-return]


@pytest.mark.parametrize("account", ACCOUNTS)
def test_counters_equal_hand_computed(rows: AggregateRows, account: str) -> None:
    expected = {k: (D(v), n) for k, (v, n) in COUNTERS[account].items()}
    assert as_counters(rows, account) == expected


@pytest.mark.parametrize("account", ACCOUNTS)
def test_peaks_equal_hand_computed(rows: AggregateRows, account: str) -> None:
    expected = {k: tuple(D(x) for x in v) for k, v in PEAKS[account].items()}
    assert as_peaks(rows, account) == expected


def test_engines_agree_row_for_row(memory_rows: AggregateRows,
                                   clickhouse_rows: AggregateRows) -> None:
    assert memory_rows == clickhouse_rows
    assert memory_rows.counters and memory_rows.peaks


def test_instants_are_aware_utc(rows: AggregateRows) -> None:
    every: list[CounterRow | PeakRow] = [*rows.counters, *rows.peaks]
    for row in every:
        assert row.cycle_start.tzinfo is UTC and row.cycle_end.tzinfo is UTC
        assert row.cycle_end > row.cycle_start


def test_memory_keeps_the_lowest_offset_whatever_the_arrival_order() -> None:
    first, second = (e for e in _events if e.account == "dup" and e.id == "e4")
    for order in ([first, second], [second, first]):
        agg = MemoryAggregator()
        kept = [agg.add(e) for e in order]
        assert agg.events() == [first]
        assert kept == ([True, False] if order[0] is first else [True, True])
