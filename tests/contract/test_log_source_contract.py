"""The projector's ClickHouse source rates exactly as the in-memory one (`metering rate`).

Each example log goes through the pipeline's decision (`read_log`), into a real chdb through
the sink's own writer, and is rated twice: from `LogSource` (cycle views; events read only
where the views cannot answer) and from `MemorySource`. The records must be identical. A
price book with other SMS rates is rated from the log with re-derived credits and must
equal reading the log again under that book.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pricing.pricebook import PriceBook, SmsRate
from pricing.pricebook_loader import load_pricebook
from projections.client import open_client
from projections.ddl import migrate
from projections.log_source import LogSource
from projections.memory import MemoryAggregator
from projections.offline_log import read_log
from projections.offline_rating import MemorySource
from projections.projector import rate_accounts
from projections.rerating import rerating_source
from projections.settings import ClickHouseSettings
from projections.sink import ClickHouseSink

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLES = [("carts_peak", "peak_carts"), ("flex_1000", "marketing_tiers"),
            ("sms_200_credits", "marketing_tiers"), ("storage_overage", "seats_storage"),
            ("seat_proration", "seats_storage")]


def _log(name: str, book: PriceBook) -> MemoryAggregator:
    lines = [ln.encode() for ln in (ROOT / "pricing" / "examples" / f"{name}.jsonl")
             .read_text().splitlines() if ln.strip()]
    aggregator, _ = read_log(lines, book, fallback=NOW)
    return aggregator


@pytest.fixture()
def clickhouse(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    settings = ClickHouseSettings(dsn=f"chdb://{tmp_path / 'chdb'}")
    client = open_client(settings)
    migrate(client, settings)
    yield client, settings.database
    client.close()


def _store(client: Any, db: str, aggregator: MemoryAggregator) -> None:
    events = aggregator.events()
    ClickHouseSink(client, db, "contract").write_metered("usage", 0, events[0].offset,
                                                         events[-1].offset, events)


@pytest.mark.parametrize(("name", "book_name"), EXAMPLES)
def test_log_source_rates_like_memory(clickhouse: tuple[Any, str], name: str,
                                      book_name: str) -> None:
    client, db = clickhouse
    book = load_pricebook(book_name)
    aggregator = _log(name, book)
    _store(client, db, aggregator)
    books = {book.name: book}
    expected = rate_accounts(MemorySource(aggregator), books, book.name, NOW)
    source = LogSource(client, db)
    assert expected and rate_accounts(source, books, book.name, NOW) == expected
    # the views answer every stream cycle: only a cycle that reached a limit (flex) or a
    # product cycle that is not a stream cycle reads events
    assert source.event_reads == (1 if name == "flex_1000" else 0)


def test_other_sms_rates_rederive_credits(clickhouse: tuple[Any, str]) -> None:
    client, db = clickhouse
    book = load_pricebook("marketing_tiers")
    _store(client, db, _log("sms_200_credits", book))
    rates = {c: SmsRate(sms=r.sms * 2, mms=r.mms) for c, r in book.sms_rates.items()}
    dearer = book.model_copy(update={"sms_rates": rates, "version": "2025.9"})
    expected = rate_accounts(MemorySource(_log("sms_200_credits", dearer)),
                             {dearer.name: dearer}, dearer.name, NOW)
    source = rerating_source(client, db, book, dearer)
    got = rate_accounts(source, {dearer.name: dearer}, dearer.name, NOW)
    assert got == expected
    usage = [r["usage"] for r in got if r.get("kind") == "cycle" and r["usage"]]
    assert any(u.get("sms.credits") == "400" for u in usage)  # 200 credits at twice the rate
