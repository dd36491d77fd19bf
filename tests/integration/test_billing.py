"""Close of cycle on the real broker and chdb: the projector's invoices equal `metering
rate`'s for scenarios of all four reference price books, exactly one invoice per id with
gap-free numbers although the projector runs every second and the sink is killed -9."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pricing.pricebook_loader import load_pricebook
from projections.expected_invoices import comparable, offline_invoices
from projections.offline_rating import MemorySource
from projections.projector import project
from projections.rerating import (
    RerateResult,
    issued_invoices,
    publish_revisions,
    replay_log,
    rerate,
    rerating_source,
)
from testkit.events import Sender
from testkit.pipeline import ROOT, Pipeline

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the clock: every example's cycles have closed
EXAMPLES = {"flex_1000": "marketing_tiers", "sms_200_credits": "marketing_tiers",
            "carts_peak": "peak_carts", "storage_overage": "seats_storage",
            "seat_proration": "seats_storage", "seat_plan_change": "seats_storage",
            "seat_annual_term": "seats_storage"}
PACKAGE = [  # package plans: a monthly fee and email overage
    ("account.subscribed", {"product": "package", "plan": "starter"}, "2025-04-01T00:00:00Z"),
    ("email.sent", {"count": 900_000}, "2025-04-10T00:00:00Z"),
    ("email.sent", {"count": 5}, "2025-05-02T00:00:00Z"),
]


def scenario() -> dict[str, list[dict[str, Any]]]:
    """Per price book, its events (subscriptions name their price book)."""
    logs: dict[str, list[dict[str, Any]]] = {}
    for name, book in EXAMPLES.items():
        for line in (ROOT / "pricing" / "examples" / f"{name}.jsonl").read_text().splitlines():
            if line.strip():
                doc = json.loads(line)
                if doc["type"] == "account.subscribed":
                    doc["data"]["pricebook"] = book
                logs.setdefault(book, []).append(doc)
    logs["package_plans"] = [
        {"specversion": "1.0", "id": f"pkg-{n}", "source": "app", "type": t,
         "subject": "acme-package", "time": at,
         "data": {**d, "pricebook": "package_plans"} if t == "account.subscribed" else d}
        for n, (t, d, at) in enumerate(PACKAGE)]
    return logs


def growth() -> list[dict[str, Any]]:
    """A package account over its 2,500 contacts: upgraded by the close of April."""
    sub = {"specversion": "1.0", "id": "grow-sub", "source": "app",
           "type": "account.subscribed", "subject": "acme-grows", "time": "2025-04-01T00:00:00Z",
           "data": {"product": "package", "plan": "starter", "pricebook": "package_plans"}}
    return [sub] + [
        {"specversion": "1.0", "id": f"grow-{n}", "source": "app", "type": "profile.added",
         "subject": "acme-grows", "time": f"2025-04-02T{n // 3600:02d}:{n // 60 % 60:02d}:"
         f"{n % 60:02d}Z", "data": {"profile_id": f"p{n}", "emailable": True}}
        for n in range(2_501)]


def offline(logs: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """`metering rate`'s invoices for the same logs (a cycle closes once its end plus the
    book's lateness has passed)."""
    return sorted(comparable(d) for d in offline_invoices(logs, NOW))


