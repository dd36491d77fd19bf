"""Compare the ClickHouse counter and peak views with the workload oracle: the cells that
differ (empty when exact). Shared by the chaos checker; the integration tests assert the
same comparison inline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from projections import queries
from testkit.workload import Workload

Cell = tuple[str, datetime, str]
"""(account, cycle start without tzinfo, meter)."""


def counter_cells(client: Any, db: str) -> dict[Cell, Decimal]:
    """Counters as the view has them; zero cells dropped except email.sent (a meter the
    view always lists for an account with email usage)."""
    got = {(a, c.replace(tzinfo=None), m): Decimal(v)
           for a, c, m, v, _ in queries.counters(db).rows(client)}
    return {k: v for k, v in got.items() if v != 0 or k[2] == "email.sent"}


def oracle_counter_cells(w: Workload) -> dict[Cell, Decimal]:
    return {(a, c.replace(tzinfo=None), m): v for (a, c, m), v in w.counters().items()
            if v != 0 or m == "email.sent"}


def peak_cells(client: Any, db: str) -> dict[Cell, tuple[Decimal, Decimal, Decimal]]:
    return {(a, c.replace(tzinfo=None), m): (Decimal(op), Decimal(pk), Decimal(end))
            for a, c, m, op, pk, end in queries.peaks(db).rows(client)}


def oracle_peak_cells(w: Workload) -> dict[Cell, tuple[Decimal, Decimal, Decimal]]:
    return {(a, c.replace(tzinfo=None), m): v for (a, c, m), v in w.peaks().items()}


def differences(got: dict[Cell, Any], expected: dict[Cell, Any]
                ) -> list[tuple[Cell, Any, Any]]:
    """(cell, got, expected) for every cell that differs or exists on one side only."""
    return [(k, got.get(k), expected.get(k)) for k in sorted(set(got) | set(expected))
            if got.get(k) != expected.get(k)]


def oracle_differences(client: Any, db: str, w: Workload
                       ) -> dict[str, list[tuple[Cell, Any, Any]]]:
    """Counter and peak cells of ClickHouse that differ from the oracle's."""
    return {"counters": differences(counter_cells(client, db), oracle_counter_cells(w)),
            "peaks": differences(peak_cells(client, db), oracle_peak_cells(w))}
