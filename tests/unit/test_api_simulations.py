"""`/v1/simulations` with TestClient over a fake queue: rights, the candidate checked
before anything is queued (the loader's problems, the book it replaces, the period), the
queued request, pending / done / failed, the pictures, and a queue that cannot take it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pricing.simulation import SimulationResult
from tests.unit.test_api_http import NOW
from tests.unit.test_dashboard import SIM_ID, FakeOps, FakeSimulations, bearer, dashboard_app

BOOK_TEXT = (Path(__file__).resolve().parents[2] / "pricing" / "pricebooks" /
             "marketing_tiers.yaml").read_text()
CANDIDATE = BOOK_TEXT.replace("fee: 7000", "fee: 6990").replace('version: "2025.1"',
                                                                'version: "c1"')


@pytest.fixture
def queue() -> FakeSimulations:
    return FakeSimulations()


@pytest.fixture
def client(queue: FakeSimulations) -> Iterator[TestClient]:
    with TestClient(dashboard_app(FakeOps(), simulations=queue)[0]) as c:
        yield c


def ask(client: TestClient, key: str = "ops", **body: object) -> object:
    return client.post("/v1/simulations", headers=bearer(key), json={
        "pricebook": CANDIDATE, "from_month": "2025-01", "to_month": "2025-06", **body})


def test_a_simulation_is_queued_with_the_books_changes_and_followed(
        client: TestClient, queue: FakeSimulations) -> None:
    r = ask(client)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending" and body["current"] == "marketing_tiers@2025.1"
    assert body["candidate"] == "marketing_tiers@c1"
    assert [(c["path"], c["before"], c["after"]) for c in body["book_changes"]] == [
        ("products.email.plans.email-7k.fee", "7000", "6990")]
    (request,) = queue.submitted
    assert request.id == body["id"] and request.requested_by == "ops"
    assert request.pricebook == CANDIDATE and request.requested_at == NOW
    assert client.get(f"/v1/simulations/{body['id']}", headers=bearer("ops")).json() == {
        "id": body["id"], "status": "pending", "report": None, "reason": None, "detail": None}
    queue.results[body["id"]] = SimulationResult(id=body["id"], status="failed",
                                                 finished_at=NOW, reason="bad_period",
                                                 detail="no")
    failed = client.get(f"/v1/simulations/{body['id']}", headers=bearer("ops")).json()
    assert failed["status"] == "failed" and failed["reason"] == "bad_period"


def test_a_done_simulation_has_its_report_and_pictures(client: TestClient) -> None:
    done = client.get(f"/v1/simulations/{SIM_ID}", headers=bearer("ops")).json()
    assert done["status"] == "done"
    assert done["report"]["total"] == {"before": "42000.00", "after": "42005.00",
                                       "difference": "5.00", "difference_pct": "0.01"}
    svg = client.get(f"/v1/simulations/{SIM_ID}/charts/revenue_by_month.svg",
                     headers=bearer("ops"))
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert "<svg" in svg.text and "2025-02" in svg.text
    png = client.get(f"/v1/simulations/{SIM_ID}/charts/change_distribution.png",
                     headers=bearer("ops"))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(("body", "reason"), [
    ({"pricebook": "name: [unclosed"}, "invalid_pricebook"),
    ({"pricebook": BOOK_TEXT.replace("fee: 7000", "fee: -5")}, "invalid_pricebook"),
    ({"pricebook": BOOK_TEXT.replace("name: marketing_tiers", "name: other_book")},
     "unknown_book"),
    ({"from_month": "2025-06", "to_month": "2025-01"}, "bad_period"),
    ({"from_month": "2025-13", "to_month": "2025-14"}, "bad_period"),
])
def test_a_bad_candidate_or_period_is_refused_before_anything_is_queued(
        client: TestClient, queue: FakeSimulations, body: dict[str, str], reason: str) -> None:
    r = ask(client, **body)
    assert r.status_code == 400 and r.json()["reason"] == reason, r.text
    assert "request_id" in r.json()
    assert queue.submitted == []
    if "fee: -5" in body.get("pricebook", ""):
        assert any("fee" in p["path"] for p in r.json()["problems"])


def test_only_a_key_of_every_account_runs_or_reads_simulations(
        client: TestClient, queue: FakeSimulations) -> None:
    assert ask(client, "acme-reader").json()["reason"] == "simulations_not_readable"
    r = client.get(f"/v1/simulations/{SIM_ID}", headers=bearer("acme-reader"))
    assert r.status_code == 403 and queue.submitted == []
    assert client.get(f"/v1/simulations/{SIM_ID}").status_code == 401
    missing = client.get("/v1/simulations/00000000-0000-4000-8000-000000000000",
                         headers=bearer("ops"))
    assert missing.status_code == 404 and missing.json()["reason"] == "unknown_simulation"


def test_a_queue_that_cannot_take_the_request_is_a_503_to_ask_again(
        client: TestClient, queue: FakeSimulations) -> None:
    queue.fail = True
    r = ask(client)
    assert r.status_code == 503 and r.json()["reason"] == "queue_unavailable"
    assert "broker down" not in r.text
