"""Read an exported event log (one CloudEvent per line) through the pipeline's decision.

Each line goes through the decision core (`core.batch.Core`) exactly as a Kafka
record would, with partition 0 and the line number (1-based) as its offset, its subject as
its key (producers key by account), and the event's own `time` as its receipt time: the
Kafka record timestamp is not in an exported log, so offline nothing is rejected as late or
as ahead of its receipt. A line without a readable `time` is received at `fallback` (it is
rejected anyway: an envelope without a time is invalid). Account state lives in a dict
kept by the core. Blank lines are skipped, a byte-order mark before the first line is
ignored. Accepted events feed a `MemoryAggregator`; every rejection is kept with its line
number, id and reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.batch import Core, DictStore
from core.derive import rules_for
from core.process import Deduplicator, Policy
from core.validate import RecordMeta
from pricing.pricebook import PriceBook
from projections.memory import MemoryAggregator

TOPIC = "offline"


BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RejectedLine:
    line: int
    id: str
    account: str
    reason: str
    detail: str


@dataclass
class LogSummary:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejections: list[RejectedLine] = field(default_factory=list)
    """Every rejected line, with its line number (1-based), id, account and reason."""
    subscribed_at_line: dict[str, int] = field(default_factory=dict)
    """Account -> the line of its first accepted subscription."""

    def before_subscription(self) -> list[RejectedLine]:
        """Lines rejected as `unknown_account` whose account subscribes on a later line:
        a log sorted by time with the subscription after the account's first usage."""
        return [r for r in self.rejections if r.reason == "unknown_account" and
                self.subscribed_at_line.get(r.account, 0) > r.line]


def record_hints(raw: bytes, fallback: datetime) -> tuple[datetime, bytes | None]:
    """What Kafka would have carried beside an exported line: its receipt time (the event's
    own `time`, or `fallback`) and its key (the subject: producers key by account)."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return fallback, None
    if not isinstance(doc, dict):
        return fallback, None
    subject = doc.get("subject")
    key = subject.encode("utf-8", errors="replace") if isinstance(subject, str) else None
    try:
        parsed = datetime.fromisoformat(doc.get("time"))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return fallback, key
    if parsed.tzinfo is None:
        return fallback, key
    try:
        return parsed.astimezone(UTC), key
    except OverflowError:  # before 0001-01-01 or after 9999-12-31 once in UTC
        return fallback, key


def read_log(lines: Iterable[bytes], book: PriceBook, *, fallback: datetime,
             on_line: Callable[[int], None] | None = None) -> tuple[MemoryAggregator,
                                                                     LogSummary]:
    """Decide every line; return the aggregator of accepted events and the counts."""
    core = Core(DictStore(), rules_for(book),
                Policy(allowed_lateness=timedelta(hours=book.lateness_hours)),
                Deduplicator(capacity=10**9))
    aggregator = MemoryAggregator()
    summary = LogSummary()
    for number, line in enumerate(lines, start=1):
        if on_line is not None:
            on_line(len(line))
        raw = line.rstrip(b"\r\n")
        if number == 1 and raw.startswith(BOM):  # a byte-order mark: not part of the JSON
            raw = raw[len(BOM):]
        if not raw.strip():
            continue
        summary.lines += 1
        received, key = record_hints(raw, fallback)
        meta = RecordMeta(TOPIC, 0, number, received)
        outcome = core.decide(raw, meta, key)
        if outcome.duplicate:
            summary.duplicates += 1
        elif outcome.rejected is not None:
            r = outcome.rejected
            summary.rejected[r.reason.value] += 1
            summary.rejections.append(RejectedLine(number, r.id or "", r.account or "",
                                                   r.reason.value, r.detail))
        elif outcome.metered is not None:
            summary.accepted += 1
            aggregator.add(outcome.metered)
            if outcome.metered.type == "account.subscribed":
                summary.subscribed_at_line.setdefault(outcome.metered.account, number)
    return aggregator, summary
