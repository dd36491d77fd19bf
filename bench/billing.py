"""Close-of-cycle and re-rating benchmark on the real ClickHouse engine (chdb).

The usage log is written by ClickHouse itself (`INSERT ... SELECT FROM numbers(N)`): the
pipeline's row layout, `BENCH_RERATE_EVENTS` (10,000,000) `email.sent` events of 1-5
emails spread over one cycle of `BENCH_RERATE_ACCOUNTS` (10,000) accounts on `email-7k`
(marketing_tiers, 70,000 emails a cycle, policy none); one account in a hundred also sends
a campaign of 70,000 emails, so it reaches its limit and its cycle is rated from its events
(a `sending.blocked` decision). Kafka is not involved: both figures are the ClickHouse reads
and the rating.

Figures:
- close of cycle: one projector run (`projector.project`: views, control events, rating
  every account) plus the ledger numbering and writing the invoices and their lines;
- re-rating, unchanged: `rerating_source` + `rerate` of the closed cycle against those
  invoices (must propose 0 revisions);
- re-rating under a corrected price book (the plan's fee $10 lower): one revision per
  account, each summing to -$10;
- price simulation (`projections.simulation.simulate`) of the same corrected book over
  the cycle's month: both ratings (current and candidate) and the comparison, -$10 per
  account (asserted).
Events/s = events in the cycle / seconds. Results go to bench/results/billing-latest.json.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil

from pricing.pricebook import PriceBook
from pricing.pricebook_loader import load_pricebook
from projections.client import INSERT_SETTINGS, open_client
from projections.ddl import migrate
from projections.ledger import Ledger, invoice_rows, plan_row, record_batch
from projections.projector import project
from projections.rerating import rerate, rerating_source
from projections.settings import ClickHouseSettings
from projections.simulation import Period, simulate

EVENTS = int(os.environ.get("BENCH_RERATE_EVENTS", "10000000"))
ACCOUNTS = int(os.environ.get("BENCH_RERATE_ACCOUNTS", "10000"))
RESULTS = Path(__file__).resolve().parent / "results"
NOW = datetime(2025, 5, 12, tzinfo=UTC)  # the cycle [04-10, 05-10) has closed (24 h grace)
MAX = 18446744073709551615

SUBSCRIPTIONS = """
INSERT INTO {db}.usage_log (account, source, id, type, event_time, cycle_start, cycle_end,
    meters, kinds, quantities, dim, data, src_partition, src_offset, received_at, version)
SELECT concat('acct-', toString(number)), 'bench', concat('sub-', toString(number)),
    'account.subscribed', toDateTime64('2025-04-10 00:00:00', 6, 'UTC'),
    toDateTime('2025-04-10 00:00:00', 'UTC'), toDateTime('2025-05-10 00:00:00', 'UTC'),
    [], [], [], '',
    '{{"product":"email","plan":"email-7k","anchor":"2025-04-10","pricebook":"marketing_tiers"}}',
    number % 4, number, toDateTime64('2025-04-10 00:00:00', 3, 'UTC'), {max} - number
FROM numbers({{accounts:UInt64}})
"""

USAGE = """
INSERT INTO {db}.usage_log (account, source, id, type, event_time, cycle_start, cycle_end,
    meters, kinds, quantities, dim, data, src_partition, src_offset, received_at, version)
SELECT concat('acct-', toString(number % {{accounts:UInt64}})), 'bench', toString(number),
    'email.sent',
    toDateTime64('2025-04-10 00:00:01', 6, 'UTC')
        + toIntervalSecond(intDiv(number, {{accounts:UInt64}}) * {{step:UInt64}}),
    toDateTime('2025-04-10 00:00:00', 'UTC'), toDateTime('2025-05-10 00:00:00', 'UTC'),
    ['email.sent'], ['sum'], [toDecimal128(q, 9)], '', concat('{{"count":', toString(q), '}}'),
    number % 4, {{accounts:UInt64}} + number,
    toDateTime64('2025-04-10 00:00:01', 3, 'UTC')
        + toIntervalSecond(intDiv(number, {{accounts:UInt64}}) * {{step:UInt64}}),
    {max} - {{accounts:UInt64}} - number
FROM (SELECT number, if((number % {{accounts:UInt64}}) % 100 = 0
                           AND intDiv(number, {{accounts:UInt64}}) = {{campaign:UInt64}},
                        70000, 1 + number % 5) AS q FROM numbers({{events:UInt64}}))
