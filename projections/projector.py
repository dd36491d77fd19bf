"""The close-of-cycle projector: from the deduplicated usage log to invoice candidates.

One run (the sink's leader calls it on a timer, with an injected clock):
1. read the usage log (FINAL: every accepted event once) from ClickHouse;
2. per account, with the price book its subscription names (default: the configured
   one), rate exactly as `metering rate` does (`offline_rating.AccountRater` over the
   contract-tested in-memory aggregator: the product's own cycles — calendar-month
   storage, annual seat terms — cannot be read off the stream-cycle views), every cycle
   whose end plus the book's lateness has passed, and every immediate invoice (flex,
   upgrade difference, seat proration, first fees) older than that lateness, so a late
   event inside the lateness still counts;
3. drop what the `invoices` / `plan_changes` tables already hold, and return the rest as
   candidates (ids in `invoicing`); the ledger numbers and records them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from pricing.pricebook import PriceBook
from projections.invoicing import Record, candidates
from projections.memory import MemoryAggregator
from projections.offline_rating import AccountRater
from schemas.records import MeteredEvent, MeterValue

LOG_COLUMNS = ("account, source, id, type, event_time, cycle_start, cycle_end, meters, kinds, "
               "quantities, dim, data, src_partition, src_offset, received_at")


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def load_events(client: Any, db: str) -> dict[str, list[MeteredEvent]]:
    """Every accepted event, once, per account in (time, offset) order."""
    rows = client.query(f"SELECT {LOG_COLUMNS} FROM {db}.usage_log FINAL "  # noqa: S608
                        "ORDER BY account, event_time, src_partition, src_offset").result_rows
    out: dict[str, list[MeteredEvent]] = defaultdict(list)
    for (account, source, eid, etype, t, cs, ce, meters, kinds, qs, dim, data, part, off,
         received) in rows:
        out[account].append(MeteredEvent.model_construct(
            account=account, source=source, id=eid, type=etype, time=_utc(t),
            cycle_start=_utc(cs), cycle_end=_utc(ce),
            meters=[MeterValue.model_construct(meter=m, kind=k, quantity=Decimal(q))
                    for m, k, q in zip(meters, kinds, qs, strict=True)],
            dim=dim, data=orjson.loads(data), partition=part, offset=off,
            received_at=_utc(received)))
    return out


def book_of(events: list[MeteredEvent], books: Mapping[str, PriceBook],
            default: str) -> PriceBook:
    for e in events:
        if e.type == "account.subscribed":
            name = e.data.get("pricebook")
            if isinstance(name, str) and name in books:
                return books[name]
    return books[default]


def rate_accounts(events: Mapping[str, list[MeteredEvent]], books: Mapping[str, PriceBook],
                  default: str, now: datetime) -> list[Record]:
    """Invoice and plan-change candidates of every account, for cycles closed at `now`."""
    out: list[Record] = []
    for account in sorted(events):
        book = book_of(events[account], books, default)
        until = now - timedelta(hours=book.lateness_hours)
        aggregator = MemoryAggregator()
        aggregator.add_all(events[account])
        rater = AccountRater(book, account, aggregator.events(account), until)
        out += candidates(rater.run(aggregator))
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
    proposed = rate_accounts(load_events(client, db), books, default, now)
    fresh = [c for c in proposed if c.get("invoice_id", c.get("id")) not in done]
    return sorted(fresh, key=lambda c: (str(c.get("issued_at") or c.get("effective")),
                                        c["account"], c.get("invoice_id", c.get("id"))))