def test_live_invoices_equal_offline_and_are_numbered_once(bootstrap: str,
                                                          tmp_path: Path) -> None:
    logs = scenario()
    logs["package_plans"] += growth()
    expected = offline(logs)
    assert len(expected) >= 8
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK="fixed:2026-01-01T00:00:00Z",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1")
    s = Sender(bootstrap, p.prefix)
    try:
        p.start_worker()
        for docs in logs.values():
            for d in docs:
                s.send(d["subject"], d["type"], d["data"],
                       datetime.fromisoformat(d["time"].replace("Z", "+00:00")), eid=d["id"])
        s.flush()
        p.start_sink()  # after the log is in Kafka: a replay's old record times
        # would otherwise let an event reach a cycle the projector already closed
        p.wait_caught_up(timeout=120)
        time.sleep(2.5)  # the projector proposes while the ledger may be mid-batch
        assert p.sink is not None
        p.kill_worker(p.sink)  # kill -9 the ClickHouse owner (projector and ledger)
        p.start_sink()
        deadline = time.monotonic() + 90
        while True:
            p.wait_caught_up(timeout=120)
            time.sleep(3)  # at least two more projector runs after catching up
            p.wait_caught_up(timeout=120)
            client = p.clickhouse()
            rows = client.query(f"SELECT invoice_id, number, doc FROM {p.ch.database}.invoices"
                                ).result_rows  # no FINAL: every stored row counts
            history = client.query(
                f"SELECT number, account, total FROM {p.ch.database}.payment_history"
            ).result_rows
            changes = client.query(f"SELECT id, account, to_plan FROM {p.ch.database}."
                                   "plan_changes FINAL").result_rows
            fed_back = client.query(
                f"SELECT id, account, JSONExtractString(data, 'plan') FROM {p.ch.database}."
                "usage_log FINAL WHERE source = 'metering/projector'").result_rows
            client.close()
            if len({r[0] for r in rows}) >= len(expected) or time.monotonic() > deadline:
                break
            p.start_sink()
    finally:
        s.close()
        p.stop()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "an invoice was recorded twice"
    numbers = sorted(r[1] for r in rows)
    assert len(numbers) == len(set(numbers))
    by_series: dict[str, list[int]] = {}
    for n in numbers:
        series, seq = n.rsplit("-", 1)
        by_series.setdefault(series, []).append(int(seq))
    for seqs in by_series.values():
        assert seqs == list(range(1, len(seqs) + 1)), "numbers must be gap-free"
    live = sorted(comparable(json.loads(r[2])) for r in rows)
    assert live == expected
    # the downgrade credit of acme-plan is used up by April's and May's invoices
    credits = sorted((json.loads(d)["cycle_start"], json.loads(d)["credit_balance"])
                     for _, _, d in rows if '"credit_balance"' in d)
    assert credits[:2] == [("2025-03-01T00:00:00Z", "129.94"), ("2025-04-01T00:00:00Z", "0.00")]
    # the close of April upgraded acme-grows; the change went back into the log as an
    # account event the stream accepted (its live state follows), and rating ignored it;
    # acme-plan's two requested seat plan changes are recorded too
    assert sorted((a, plan) for _, a, plan in changes) == [
        ("acme-grows", "silver"), ("acme-plan", "professional"), ("acme-plan", "ultimate")]
    assert sorted(fed_back) == sorted(changes)
    assert len(history) == len(rows)
    assert all(isinstance(t, Decimal) for _, _, t in history)
    # rebuild every projection from the same log into an empty ClickHouse (new consumer
    # groups, new chdb directory): the same invoices, with the same numbers
    rebuilt_dir = tmp_path / "rebuild"
    rebuilt_dir.mkdir()
    r = Pipeline(bootstrap, rebuilt_dir, prefix=p.prefix,
                 METERING_CLOCK="fixed:2026-01-01T00:00:00Z",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1")
    try:
        r.start_sink()
        r.start_worker()
        deadline = time.monotonic() + 120
        again: list[tuple[Any, ...]] = []
        while len(again) < len(rows) and time.monotonic() < deadline:
            r.wait_caught_up(timeout=120)
            time.sleep(3)
            client = r.clickhouse()
            again = client.query(f"SELECT invoice_id, number, doc FROM {r.ch.database}."
                                 "invoices").result_rows
            client.close()
            r.start_sink()
    finally:
        r.stop()
    assert sorted((i, n, comparable(json.loads(d))) for i, n, d in again) == \
        sorted((i, n, comparable(json.loads(d))) for i, n, d in rows)


def _wait_issued(p: Pipeline, n: int, timeout: float = 90) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        issued = issued_invoices(p.bootstrap, p.topics.invoices)
        if len(issued) >= n or time.monotonic() > deadline:
            return issued
        time.sleep(0.5)


def _rerate(p: Pipeline, book: Any, issued: dict[str, dict[str, Any]],
            override: Any = None) -> RerateResult:
    """Re-rate from the sink's ClickHouse (the sink stops meanwhile), and check the result
    equals the oracle: replaying the events topic itself through the pipeline's decision."""
    books = {book.name: book}
    client = p.clickhouse()
    try:
        source = rerating_source(client, p.ch.database, book, override)
        result = rerate(source, issued, books, book.name, NOW, override=override)
    finally:
        client.close()
    p.start_sink()
    oracle = rerate(MemorySource(replay_log(p.bootstrap, p.topics.events, override or book)),
                    issued, books, book.name, NOW, override=override)
    assert (result.compared, result.revisions) == (oracle.compared, oracle.revisions)
    return result


def test_rerating_unchanged_late_event_and_price_change(bootstrap: str,
                                                         tmp_path: Path) -> None:
    book = load_pricebook("package_plans")
    flex = scenario()["package_plans"]  # starter plan: a fee and email overage
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK="fixed:2026-01-01T00:00:00Z",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1")
    s = Sender(bootstrap, p.prefix)
    try:
        p.start_worker()
        for d in flex:
            s.send(d["subject"], d["type"], d["data"],
                   datetime.fromisoformat(d["time"].replace("Z", "+00:00")), eid=d["id"])
        s.flush()
        p.start_sink()  # after the log is in Kafka: a replay's old record times
        # would otherwise let an event reach a cycle the projector already closed
        p.wait_caught_up(timeout=120)
        expected = len(offline({"package_plans": flex}))
        issued = _wait_issued(p, expected)
        cycles = [d for d in issued.values() if d["kind"] == "cycle"]
        assert len(issued) == expected and cycles
        # 1. the same log and book: nothing to revise
        same = _rerate(p, book, issued)
        assert same.compared == len(cycles) and same.revisions == []
        # 2. a late event (received long after its cycle closed): rejected live, kept in
        #    the log, and re-rating includes it in a revision of its cycle only
        s.send("acme-package", "email.sent", {"count": 100_000},
               datetime(2025, 4, 20, tzinfo=UTC), eid="late-1", received=NOW)
        s.flush()
        p.wait_caught_up(timeout=120)
        late = _rerate(p, book, issued)
        (rev,) = late.revisions
        assert rev["cycle_start"] == "2025-04-01T00:00:00Z" and rev["revision"] == 1
        assert Decimal(rev["total"]) == Decimal(rev["rerated_total"]) - \
            Decimal(rev["previous_total"]) == Decimal(100)  # 100 more blocks of 1,000 at $1
        publish_revisions(p.bootstrap, p.topics.invoice_candidates, late.revisions)
        issued = _wait_issued(p, expected + 1)
        revised = [d for d in issued.values() if d.get("revision") == 1]
        assert [d["number"] for d in revised] == ["REV-2026-000001"]
        again = _rerate(p, book, issued)
        assert again.revisions == []  # the revision is now the latest: nothing differs
        # 3. a corrected price book: every cycle on the changed plan gets a revision
        #    whose difference lines sum to the change
        plans = book.product("package").plans
        cheaper = [pl.model_copy(update={"fee": pl.fee - 10}) if pl.id == "starter" else pl
                   for pl in plans]
        products = [pr.model_copy(update={"plans": cheaper}) if pr.id == "package" else pr
                    for pr in book.products]
        corrected = book.model_copy(update={"products": products, "version": "2025.2"})
        priced = _rerate(p, book, issued, override=corrected)
        assert priced.revisions
        for r in priced.revisions:
            assert sum(Decimal(ln["amount"]) for ln in r["lines"]) == \
                Decimal(r["rerated_total"]) - Decimal(r["previous_total"])
            assert any(Decimal(ln["amount"]) == Decimal(-10) for ln in r["lines"])
    finally:
        s.close()
        p.stop()
    # the command billing operations run (the pipeline stopped: embedded ClickHouse)
    dry = subprocess.run([sys.executable, "-m", "cli.main", "rerate", "--dry-run",
                          "--account", "acme-package"], cwd=ROOT, env=p.env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert dry.returncode == 0, dry.stderr
    assert f"{len(cycles)} invoices compared, 0 differ (dry run" in dry.stderr


def test_sink_killed_mid_projector_run_issues_each_invoice_once(bootstrap: str,
                                                                 tmp_path: Path) -> None:
    """kill -9 of the sink the moment its projector has proposed (candidates in flight to
    the ledger), then a restart: every invoice exactly once, numbers gap-free; a projector
    run on the final state proposes nothing (run twice: nothing new)."""
    book = load_pricebook("package_plans")
    logs = [{**d, "id": f"{d['id']}-{n}", "subject": f"acme-{n:02d}"}
            for n in range(40) for d in scenario()["package_plans"]]
    expected = len(offline({"package_plans": logs}))
    assert expected == 40 * 9  # per account: the first fee and eight closed cycles
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK="fixed:2026-01-01T00:00:00Z",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1", METERING_LOG_LEVEL="INFO")
    s = Sender(bootstrap, p.prefix)
    try:
        p.start_worker()
        for d in logs:
            s.send(d["subject"], d["type"], d["data"],
                   datetime.fromisoformat(d["time"].replace("Z", "+00:00")), eid=d["id"])
        s.flush()
        p.start_sink()
        sink_log = tmp_path / "sink-1.log"
        deadline = time.monotonic() + 180
        while "projector.proposed" not in (sink_log.read_text(errors="replace")
                                           if sink_log.exists() else ""):
            assert time.monotonic() < deadline, "the projector never proposed"
            time.sleep(0.01)
        assert p.sink is not None
        p.kill_worker(p.sink)  # kill -9 mid-run: proposed, not (all) recorded
        client = p.clickhouse()
        at_kill = client.query(f"SELECT count() FROM {p.ch.database}.invoices").result_rows
        client.close()
        assert at_kill[0][0] < expected
        p.start_sink()
        deadline = time.monotonic() + 180
        while True:
            p.wait_caught_up(timeout=120)
            time.sleep(3)
            client = p.clickhouse()
            rows = client.query(f"SELECT invoice_id, number, account, kind, cycle_start "
                                f"FROM {p.ch.database}.invoices").result_rows
            if len(rows) >= expected or time.monotonic() > deadline:
                again = project(client, p.ch.database, {book.name: book}, book.name, NOW)
                client.close()
                break
            client.close()
            p.start_sink()
    finally:
        s.close()
        p.stop()
    assert len(rows) == expected and len({r[0] for r in rows}) == expected
    cycles = [(a, start) for _, _, a, kind, start in rows if kind == "cycle"]
    assert len(cycles) == len(set(cycles)) == 40 * 8  # one invoice per account-cycle
    seqs = sorted(int(r[1].rsplit("-", 1)[1]) for r in rows if r[1].startswith("INV-2025"))
    assert seqs == list(range(1, len(seqs) + 1)), "numbers must be gap-free"
    assert again == []
