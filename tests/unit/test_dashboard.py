"""The dashboard's server side with TestClient: the static pages (no data, strict CSP),
invoice documents (HTML and PDF, read right on the account), the operator status (key
with read "*", cached, blocking read in a thread, 503 when the broker fails)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_api
from api.feeds import Feeds
from api.keys import ApiKey, KeyStore
from api.ops import LagRow, RejectedCount
from infra.clock import FixedClock
from pricing.book_diff import BookChange
from pricing.simulation import (
    Rated,
    RatedChange,
    RatedCharge,
    SimulationReport,
    SimulationRequest,
    SimulationResult,
    compare,
)
from projections.invoice_format import money
from schemas.records import Alert, Decision
from tests.unit.helpers import invoice_doc
from tests.unit.test_api_http import CTX, NOW, TOPICS, DictView, FakeProducer, acme_state

KEYS = {"acme-reader": ("k-acme", ["acme"]), "globex-reader": ("k-globex", ["globex"]),
        "ops": ("k-ops", ["*"])}
ALERT = {"account": "acme", "product": "email", "plan": "email-7k", "meter": "email.sent",
         "kind": "threshold", "level": "56000", "value": "56000", "limit": "70000",
         "crossed_at": "2026-03-05T00:00:00Z", "cycle_start": "2026-03-01T00:00:00Z",
         "cycle_end": "2026-04-01T00:00:00Z", "projected": "0",
         "projected_overage_cost": "0", "currency": "USD"}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


def fill(feeds: Feeds) -> None:
    """acme's alerts (80% crossed on 5 March, a forecast), one decision, one invoice."""
    for n, (threshold, crossed, value) in enumerate([("80%", "2026-03-05T00:00:00Z", "56000"),
                                                     ("forecast", "2026-03-07T00:00:00Z",
                                                      "61000")]):
        alert = Alert.model_validate({**ALERT, "id": f"a{n}", "threshold": threshold,
                                      "crossed_at": crossed, "value": value, "offset": n})
        feeds.apply(TOPICS.alerts, alert.model_dump_json().encode())
    decision = Decision.model_validate({
        "id": "d1", "account": "acme", "product": "email", "meter": "email.sent",
        "kind": "flex.purchased", "reason": "limit_reached", "plan": "email-7k",
        "target_plan": "email-8k", "limit": "80000", "cost": "120.50",
        "at": "2026-03-08T09:30:00Z", "cycle_start": "2026-03-01T00:00:00Z",
        "cycle_end": "2026-04-01T00:00:00Z"})
    feeds.apply(TOPICS.decisions, decision.model_dump_json().encode())
    broken = {**invoice_doc(number="INV-2026-000009"), "total": 12.5}  # off the contract
    for doc in (invoice_doc(), invoice_doc("globex", "INV-2026-000008"), broken):
        feeds.apply(TOPICS.invoices, json.dumps(doc).encode())


@dataclass
class FakeOps:
    """The broker's answer; counts the reads and the threads they ran in."""

    calls: int = 0
    threads: list[str] = field(default_factory=list)
    fail: bool = False

    def __call__(self) -> tuple[list[LagRow], list[RejectedCount]]:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise ConnectionError("broker down")
        return ([LagRow(group="metering-processor", topic="t.usage.events", partition=p,
                        committed=100 * p, end=100 * p + 7 * p, lag=7 * p) for p in range(3)],
                [RejectedCount(reason="unknown_type", count=12),
                 RejectedCount(reason="duplicate", count=3)])


SIM_ID = "5f0c1d2e-0000-4000-8000-000000000001"


