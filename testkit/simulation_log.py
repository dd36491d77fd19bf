"""A small usage log for price simulations, written into a real chdb (tests).

Twelve accounts on `email-7k` (marketing_tiers), subscribed on 2025-01-05, send e-mail
every day to the end of June: four of them (`BIG`) 1,500 a day (about 45,000 a cycle), the
others 100 to 300. The log goes through the pipeline's decision (`read_log`) and the sink's
writer. `cycles_in_period` and `emails_in` answer from the generator alone (the
independent side of the simulation tests), never from the rater.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pricing.pricebook_loader import load_pricebook
from projections.client import open_client
from projections.ddl import migrate
from projections.offline_log import read_log
from projections.settings import ClickHouseSettings
from projections.sink import ClickHouseSink

NOW = datetime(2025, 7, 10, tzinfo=UTC)
ACCOUNTS = [f"sim-{i:02d}" for i in range(12)]
BIG = set(ACCOUNTS[:4])
ANCHOR = date(2025, 1, 5)
LAST_DAY = date(2025, 6, 30)


def _daily(account: str, day: date) -> int:
    i = ACCOUNTS.index(account)
    return 1_500 if account in BIG else 100 + (i * 7 + day.toordinal()) % 201


def log_lines() -> list[bytes]:
    lines: list[dict[str, Any]] = []
    for account in ACCOUNTS:
        lines.append({"specversion": "1.0", "id": f"{account}-sub", "source": "app",
                      "type": "account.subscribed", "subject": account,
                      "time": "2025-01-05T00:00:00Z",
                      "data": {"product": "email", "plan": "email-7k"}})
    day = ANCHOR
    while day <= LAST_DAY:
        for account in ACCOUNTS:
            lines.append({"specversion": "1.0", "id": f"{account}-{day}", "source": "app",
                          "type": "email.sent", "subject": account,
                          "time": f"{day}T12:00:00Z",
                          "data": {"count": _daily(account, day)}})
        day += timedelta(days=1)
    return [json.dumps(line).encode() for line in lines]


def cycles_in_period(start: date, end: date) -> list[tuple[date, date]]:
    """The monthly cycles from the 5th, starting inside [start, end) (independent)."""
    out: list[tuple[date, date]] = []
    month = (ANCHOR.year, ANCHOR.month)
    while True:
        first = date(month[0], month[1], 5)
        nxt = date(month[0] + month[1] // 12, month[1] % 12 + 1, 5)
        if first >= end:
            return out
        if first >= start:
            out.append((first, nxt))
        month = (nxt.year, nxt.month)


def emails_in(account: str, cycle: tuple[date, date]) -> int:
    day, total = cycle[0], 0
    while day < cycle[1] and day <= LAST_DAY:
        total += _daily(account, day)
        day += timedelta(days=1)
    return total


def load_log(root: Path) -> tuple[Any, str]:
    """The log decided and written into a new chdb under `root`: (client, database)."""
    settings = ClickHouseSettings(dsn=f"chdb://{root / 'chdb'}")
    client = open_client(settings)
    migrate(client, settings)
    book = load_pricebook("marketing_tiers")
    aggregator, summary = read_log(log_lines(), book, fallback=NOW)
    assert summary.accepted == len(log_lines()) and not summary.rejections
    events = aggregator.events()
    ClickHouseSink(client, settings.database, "sim").write_metered(
        "usage", 0, events[0].offset, events[-1].offset, events)
    return client, settings.database
