"""Seasonal seat windows in the decision core (issue 15, item 1): a reading that assigns
more seasonal users to a window than its seats raises one alert for that window, with the
window's bounds (00:00 UTC of the first day to 00:00 UTC after the last); a window within
its seats, a closed window, or a second reading over the same window raise none; the
full-time seats stay as they were. Each test failed before (no alert existed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.batch import BatchOutcome, Core, DictStore, RawRecord
from core.derive import rules_for
from core.process import Deduplicator, Policy
from pricing.pricebook_loader import load_pricebook
from projections.live_decisions import limits_for

BOOK = load_pricebook("seats_storage")
JUNE = {"first_day": "2025-06-01", "last_day": "2025-06-30"}


def ev(eid: str, time: str, data: dict[str, Any], etype: str = "seats.changed") -> bytes:
    return json.dumps({"specversion": "1.0", "id": eid, "source": "app", "type": etype,
                       "subject": "acme", "time": time, "data": data}).encode()


def decide(*readings: tuple[str, dict[str, Any]]) -> BatchOutcome:
    lines = [ev("s", "2025-03-01T00:00:00Z", {"product": "seats", "plan": "professional"},
                "account.subscribed"),
             ev("n0", "2025-03-01T00:00:00Z", {"full_time": 10}),
             *(ev(f"r{i}", t, {"full_time": 10, "seasonal": w})
               for i, (t, w) in enumerate(readings))]
    records = []
    for offset, line in enumerate(lines, start=1):
        t = datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00"))
        records.append(RawRecord("events", 0, offset, t.timestamp() + 1, b"acme", line))
    core = Core(DictStore(), rules_for(BOOK), Policy(), Deduplicator(), limits_for(BOOK))
    return core.decide_batch(records)


def seasonal(out: BatchOutcome) -> list[Any]:
    return [a for a in out.alerts if a.meter == "seats.seasonal"]


def test_more_users_than_a_window_has_seats_raise_one_alert_for_the_window() -> None:
    out = decide(("2025-06-05T12:00:00Z", [{**JUNE, "seats": 5, "assigned": 6}]),
                 ("2025-06-07T12:00:00Z", [{**JUNE, "seats": 5, "assigned": 7}]))
    alert, = seasonal(out)
    assert (alert.value, alert.limit, alert.threshold) == (Decimal(6), Decimal(5), "100%")
    assert (alert.cycle_start, alert.cycle_end) == (datetime(2025, 6, 1, tzinfo=UTC),
                                                    datetime(2025, 7, 1, tzinfo=UTC))
    assert alert.projected_overage_cost == Decimal(60)  # one seat over, 60 a seat
    assert not out.rejected and out.states["acme"].seats == 10


def test_a_window_within_its_seats_or_closed_raises_nothing() -> None:
    out = decide(("2025-06-05T12:00:00Z", [{**JUNE, "seats": 5, "assigned": 5}]),
                 ("2025-07-01T00:00:00Z", [{**JUNE, "seats": 5, "assigned": 9}]),
                 ("2025-06-06T00:00:00Z", [{**JUNE, "seats": 5}]))
    assert seasonal(out) == []


def test_each_window_is_judged_on_its_own() -> None:
    july = {"first_day": "2025-07-01", "last_day": "2025-07-31"}
    out = decide(("2025-06-05T12:00:00Z", [{**JUNE, "seats": 2, "assigned": 3},
                                           {**july, "seats": 2, "assigned": 3}]))
    assert sorted(a.cycle_start.month for a in seasonal(out)) == [6, 7]
    assert len({a.id for a in seasonal(out)}) == 2