def sim_report() -> SimulationReport:
    """Two months, three accounts: the candidate bills a-1 $10 less a month, a-2 $25 more
    in February (a flex purchase it would make), a-3 the same."""
    def rated(fees: dict[tuple[str, str], str], changes: list[RatedChange]) -> Rated:
        return Rated(charges=[RatedCharge(account=a, month=m, product="email",
                                          plan="email-7k", amount=Decimal(v))
                              for (a, m), v in fees.items()], changes=changes)
    base = {(a, m): "7000.00" for a in ("a-1", "a-2", "a-3") for m in ("2025-01", "2025-02")}
    cheaper = {**base, ("a-1", "2025-01"): "6990.00", ("a-1", "2025-02"): "6990.00",
               ("a-2", "2025-02"): "7025.00"}
    flex = RatedChange(account="a-2", kind="limit_decision",
                       at=datetime(2025, 2, 20, tzinfo=UTC),
                       description="email: flex at email.sent limit 70000 (email-7k -> "
                                   "email-8k), cost 25.00")
    return compare(SIM_ID, rated(base, []), rated(cheaper, [flex]),
                   current_book="marketing_tiers@2025.1", candidate_book="marketing_tiers@c1",
                   from_month="2025-01", to_month="2025-02",
                   rated_at=datetime(2025, 3, 15, tzinfo=UTC), currency="USD",
                   book_changes=[BookChange(path="products.email.plans.email-7k.fee",
                                            kind="changed", before="7000", after="6990")])


@dataclass
class FakeSimulations:
    """The queue: requests kept, results as set by the test (one done at the start)."""

    submitted: list[SimulationRequest] = field(default_factory=list)
    results: dict[str, SimulationResult] = field(default_factory=dict)
    fail: bool = False

    def __post_init__(self) -> None:
        self.results[SIM_ID] = SimulationResult(id=SIM_ID, status="done",
                                                finished_at=NOW, report=sim_report())

    def submit(self, request: SimulationRequest) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.submitted.append(request)

    def result(self, simulation_id: str) -> SimulationResult | None:
        return self.results.get(simulation_id)


def dashboard_app(ops: FakeOps, ttl_s: float = 60.0,
                  simulations: FakeSimulations | None = None) -> tuple[FastAPI, Feeds]:
    store = KeyStore(ApiKey(name=name, sha256=hashlib.sha256(key.encode()).hexdigest(),
                            read=read) for name, (key, read) in KEYS.items())
    feeds = Feeds("unused:9092", TOPICS)
    fill(feeds)
    producer = FakeProducer()
    app = create_api(DictView({"acme": acme_state()}), lambda: producer, CTX, FixedClock(NOW),
                     keys=store, feeds=feeds, ops=ops, ops_ttl_s=ttl_s,
                     simulations=simulations or FakeSimulations())
    return app, feeds


@pytest.fixture
def ops() -> FakeOps:
    return FakeOps()


@pytest.fixture
def client(ops: FakeOps) -> Iterator[TestClient]:
    with TestClient(dashboard_app(ops)[0]) as c:
        yield c