"""


def load(client: Any, db: str) -> float:
    t0 = time.perf_counter()
    per_account = max(1, EVENTS // ACCOUNTS)
    params = {"accounts": ACCOUNTS, "events": EVENTS,
              "step": max(1, 30 * 86_400 // (per_account + 1)), "campaign": per_account // 2}
    client.command(SUBSCRIPTIONS.format(db=db, max=MAX), parameters=params,
                   settings=INSERT_SETTINGS)
    client.command(USAGE.format(db=db, max=MAX), parameters=params, settings=INSERT_SETTINGS)
    client.command(f"OPTIMIZE TABLE {db}.usage_log FINAL")
    return time.perf_counter() - t0


def close_cycle(client: Any, db: str, books: dict[str, PriceBook]) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    found = project(client, db, books, "marketing_tiers", NOW)
    ledger = Ledger()
    ledger.load(client, db)
    invoices, plans, docs = [], [], []
    for doc in found:
        if "invoice_id" in doc:
            number, new = ledger.assign(doc)
            doc = {**doc, "number": number}
            docs.append(doc)
            if new:
                invoices.append(invoice_rows(doc, number))
        else:
            plans.append(plan_row(doc))
    record_batch(client, db, "bench", invoices, plans, INSERT_SETTINGS)
    return time.perf_counter() - t0, docs


def corrected(book: PriceBook) -> PriceBook:
    products = []
    for product in book.products:
        plans = [p.model_copy(update={"fee": p.fee - 10}) if p.id == "email-7k" else p
                 for p in product.plans]
        products.append(product.model_copy(update={"plans": plans}))
    return book.model_copy(update={"products": products, "version": "bench-corrected"})


def rerate_run(client: Any, db: str, books: dict[str, PriceBook], issued: dict[str, Any],
               override: PriceBook | None) -> tuple[float, int, int, int]:
    t0 = time.perf_counter()
    source = rerating_source(client, db, books["marketing_tiers"], override)
    result = rerate(source, issued, books, "marketing_tiers", NOW,
                    cycle_start=datetime(2025, 4, 10, tzinfo=UTC), override=override)
    seconds = time.perf_counter() - t0
    for r in result.revisions:
        assert sum(Decimal(ln["amount"]) for ln in r["lines"]) == Decimal(-10)
    return seconds, result.compared, len(result.revisions), source.event_reads


def run() -> dict[str, Any]:
    """The billing figures (asserts that the re-ratings proposed what they must)."""
    book = load_pricebook("marketing_tiers")
    books = {book.name: book}
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ClickHouseSettings(dsn=f"chdb://{tmp}/chdb")
        client = open_client(settings)
        migrate(client, settings)
        db = settings.database
        load_s = load(client, db)
        rows = int(client.query(f"SELECT count() FROM {db}.usage_log").result_rows[0][0])
        close_s, docs = close_cycle(client, db, books)
        issued = {d["invoice_id"]: d for d in docs}
        cycles = sum(1 for d in docs if d["kind"] == "cycle")
        recorded = int(client.query(
            f"SELECT count() FROM {db}.invoices FINAL WHERE kind = 'cycle'").result_rows[0][0])
        same_s, same_compared, same_revisions, reads = rerate_run(client, db, books, issued,
                                                                  None)
        fee_s, fee_compared, fee_revisions, _ = rerate_run(client, db, books, issued,
                                                           corrected(book))
        t0 = time.perf_counter()
        report = simulate(client, db, books, book.name, corrected(book), NOW,
                          Period.of("2025-04", "2025-04"), "bench")
        simulate_s = time.perf_counter() - t0
        assert report.total.difference == Decimal(-10) * ACCOUNTS
        assert all(a.difference == Decimal(-10) for a in report.accounts)
        client.close()
    usage_events = rows - ACCOUNTS
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "memory_gb": round(psutil.virtual_memory().total / 1e9, 1)},
        "events": usage_events, "accounts": ACCOUNTS, "load_s": round(load_s, 1),
        "close_of_cycle": {"seconds": round(close_s, 2), "invoices": len(docs),
                           "cycle_invoices": cycles, "recorded_cycle_invoices": recorded},
        "rerate_unchanged": {"seconds": round(same_s, 2), "compared": same_compared,
                             "revisions": same_revisions, "accounts_read_as_events": reads,
                             "events_per_s": round(usage_events / same_s)},
        "rerate_fee_change": {"seconds": round(fee_s, 2), "compared": fee_compared,
                              "revisions": fee_revisions,
                              "events_per_s": round(usage_events / fee_s)},
        "simulate_fee_change": {"seconds": round(simulate_s, 2),
                                "accounts": len(report.accounts),
                                "difference": format(report.total.difference, "f"),
                                "events_per_s": round(usage_events / simulate_s)},
        # the bench process (chdb included); under `python -m bench` the peak is the whole
        # run's, the end-to-end phases' records included
        "rss_mb_end": round(proc.memory_info().rss / 1e6),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3),
    }
    assert same_revisions == 0 and fee_revisions == fee_compared == cycles
    return result


def main() -> None:
    result = run()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "billing-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
