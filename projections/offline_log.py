"""Read an exported event log (one CloudEvent per line) through the pipeline's decision.

Each line goes through `stream_processors.process.process_record` exactly as a Kafka
record would, with partition 0 and the line number (1-based) as its offset, and with the
event's own `time` as its receipt time: the Kafka record timestamp is not in an exported
log, so offline nothing is rejected as late or as ahead of its receipt. A line without a
readable `time` is received at `fallback` (it is rejected anyway: an envelope without a
time is invalid). Account state lives in a dict updated from `Outcome.state`. Blank lines
are skipped. Accepted events feed a `MemoryAggregator`; rejections are counted by reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pricing.pricebook import PriceBook
from pricing.sms import Channel
from pricing.sms_rates import sms_rate
from projections.memory import MemoryAggregator
from stream_processors.accounts import AccountState
from stream_processors.derive import DeriveRules
from stream_processors.process import Deduplicator, Policy, process_record
from stream_processors.validate import RecordMeta

TOPIC = "offline"


@dataclass
class LogSummary:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def receipt_time(raw: bytes, fallback: datetime) -> datetime:
    """The event's own `time` (aware UTC), or `fallback` when it cannot be read."""
    try:
        value = json.loads(raw).get("time")
        parsed = datetime.fromisoformat(value)
    except (ValueError, TypeError, AttributeError, RecursionError):
        return fallback
    if parsed.tzinfo is None:
        return fallback
    return parsed.astimezone(UTC)


def rules_for(book: PriceBook) -> DeriveRules:
    def rate(country: str, channel: str) -> int:
        ch: Channel = "mms" if channel == "mms" else "sms"
        return sms_rate(book, country, ch)

    return DeriveRules(sms_rate=rate)


def read_log(lines: Iterable[bytes], book: PriceBook, *, fallback: datetime,
             on_line: Callable[[int], None] | None = None) -> tuple[MemoryAggregator,
                                                                     LogSummary]:
    """Decide every line; return the aggregator of accepted events and the counts."""
    states: dict[str, AccountState] = {}
    rules = rules_for(book)
    policy = Policy(allowed_lateness=timedelta(hours=book.lateness_hours))
    dedup = Deduplicator(capacity=10**9)
    aggregator = MemoryAggregator()
    summary = LogSummary()
    for number, line in enumerate(lines, start=1):
        if on_line is not None:
            on_line(len(line))
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        summary.lines += 1
        meta = RecordMeta(TOPIC, 0, number, receipt_time(raw, fallback))
        outcome = process_record(raw, meta, None, states.get, rules, policy, dedup)
        if outcome.state_changed and outcome.state is not None:
            states[outcome.state_account] = outcome.state
        if outcome.duplicate:
            summary.duplicates += 1
        elif outcome.rejected is not None:
            summary.rejected[outcome.rejected.reason.value] += 1
        elif outcome.metered is not None:
            summary.accepted += 1
            aggregator.add(outcome.metered)
    return aggregator, summary
