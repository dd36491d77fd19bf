"""Shift an exported log in time, for demos and replays into a live pipeline.

A live pipeline rejects events older than their cycle's end plus the allowed lateness, so
a sample log written months ago is replayed by moving every event by the same whole
number of days: the latest event lands within the last day before `now`, times of day are
kept, and subscription anchors move with their events.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any


def shift_days(times: list[datetime], now: datetime) -> int:
    """Whole days that move the latest of `times` to at most `now`."""
    if not times:
        return 0
    return (now - max(times)) // timedelta(days=1)


def retime(docs: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Copies of the CloudEvent documents with `time` and `data.anchor` shifted; documents
    without a readable `time` are returned unchanged (the pipeline will reject them)."""
    parsed: list[datetime | None] = []
    for doc in docs:
        try:
            parsed.append(datetime.fromisoformat(str(doc["time"])))
        except (KeyError, TypeError, ValueError):
            parsed.append(None)
    aware = [t for t in parsed if t is not None and t.tzinfo is not None]
    days = shift_days(aware, now)
    out = []
    for doc, t in zip(docs, parsed, strict=True):
        if t is None or t.tzinfo is None:
            out.append(doc)
            continue
        moved = {**doc, "time": (t + timedelta(days=days)).isoformat()}
        data = doc.get("data")
        if isinstance(data, dict) and isinstance(data.get("anchor"), str):
            anchor = date.fromisoformat(data["anchor"]) + timedelta(days=days)
            moved["data"] = {**data, "anchor": anchor.isoformat()}
        out.append(moved)
    return out
