"""`metering rate` against the independent billing oracle (testkit/billing_oracle.py) on
seeded workloads over all four reference books: every invoice equal to the cent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from projections.expected_invoices import offline_invoices
from testkit.billing_oracle import Bill, oracle_bills, when
from testkit.billing_workload import NOW, billing_workload


def project_bills(invoices: list[dict[str, Any]]) -> list[Bill]:
    return sorted(Bill(d["account"], d["kind"], when(d["cycle_start"]), when(d["cycle_end"]),
                       Decimal(d["total"])) for d in invoices)


def keys(bills: list[Bill]) -> list[tuple[Any, ...]]:
    return sorted(b.key() for b in bills)


@pytest.mark.parametrize("seed", range(6))
def test_metering_rate_bills_what_the_oracle_bills(seed: int) -> None:
    logs = billing_workload(seed)
    expected = keys(oracle_bills([d for docs in logs.values() for d in docs], NOW))
    assert len(expected) >= 30
    assert keys(project_bills(offline_invoices(logs, NOW))) == expected
