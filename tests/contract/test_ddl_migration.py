"""The one naming on a real chdb (issue 15, item 5): a database made before it, whose
`invoices` table names the cycle `period_start` / `period_end`, is migrated in place to
`cycle_start` / `cycle_end` with its rows intact; a new database is made with the new
names; migrating again changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from projections.client import open_client
from projections.ddl import migrate, statements
from projections.settings import ClickHouseSettings

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)


def _columns(client: Any, db: str) -> list[str]:
    rows = client.query("SELECT name FROM system.columns WHERE database = {db:String} "
                        "AND table = 'invoices' ORDER BY position",
                        parameters={"db": db}).result_rows
    return [r[0] for r in rows]


def test_old_invoices_columns_are_renamed_in_place(tmp_path: Path) -> None:
    settings = ClickHouseSettings(dsn=f"chdb://{tmp_path}/ch", database="old_db")
    client = open_client(settings)
    try:
        invoices = dict(statements(settings))["invoices"]
        old = invoices.replace("cycle_start", "period_start").replace("cycle_end", "period_end")
        assert "period_start DateTime" in old  # the table as databases before it have it
        client.command("CREATE DATABASE IF NOT EXISTS old_db")
        client.command(old)
        client.insert("old_db.invoices", [["inv-1", "INV-2025-000001", "INV-2025", 1, "acme",
                                           "cycle", 0, START, END, END, "USD", 7000, "b@1",
                                           "{}"]],
                      column_names=["invoice_id", "number", "series", "seq", "account", "kind",
                                    "revision", "period_start", "period_end", "issued_at",
                                    "currency", "total", "pricebook", "doc"])
        migrate(client, settings)
        columns = _columns(client, "old_db")
        assert "cycle_start" in columns and "cycle_end" in columns
        assert "period_start" not in columns and "period_end" not in columns
        row = client.query("SELECT invoice_id, cycle_start, cycle_end FROM old_db.invoices "
                           "FINAL").result_rows
        assert [(r[0], r[1].replace(tzinfo=UTC), r[2].replace(tzinfo=UTC)) for r in row] == [
            ("inv-1", START, END)]
        migrate(client, settings)  # again: nothing to do
        assert _columns(client, "old_db") == columns
        view = client.query("SELECT number, cycle_start FROM old_db.payment_history"
                            ).result_rows
        assert [r[0] for r in view] == ["INV-2025-000001"]
    finally:
        client.close()


@pytest.mark.parametrize("db", ["new_db"])
def test_a_new_database_names_the_cycle_once(tmp_path: Path, db: str) -> None:
    settings = ClickHouseSettings(dsn=f"chdb://{tmp_path}/ch", database=db)
    client = open_client(settings)
    try:
        migrate(client, settings)
        columns = _columns(client, db)
        assert columns[7:9] == ["cycle_start", "cycle_end"]
        assert not {"period_start", "period_end"} & set(columns)
    finally:
        client.close()
