"""Decide the lines of an exported event log (one CloudEvent per line) with the core.

Each line goes through the decision core (`core.batch.Core`) exactly as a Kafka record
would, with partition 0 and the line number (1-based) as its offset and its subject as its
key (producers key by account; `subject_key` reads it without a full parse). No Kafka
record timestamp comes with an exported line, so the core receives a valid event at its
own `time` (`RecordMeta.exported`): offline nothing is rejected as late or as ahead of its
receipt; a line rejected before its time is known is received at `fallback`. Blank lines
are skipped, a byte-order mark before the first line is ignored. Every rejection is kept
with its line number, id and reason.

`read_log` decides an iterable of lines in order into one `MemoryAggregator` (small logs,
tests). `metering rate` reads a file through `offline_file`, account by account: the
decision of a line depends only on the earlier lines of its own account (state, dedup
window and limits are per account), so both give the same verdicts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from core.batch import Core, DictStore
from core.derive import rules_for
from core.process import Deduplicator, Policy
from core.validate import RecordMeta
from pricing.pricebook import PriceBook
from projections.memory import MemoryAggregator
from schemas.records import MeteredEvent

TOPIC = "offline"
BOM = b"\xef\xbb\xbf"
_SUBJECT = b'"subject"'
_VALUE = re.compile(rb'[ \t]*:[ \t]*"([^"\\]*)"')


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

    def merge(self, other: LogSummary) -> None:
        """Add the summary of other lines (other accounts) to this one."""
        self.lines += other.lines
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)
        self.rejections += other.rejections
        for account, line in other.subscribed_at_line.items():
            self.subscribed_at_line[account] = min(line,
                                                   self.subscribed_at_line.get(account, line))


def subject_key(raw: bytes) -> bytes | None:
    """The record key a producer gives the line: its `subject`, as UTF-8 bytes, or None
    when it has none. A line naming `"subject"` once, unescaped, is read without a parse;
    any other is parsed (the key must be the subject the validator reads, or the core
    rejects the line as `key_mismatch`)."""
    at = raw.find(_SUBJECT)
    if at >= 0 and raw.find(_SUBJECT, at + 9) < 0 and raw.find(b"\\u") < 0:
        found = _VALUE.match(raw, at + 9)
        if found is not None:
            return found.group(1)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    subject = doc.get("subject") if isinstance(doc, dict) else None
    return subject.encode() if isinstance(subject, str) else None


def line_body(line: bytes, number: int) -> bytes:
    """A line without its end of line (and, on line 1, without a byte-order mark)."""
    raw = line.rstrip(b"\r\n")
    return raw[len(BOM):] if number == 1 and raw.startswith(BOM) else raw


def offline_core(book: PriceBook) -> Core:
    """The decision core as `metering rate` runs it: states in a dict, an unbounded
    accepted-ids window (exact over the whole log), no live limits (the rater replays them
    where a decision can lie: `live_decisions`)."""
    return Core(DictStore(), rules_for(book),
                Policy(allowed_lateness=timedelta(hours=book.lateness_hours)),
                Deduplicator(capacity=2**62))


class LineDecider:
    """Decides lines with one core and counts what it decided in `summary`."""

    def __init__(self, core: Core, fallback: datetime) -> None:
        self.core, self.fallback = core, fallback
        self.summary = LogSummary()

    def decide(self, number: int, raw: bytes, key: bytes | None) -> MeteredEvent | None:
        """The accepted event of line `number`, or None (rejected or a duplicate)."""
        summary = self.summary
        summary.lines += 1
        outcome = self.core.decide(raw, RecordMeta(TOPIC, 0, number, self.fallback, True), key)
        if outcome.duplicate:
            summary.duplicates += 1
        elif outcome.rejected is not None:
            r = outcome.rejected
            summary.rejected[r.reason.value] += 1
            summary.rejections.append(RejectedLine(number, r.id or "", r.account or "",
                                                   r.reason.value, r.detail))
        elif outcome.metered is not None:
            summary.accepted += 1
            if outcome.metered.type == "account.subscribed":
                summary.subscribed_at_line.setdefault(outcome.metered.account, number)
            return outcome.metered
        return None


def read_log(lines: Iterable[bytes], book: PriceBook, *, fallback: datetime,
             on_line: Callable[[int], None] | None = None) -> tuple[MemoryAggregator,
                                                                     LogSummary]:
    """Decide every line in order; return the aggregator of accepted events and the
    counts."""
    decider = LineDecider(offline_core(book), fallback)
    aggregator = MemoryAggregator()
    for number, line in enumerate(lines, start=1):
        if on_line is not None:
            on_line(len(line))
        raw = line_body(line, number)
        if not raw.strip():
            continue
        metered = decider.decide(number, raw, subject_key(raw))
        if metered is not None:
            aggregator.add(metered)
    return aggregator, decider.summary
