from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from producers.retime import retime, shift_days


def test_latest_event_lands_within_the_last_day_and_anchor_moves() -> None:
    now = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    docs = [
        {"time": "2025-03-01T00:00:00Z", "data": {"anchor": "2025-03-01"}},
        {"time": "2025-03-05T12:00:00+00:00", "data": {}},
        {"time": "not a time"},
    ]
    out = retime(docs, now)
    latest = datetime.fromisoformat(out[1]["time"])
    assert 0 <= (now - latest).total_seconds() < 86400
    assert latest.time() == datetime(2025, 3, 5, 12).time()  # time of day kept
    days = shift_days([datetime(2025, 3, 5, 12, tzinfo=UTC)], now)
    assert days == (latest - datetime(2025, 3, 5, 12, tzinfo=UTC)).days
    assert out[0]["data"]["anchor"] == (date(2025, 3, 1) + timedelta(days=days)).isoformat()
    assert datetime.fromisoformat(out[0]["time"]).date() == date(2025, 3, 1) + timedelta(days)
    assert out[2] == {"time": "not a time"}
