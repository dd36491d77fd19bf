"""Price simulation (`metering simulate`) on the real ClickHouse engine (chdb).

A log of twelve accounts on `email-7k` (marketing_tiers), subscribed on 2025-01-05, sending
e-mail every day to the end of June, goes through the pipeline's decision (`read_log`) into
chdb through the sink's writer. Four accounts send 1,500 e-mails a day (about 45,000 a
cycle), the others 100 to 300. The expectations come from the log as generated, never
from the rater: the number of cycles per account in the period, and which accounts send
more than a lowered limit in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from pricing.book_diff import book_changes
from pricing.pricebook import PriceBook
from pricing.pricebook_loader import load_pricebook
from pricing.simulation import SimulationError, SimulationReport
from projections.simulation import Period, simulate
from testkit.simulation_log import ACCOUNTS, BIG, NOW, cycles_in_period, emails_in, load_log


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    client, db = load_log(tmp_path_factory.mktemp("simulation"))
    yield client, db
    client.close()


def _with_plan(book: PriceBook, plan_id: str, **update: Any) -> PriceBook:
    products = []
    for product in book.products:
        plans = []
        for p in product.plans:
            if p.id == plan_id:
                limits = {**p.limits, **update.pop("limits", {})}
                p = p.model_copy(update={**update, "limits": limits})
            plans.append(p)
        products.append(product.model_copy(update={"plans": plans}))
    return book.model_copy(update={"products": products, "version": "candidate"})


def _run(clickhouse: tuple[Any, str], candidate: PriceBook,
         from_month: str = "2025-01", to_month: str = "2025-06") -> SimulationReport:
    client, db = clickhouse
    book = load_pricebook("marketing_tiers")
    return simulate(client, db, {book.name: book}, book.name, candidate, NOW,
                    Period.of(from_month, to_month), "test")


def test_an_unchanged_book_simulates_to_no_difference(clickhouse: Any) -> None:
    report = _run(clickhouse, load_pricebook("marketing_tiers"))
    assert report.book_changes == []
    assert [a.account for a in report.accounts] == ACCOUNTS
    assert report.total.before > 0 and report.total.difference == 0
    assert all(m.difference == 0 and m.before > 0 for m in report.months)
    assert all(p.difference == 0 for p in report.plans)
    assert all(a.difference == 0 and not a.changes for a in report.accounts)
    assert report.top_gain == [] and report.top_loss == []
    assert [m.month for m in report.months] == [f"2025-0{m}" for m in range(1, 7)]


def test_a_fee_ten_dollars_lower_is_minus_ten_per_account_and_cycle(clickhouse: Any) -> None:
    book = load_pricebook("marketing_tiers")
    candidate = _with_plan(book, "email-7k", fee=book.product("email").plan("email-7k").fee
                           - 10)
    report = _run(clickhouse, candidate, "2025-02", "2025-05")
    cycles = cycles_in_period(date(2025, 2, 1), date(2025, 6, 1))
    assert len(cycles) == 4
    for a in report.accounts:
        assert a.difference == Decimal(-10) * len(cycles), a
    for m in report.months:
        assert m.difference == Decimal(-10) * len(ACCOUNTS)
    assert report.total.difference == Decimal(-10) * len(ACCOUNTS) * len(cycles)
    assert [(c.path, c.before, c.after) for c in report.book_changes] == [
        ("products.email.plans.email-7k.fee", "7000", "6990")]
    assert len(report.top_loss) == 10 and report.top_gain == []


def test_a_lower_send_limit_blocks_exactly_the_accounts_over_it(clickhouse: Any) -> None:
    limit = 20_000
    candidate = _with_plan(load_pricebook("marketing_tiers"), "email-7k",
                           limits={"email.sent": Decimal(limit)})
    report = _run(clickhouse, candidate)
    cycles = cycles_in_period(date(2025, 1, 1), date(2025, 7, 1))
    over = {(a, c[0]) for a in ACCOUNTS for c in cycles if emails_in(a, c) > limit}
    assert over and {a for a, _ in over} == BIG
    blocked = {(a.account, c.at.date()) for a in report.accounts for c in a.changes
               if c.status == "new" and " block " in c.description}
    assert {a for a, _ in blocked} == {a for a, _ in over}
    # one block per (account, cycle) over the limit, inside that cycle
    assert len(blocked) == len(over)
    assert all(not a.changes for a in report.accounts if a.account not in BIG)


def test_a_candidate_must_replace_a_deployment_book(clickhouse: Any) -> None:
    other = load_pricebook("marketing_tiers").model_copy(update={"name": "nobody"})
    with pytest.raises(SimulationError) as caught:
        _run(clickhouse, other)
    assert caught.value.reason == "unknown_book"
    with pytest.raises(SimulationError) as bad:
        Period.of("2025-06", "2025-01")
    assert bad.value.reason == "bad_period"


def test_book_changes_name_plans_added_removed_and_changed() -> None:
    book = load_pricebook("marketing_tiers")
    email = book.product("email")
    plans = [p for p in email.plans if p.id != "email-5k"]
    extra = email.plan("email-7k").model_copy(update={"id": "email-7k-plus", "fee": Decimal(7300)})
    changed = email.model_copy(update={"plans": [*plans, extra],
                                       "policies": ["none", "flex"]})
    candidate = book.model_copy(update={
        "products": [changed if p.id == "email" else p for p in book.products]})
    found = {(c.kind, c.path) for c in book_changes(book, candidate)}
    assert found == {("removed", "products.email.plans.email-5k"),
                     ("added", "products.email.plans.email-7k-plus"),
                     ("changed", "products.email.policies")}


