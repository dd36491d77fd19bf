"""Re-rating closed cycles from the usage log in ClickHouse (billing operations).

`rerate` rates the selected accounts from a `log_source.LogSource` exactly as the
projector does (the cycle views; an account's events only where the views cannot answer),
optionally under another price book, and compares each selected cycle invoice with the
latest revision issued (read from `billing.invoices`). Where they differ it proposes
revision N+1: its lines are the difference (credit and debit adjustments, summing to the
change), it carries the full re-rated lines and both totals, and it goes to the ledger like
every invoice (numbered in the `REV-<year>` series, published as `invoice.revised`). The
same log under the same price book proposes nothing.

`rerating_source` builds that source with what re-rating adds to the live log:
- late events: the records the stream rejected as `too_late` or `processing_error` (kept
  raw in `rejected_events`) go through the decision core (`core.batch.Core`) with no
  lateness limit,
  after the account's account events rebuilt from the log, in input-offset order (an event
  that came too late for the live invoice counts now: that is what re-rating is for);
- another price book whose SMS credit rates differ: `sms.sent` events are re-derived
  (their stored data keeps destination, channel, direction, status and segment count).
`replay_log` replays the events topic itself through the decision core: the oracle the
tests hold the ClickHouse path to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from core.batch import Core, DictStore
from core.derive import derive, rules_for
from core.process import Deduplicator, Policy
from core.validate import RecordMeta
from infra.topics import read_to_end
from pricing.invoice import Invoice, InvoiceLine, invoice_difference
from pricing.pricebook import PriceBook
from projections.aggregate_rows import utc
from projections.invoicing import Record, invoice_id, series_of
from projections.log_source import LogSource, load_events
from projections.memory import MemoryAggregator
from projections.offline_rating import RatingSource
from projections.projector import rate_accounts
from schemas import events as ev
from schemas.records import MeteredEvent

NO_LATENESS = Policy(allowed_lateness=timedelta(days=36_500))


def replay_log(bootstrap: str, topic: str, book: PriceBook,
               on_record: Callable[[], None] | None = None) -> MemoryAggregator:
    """The events topic through `process_record`, late events included."""
    core = Core(DictStore(), rules_for(book), NO_LATENESS, Deduplicator(capacity=10**9))
    aggregator = MemoryAggregator()

    def one(record: Any) -> None:
        meta = RecordMeta(record.topic, record.partition, record.offset,
                          datetime.fromtimestamp(record.timestamp / 1000, UTC))
        out = core.decide(record.value or b"", meta, record.key)
        if out.metered is not None:
            aggregator.add(out.metered)
        if on_record is not None:
            on_record()

    read_to_end(bootstrap, topic, one)
    return aggregator


def _envelope(e: MeteredEvent) -> bytes:
    return orjson.dumps({"specversion": "1.0", "id": e.id, "source": e.source, "type": e.type,
                         "subject": e.account, "time": e.time.isoformat(), "data": e.data})


def late_events(client: Any, db: str, book: PriceBook) -> dict[str, list[MeteredEvent]]:
    """The records rejected as too late (or by a processing error), decided again without
    a lateness limit."""
    late: dict[str, list[tuple[int, int, datetime, bytes]]] = defaultdict(list)
    for account, part, off, received, raw in client.query(
            f"SELECT account, src_partition, src_offset, received_at, raw "  # noqa: S608
            f"FROM {db}.rejected_events FINAL "
            "WHERE reason IN ('too_late', 'processing_error') "
            "ORDER BY account, src_partition, src_offset").result_rows:
        late[account].append((int(part), int(off), utc(received), raw.encode()
                              if isinstance(raw, str) else raw))
    if not late:
        return {}
    control = load_events(client, db, "type LIKE 'account.%' AND has({a:Array(String)}, "
                          "account)", {"a": sorted(late)})
    rules, out = rules_for(book), defaultdict(list)
    for account, records in late.items():
        merged = sorted([(e.partition, e.offset, e.received_at, _envelope(e))
                         for e in control.get(account, [])] + records)
        core = Core(DictStore(), rules, NO_LATENESS)
        for part, off, received, raw in merged:
            result = core.decide(raw, RecordMeta("late", part, off, received),
                                 account.encode())
            if result.metered is not None and not result.metered.type.startswith("account."):
                out[account].append(result.metered)
    return dict(out)


def sms_rederiver(book: PriceBook) -> Callable[[MeteredEvent], MeteredEvent]:
    """`sms.sent` meters under `book`'s credit rates (other events unchanged)."""
    rules = rules_for(book)

    def again(e: MeteredEvent) -> MeteredEvent:
        if e.type != "sms.sent":
            return e
        derived = derive(ev.SmsSent.model_validate(e.data), rules)
        return e.model_copy(update={"meters": derived.meters})
    return again


