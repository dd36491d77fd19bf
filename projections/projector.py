"""The close-of-cycle projector: from the deduplicated usage log to invoice candidates.

One run (the sink's leader calls it on a timer, with an injected clock):
1. read the cycle views and the account events from ClickHouse (`log_source.LogSource`:
   an account's usage events are read only where the views cannot answer — a product
   cycle that is not a stream cycle, a cycle whose usage may have reached a limit);
2. per account, with the price book its subscription names (default: the configured
   one), rate exactly as `metering rate` does (`offline_rating.AccountRater`), every cycle
   whose end plus the book's lateness has passed, and every immediate invoice (flex,
   upgrade difference, seat proration, first fees) older than that lateness, so a late
   event inside the lateness still counts;
3. drop what the `invoices` / `plan_changes` tables already hold, and return the rest as
   candidates (ids in `invoicing`); the ledger numbers and records them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pricing.pricebook import PriceBook
from projections.aggregate_rows import utc as _utc
from projections.invoicing import Record, candidates
from projections.log_source import LogSource
from projections.offline_rating import AccountRater, RatingSource
from schemas.records import MeteredEvent


def book_of(events: list[MeteredEvent], books: Mapping[str, PriceBook],
            default: str) -> PriceBook:
    for e in events:
        if e.type == "account.subscribed":
            name = e.data.get("pricebook")
            if isinstance(name, str) and name in books:
                return books[name]
    return books[default]


def rate_accounts(source: RatingSource, books: Mapping[str, PriceBook], default: str,
                  now: datetime, accounts: set[str] | None = None,
                  on_account: Callable[[], None] | None = None) -> list[Record]:
    """Invoice and plan-change candidates of every (selected) account, for cycles closed
    at `now`."""
    out: list[Record] = []
    for account in source.accounts():
        if accounts is not None and account not in accounts:
            continue
        events = source.control_events(account)
        book = book_of(events, books, default)
        until = now - timedelta(hours=book.lateness_hours)
        out += candidates(AccountRater(book, account, events, until).run(source))
        if on_account is not None:
            on_account()
    return out


def closing_time(client: Any, db: str, consumer: str, events_topic: str,
                 end_offsets: Mapping[int, int], now: datetime) -> datetime:
    """How far the cycles can be closed: `now`, held back to the stream's watermark while
    a partition of the events topic is not fully ingested. A replay of an old log into an
    empty ClickHouse (or a pipeline catching up) must not close a cycle whose events are
    still on their way: a partition counts as ingested up to `now` once the sink recorded
    every offset Kafka had when the run started, else up to the newest record time of
    what it ingested (the stream rejects records later than a cycle's end + lateness, so
    nothing can still arrive for a cycle closed by record time)."""
    rows = client.query(
        f"SELECT partition, next_offset, watermark FROM {db}.ingest_progress FINAL "  # noqa: S608
        "WHERE consumer = {c:String} AND topic = {t:String}",
        parameters={"c": consumer, "t": events_topic}).result_rows
    seen = {int(p): (int(o), _utc(w)) for p, o, w in rows}
    held = now
    for partition, end in end_offsets.items():
        if end <= 0:
            continue
        offset, mark = seen.get(partition, (0, datetime(1970, 1, 1, tzinfo=UTC)))
        if offset < end:
            held = min(held, mark)
    return held


def log_fingerprint(client: Any, db: str) -> tuple[int, str]:
    """Changes whenever the usage log or the recorded invoices change."""
    rows = client.query(
        f"SELECT (SELECT count() FROM {db}.usage_log), "  # noqa: S608
        f"toString((SELECT max(ingested_at) FROM {db}.usage_log)), "
        f"(SELECT count() FROM {db}.invoices) + (SELECT count() FROM {db}.plan_changes)"
    ).result_rows
    count, latest, recorded = rows[0]
    return int(count) + int(recorded), str(latest)


def issued_ids(client: Any, db: str) -> set[str]:
    invoices = client.query(f"SELECT invoice_id FROM {db}.invoices FINAL").result_rows  # noqa: S608
    changes = client.query(f"SELECT id FROM {db}.plan_changes FINAL").result_rows  # noqa: S608
    return {r[0] for r in invoices} | {r[0] for r in changes}


def project(client: Any, db: str, books: Mapping[str, PriceBook], default: str,
            now: datetime) -> list[Record]:
    """One projector run: the candidates not recorded yet, in a deterministic order."""
    done = issued_ids(client, db)
    proposed = rate_accounts(LogSource(client, db), books, default, now)
    fresh = [c for c in proposed if c.get("invoice_id", c.get("id")) not in done]
    return sorted(fresh, key=lambda c: (str(c.get("issued_at") or c.get("effective")),
                                        c["account"], c.get("invoice_id", c.get("id"))))
