"""Clocks: where "now" comes from, passed in wherever it matters (limits, cycle closes).

`system`: the machine's UTC time. `file:<path>`: the time written in the file (RFC 3339,
re-read at every call; the system time while the file is missing or empty), so tests and
demos move time for a running process by writing one line. `fixed:<RFC 3339>`: frozen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self.at = at

    def now(self) -> datetime:
        return self.at


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            text = ""
        return parse_time(text) if text else datetime.now(UTC)


def parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"time without a timezone: {text!r}")
    return at.astimezone(UTC)


def clock_from(spec: str) -> Clock:
    """`system`, `file:<path>` or `fixed:<RFC 3339>`."""
    if spec == "system":
        return SystemClock()
    if spec.startswith("file:"):
        return FileClock(Path(spec[5:]))
    if spec.startswith("fixed:"):
        return FixedClock(parse_time(spec[6:]))
    raise ValueError(f"unknown clock {spec!r}: use system, file:<path> or fixed:<time>")