def test_pages_are_static_need_no_key_and_allow_only_our_script(client: TestClient) -> None:
    for path, page in (("/dashboard/accounts/acme", "account"), ("/dashboard/ops", "ops")):
        r = client.get(path)
        assert r.status_code == 200 and f'data-page="{page}"' in r.text
        assert '<script defer src="/dashboard/static/dashboard.js"></script>' in r.text
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["Referrer-Policy"] == "no-referrer"
    # the account in the path is never written into the page
    r = client.get("/dashboard/accounts/%3Cimg%20src=x%20onerror=alert(1)%3E")
    assert r.status_code == 200 and "alert(1)" not in r.text
    js = client.get("/dashboard/static/dashboard.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "sessionStorage" in js.text
    assert ".innerHTML" not in js.text and "insertAdjacentHTML" not in js.text
    assert "Authorization" in js.text
    assert "font-family" in client.get("/dashboard/static/dashboard.css").text
    assert "/dashboard" not in str(client.get("/openapi.json").json()["paths"])


def test_an_invoice_renders_as_html_and_pdf_for_a_reader_of_its_account(
        client: TestClient) -> None:
    r = client.get("/v1/accounts/acme/invoices/INV-2026-000007.html",
                   headers=bearer("acme-reader"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "INV-2026-000007" in r.text and "acme" in r.text
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert money(Decimal(invoice_doc()["total"]), "USD") in r.text
    r = client.get("/v1/accounts/acme/invoices/inv-INV-2026-000007.pdf",  # by invoice id
                   headers=bearer("acme-reader"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and len(r.content) > 1000
    assert 'filename="inv-INV-2026-000007.pdf"' in r.headers["Content-Disposition"]


def test_invoice_documents_are_scoped_by_the_read_right(client: TestClient) -> None:
    for ext in ("html", "pdf"):
        r = client.get(f"/v1/accounts/acme/invoices/INV-2026-000007.{ext}",
                       headers=bearer("globex-reader"))
        assert (r.status_code, r.json()["reason"]) == (403, "account_not_readable")
        r = client.get(f"/v1/accounts/acme/invoices/INV-2026-000007.{ext}")
        assert (r.status_code, r.json()["reason"]) == (401, "missing_api_key")
    # globex's invoice is not found under acme, even by a key that may read acme
    r = client.get("/v1/accounts/acme/invoices/INV-2026-000008.html",
                   headers=bearer("acme-reader"))
    assert (r.status_code, r.json()["reason"]) == (404, "unknown_invoice")
    r = client.get("/v1/accounts/globex/invoices/INV-2026-000008.html",
                   headers=bearer("globex-reader"))
    assert r.status_code == 200 and "INV-2026-000008" in r.text


def test_an_invoice_document_off_the_contract_is_a_reasoned_422(client: TestClient) -> None:
    """The documents read the typed record: a stored one that is not is refused, naming
    the field, never a 500 nor half a page."""
    for ext in ("html", "pdf"):
        r = client.get(f"/v1/accounts/acme/invoices/INV-2026-000009.{ext}",
                       headers=bearer("acme-reader"))
        assert (r.status_code, r.json()["reason"]) == (422, "invalid_invoice_document")
        assert "total" in r.json()["error"]


def test_ops_status_needs_read_on_every_account_and_is_cached(client: TestClient,
                                                              ops: FakeOps) -> None:
    r = client.get("/v1/ops/status", headers=bearer("acme-reader"))
    assert (r.status_code, r.json()["reason"]) == (403, "ops_not_readable")
    assert client.get("/v1/ops/status").status_code == 401
    assert ops.calls == 0
    r = client.get("/v1/ops/status", headers=bearer("ops"))
    assert r.status_code == 200
    body = r.json()
    assert body["read_at"] == "2026-03-10T12:00:00Z"
    assert [(x["partition"], x["committed"], x["end"], x["lag"]) for x in body["lag"]] == \
        [(0, 0, 0, 0), (1, 100, 107, 7), (2, 200, 214, 14)]
    assert body["rejected"] == [{"reason": "unknown_type", "count": 12},
                                {"reason": "duplicate", "count": 3}]
    assert client.get("/v1/ops/status", headers=bearer("ops")).json() == body
    assert ops.calls == 1  # the second answer came from the cache
    assert ops.threads[0] != threading.main_thread().name  # the blocking read ran in a thread


def test_ops_status_is_503_when_the_broker_fails_and_the_failure_is_not_cached() -> None:
    ops = FakeOps(fail=True)
    with TestClient(dashboard_app(ops, ttl_s=0.0)[0]) as c:
        r = c.get("/v1/ops/status", headers=bearer("ops"))
        assert (r.status_code, r.json()["reason"]) == (503, "broker_unavailable")
        assert "broker down" in r.json()["error"]
        ops.fail = False
        r = c.get("/v1/ops/status", headers=bearer("ops"))
        assert r.status_code == 200 and r.json()["rejected"][0]["count"] == 12
    assert ops.calls == 2