def rerating_source(client: Any, db: str, live: PriceBook,
                    override: PriceBook | None = None) -> LogSource:
    """The usage log, late events included, under `override`'s derivation if it differs."""
    book = override or live
    transform, rederived = None, set[str]()
    if override is not None and override.sms_rates != live.sms_rates:
        transform = sms_rederiver(override)
        rederived = {r[0] for r in client.query(
            f"SELECT DISTINCT account FROM {db}.usage_log "  # noqa: S608
            "WHERE type = 'sms.sent'").result_rows}
    return LogSource(client, db, extra=late_events(client, db, book), transform=transform,
                     from_events=rederived)


def issued_invoices(bootstrap: str, topic: str) -> dict[str, Record]:
    """Invoice documents published by the ledger, by invoice id (copies collapse)."""
    docs: dict[str, Record] = {}

    def one(record: Any) -> None:
        doc = orjson.loads(record.value)
        if doc.get("type") in ("invoice.issued", "invoice.revised"):
            docs[doc["invoice_id"]] = doc

    read_to_end(bootstrap, topic, one)
    return docs


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _invoice(account: str, lines: Iterable[Mapping[str, Any]], doc: Record) -> Invoice:
    return Invoice(account, _ts(doc["cycle_start"]) or datetime.min,
                   _ts(doc["cycle_end"]) or datetime.min, "cycle", doc["currency"],
                   tuple(InvoiceLine(ln["kind"], ln["product"], ln.get("meter"),
                                     Decimal(ln["quantity"]), Decimal(ln["unit_price"]),
                                     Decimal(ln["amount"]), ln.get("plan"),
                                     ln.get("description", ""), _ts(ln.get("period_start")),
                                     _ts(ln.get("period_end")))
                         for ln in lines))


@dataclass
class RerateResult:
    compared: int = 0
    revisions: list[Record] = field(default_factory=list)


def rerate(source: RatingSource, issued: Mapping[str, Record],
           books: Mapping[str, PriceBook], default: str, now: datetime,
           cycle_start: datetime | None = None, accounts: set[str] | None = None,
           override: PriceBook | None = None,
           on_account: Callable[[], None] | None = None) -> RerateResult:
    """Revisions for the selected cycle invoices whose re-rating differs."""
    if override is not None:
        books, default = {override.name: override, **{k: override for k in books}}, \
            override.name
    fresh = {(c["account"], c["cycle_start"], c["cycle_end"]): c
             for c in rate_accounts(source, books, default, now, accounts, on_account)
             if "invoice_id" in c and c["kind"] == "cycle"}
    latest: dict[tuple[str, str, str], Record] = {}
    for inv in issued.values():
        key = (inv["account"], inv["cycle_start"], inv["cycle_end"])
        if inv["kind"] == "cycle" and (key not in latest or
                                       inv.get("revision", 0) > latest[key].get("revision", 0)):
            latest[key] = inv
    result = RerateResult()
    for key, old in sorted(latest.items()):
        account, start, _ = key
        if (accounts is not None and account not in accounts) or \
                (cycle_start is not None and _ts(start) != cycle_start) or key not in fresh:
            continue
        result.compared += 1
        new = fresh[key]
        before = _invoice(account, old.get("rerated_lines") or old["lines"], old)
        after = _invoice(account, new["lines"], new)
        diff = invoice_difference(before, after)
        if not diff:
            continue
        revision = int(old.get("revision", 0)) + 1
        doc: Record = {
            "record": "invoice", "account": account, "kind": "cycle", "revision": revision,
            "cycle_start": start, "cycle_end": key[2],
            "issued_at": now.isoformat().replace("+00:00", "Z"),
            "pricebook": new["pricebook"], "currency": new["currency"],
            "lines": [ln.to_json_dict() for ln in diff],
            "total": format(sum((ln.amount for ln in diff), Decimal("0.00")), "f"),
            "rerated_lines": new["lines"], "rerated_total": new["total"],
            "previous_total": old.get("rerated_total", old["total"]),
            "usage": new.get("usage", {}),
            "replaces": old["invoice_id"],
        }
        doc["invoice_id"], doc["series"] = invoice_id(doc), series_of(doc)
        result.revisions.append(doc)
    return result


def publish_revisions(bootstrap: str, topic: str, revisions: list[Record]) -> None:
    """Propose revisions to the ledger (the candidates topic), acknowledged by Kafka."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        futures = [producer.send(topic, key=r["account"].encode(), value=orjson.dumps(r))
                   for r in revisions]
        producer.flush(timeout=60)
        for f in futures:
            f.get(timeout=60)
    finally:
        producer.close()
