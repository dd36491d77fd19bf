"""The HTTP API with FastAPI's TestClient: keys (401 / 403), CloudEvents ingest (single and
batch, the stream's rejection reasons, 413, 415, 503), the read routes, OpenAPI.

The account states come from the real stream code (process_record with live limits); the
producer is a fake that records what would go to Kafka."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_api
from api.feeds import Feeds
from api.ingest import BATCH, SINGLE, IngestLimits
from api.keys import ApiKey, KeyStore
from core.accounts import AccountState
from core.limits import LimitsContext
from core.process import Policy
from infra.clock import FixedClock
from pricing.pricebook_loader import load_pricebook
from schemas.envelope import CloudEvent
from schemas.records import Alert
from schemas.topics import Topics
from tests.unit.helpers import Harness, event, invoice_doc

BOOK = load_pricebook("marketing_tiers")
CTX = LimitsContext({BOOK.name: BOOK}, BOOK.name)
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
TOPICS = Topics("t.")
KEYS = {"writer": ("k-writer", ["acme", "globex"], []),
        "acme-reader": ("k-acme", [], ["acme"]),
        "ops": ("k-ops", ["*"], ["*"])}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@dataclass
class Sent:
    partition: int
    offset: int


class FakeFuture:
    def __init__(self, sent: Sent | None) -> None:
        self.sent = sent

    def get(self, timeout: float | None = None) -> Sent:
        if self.sent is None:
            raise TimeoutError("no acknowledgement")
        return self.sent


@dataclass
class FakeProducer:
    """Records events as Kafka would place them: partition 0, offsets counting up."""

    sent: list[tuple[CloudEvent, int | None]] = field(default_factory=list)
    fail_after: int | None = None
    closed: bool = False

    def build(self, event_type: str, account: str, data: dict[str, Any], *,
              id: str | None = None, time: datetime | None = None,
              source: str | None = None) -> CloudEvent:
        return CloudEvent(specversion="1.0", id=id or "gen-1", source=source or "urn:api",
                          type=event_type, subject=account, time=time or NOW, data=data)

    def send(self, event: CloudEvent, timestamp_ms: int | None = None) -> FakeFuture:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            return FakeFuture(None)
        self.sent.append((event, timestamp_ms))
        return FakeFuture(Sent(0, len(self.sent) - 1))

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


class DictView:
    def __init__(self, states: dict[str, AccountState]) -> None:
        self.states = states

    def get(self, account: str) -> AccountState | None:
        return self.states.get(account)

    def wait_for(self, account: str, offset: int, timeout: float = 10.0) -> AccountState | None:
        return self.states.get(account)


def acme_state() -> AccountState:
    """acme on email-7k: 56,000 emails and 140 active profiles this cycle."""
    h = Harness(policy=Policy(allowed_lateness=timedelta(days=400)), limits=CTX)
    t0 = "2026-03-01T00:00:00Z"
    h.feed(event("account.subscribed", {"product": "email", "plan": "email-7k",
                                        "anchor": "2026-03-01"}, account="acme", eid="s",
                 time=t0), received=t0)
    for i in range(140):
        h.feed(event("profile.added", {"profile_id": f"p{i}", "emailable": True},
                     account="acme", eid=f"p{i}", time="2026-03-02T00:00:00Z"),
               received="2026-03-02T00:00:00Z")
    out = h.feed(event("email.sent", {"count": 56_000}, account="acme", eid="e1",
                       time="2026-03-05T00:00:00Z"), received="2026-03-05T00:00:00Z")
    assert [a.threshold for a in out.alerts] == ["80%", "forecast"]
    return h.states["acme"]


@dataclass
class Api:
    client: TestClient
    producer: FakeProducer
    feeds: Feeds


def make(keys: KeyStore, limits: IngestLimits | None = None) -> Iterator[Api]:
    producer, feeds = FakeProducer(), Feeds("unused:9092", TOPICS, keep=2)
    app = create_api(DictView({"acme": acme_state()}), lambda: producer, CTX,
                     FixedClock(NOW), keys=keys, feeds=feeds, limits=limits)
    with TestClient(app) as client:
        yield Api(client, producer, feeds)
    assert producer.closed  # the shared producer is closed at shutdown


@pytest.fixture
def api() -> Iterator[Api]:
    store = KeyStore(ApiKey(name=name, sha256=hashlib.sha256(key.encode()).hexdigest(),
                            write=write, read=read) for name, (key, write, read) in KEYS.items())
    yield from make(store, IngestLimits(max_event_bytes=2_000, max_batch_events=3,
                                        max_batch_bytes=5_000))


def ce(account: str = "acme", etype: str = "email.sent", data: dict[str, Any] | None = None,
       eid: str = "e-1", **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": eid, "source": "urn:checkout", "type": etype,
            "subject": account, "time": "2026-03-10T11:00:00Z",
            "data": {"count": 3} if data is None else data, **extra}


def post(api: Api, body: Any, media: str = BATCH, key: str = "writer") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.client.post("/v1/events", content=raw,
                           headers={"Content-Type": media, **bearer(key)})


# ---- authentication ----------------------------------------------------------------------

def test_no_key_or_an_unknown_key_is_401_with_a_reason(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/usage")
    assert r.status_code == 401 and r.json()["reason"] == "missing_api_key"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = api.client.get("/v1/accounts/acme/usage", headers={"Authorization": "Bearer nope"})
    assert (r.status_code, r.json()["reason"]) == (401, "unknown_api_key")
    r = api.client.get("/v1/accounts/acme/usage", headers={"X-API-Key": "k-writer" + "x"})
    assert (r.status_code, r.json()["reason"]) == (401, "unknown_api_key")
    r = api.client.post("/v1/events", content=b"[]", headers={"Content-Type": BATCH})
    assert (r.status_code, r.json()["reason"]) == (401, "missing_api_key")
    assert api.producer.sent == []


def test_the_x_api_key_header_works_like_bearer(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/usage", headers={"X-API-Key": "k-acme"})
    assert r.status_code == 200 and r.json()["account"] == "acme"
    assert api.client.get("/v1/whoami", headers={"X-API-Key": "k-acme"}).json() == \
        {"name": "acme-reader", "write": [], "read": ["acme"]}


def test_with_no_keys_configured_every_request_is_refused_with_how_to_fix() -> None:
    for a in make(KeyStore()):
        r = a.client.get("/v1/accounts/acme/usage", headers=bearer("ops"))
        assert (r.status_code, r.json()["reason"]) == (401, "no_api_keys_configured")
        assert "METERING_API_KEYS_FILE" in r.json()["error"]
        assert a.client.get("/healthz").json() == {"status": "ok"}


def test_a_key_reads_only_its_accounts(api: Api) -> None:
    r = api.client.get("/v1/accounts/globex/usage", headers=bearer("acme-reader"))
    assert (r.status_code, r.json()["reason"]) == (403, "account_not_readable")
    # the right is checked before the lookup: no telling whether an account exists
    r = api.client.get("/v1/accounts/nobody/limits", headers=bearer("acme-reader"))
    assert (r.status_code, r.json()["reason"]) == (403, "account_not_readable")
    r = api.client.get("/v1/accounts/nobody/limits", headers=bearer("ops"))
    assert (r.status_code, r.json()["reason"]) == (404, "unknown_account")
    for path in ("usage", "limits", "alerts", "decisions", "invoices",
                 "can-send?product=email&count=1"):
        r = api.client.get(f"/v1/accounts/acme/{path}", headers=bearer("writer"))
        assert (r.status_code, r.json()["reason"]) == (403, "account_not_readable"), path
        assert api.client.get(f"/v1/accounts/acme/{path}",
                              headers=bearer("acme-reader")).status_code == 200, path


# ---- ingest ------------------------------------------------------------------------------

def test_a_batch_is_sent_keyed_by_account_with_the_api_clock_as_record_time(api: Api) -> None:
    batch = [ce(eid="a"), ce("globex", "bandwidth.used", {"bytes": 10, "kind": "hosting"},
                             eid="b")]
    r = post(api, batch)
    assert r.status_code == 202, r.text
    # no offsets for a key that cannot read every account: they count other tenants' events
    assert r.json() == {"accepted": 2, "events": [
        {"index": 0, "id": "a", "source": "urn:checkout", "subject": "acme",
         "type": "email.sent", "status": "accepted", "partition": None, "offset": None,
         "error": None},
        {"index": 1, "id": "b", "source": "urn:checkout", "subject": "globex",
         "type": "bandwidth.used", "status": "accepted", "partition": None, "offset": None,
         "error": None}]}
    assert [(e.subject, e.id, e.data, stamp) for e, stamp in api.producer.sent] == [
        ("acme", "a", {"count": 3}, int(NOW.timestamp() * 1000)),
        ("globex", "b", {"bytes": 10, "kind": "hosting"}, int(NOW.timestamp() * 1000))]
    r = post(api, [ce(eid="c")], key="ops")
    assert [(e["partition"], e["offset"]) for e in r.json()["events"]] == [(0, 2)]


def test_one_event_with_the_single_content_type(api: Api) -> None:
    r = post(api, ce(eid="solo"), SINGLE + "; charset=utf-8")
    assert r.status_code == 202 and r.json()["events"][0]["id"] == "solo"
    r = post(api, ce(eid="x"), "application/json")
    assert (r.status_code, r.json()["reason"]) == (415, "unsupported_media_type")
    r = post(api, [ce()], SINGLE)  # an array is not one event
    assert r.status_code == 400
    assert r.json()["events"][0]["reason"] == "malformed_json"
    assert len(api.producer.sent) == 1


def test_invalid_events_get_the_streams_reasons_and_nothing_is_sent(api: Api) -> None:
    batch = [ce(eid="ok"), ce(data={"count": -5}, eid="neg"),
             ce(etype="email.opened", eid="unk")]
    r = post(api, batch)
    assert r.status_code == 400
    body = r.json()
    assert body["reason"] == "invalid_events" and "2 of 3" in body["error"]
    assert [(e["index"], e["reason"], e["id"]) for e in body["events"]] == [
        (1, "negative_quantity", "neg"), (2, "unknown_type", "unk")]
    cases = [(ce(data={"count": "many"}), "invalid_data"),
             ({**ce(), "time": "yesterday"}, "invalid_envelope"),
             ({k: v for k, v in ce().items() if k != "subject"}, "missing_account")]
    for doc, reason in cases:
        r = post(api, doc, SINGLE)
        assert (r.status_code, r.json()["events"][0]["reason"]) == (400, reason)
    raw = b'{"specversion": "1.0", "id": "n", "source": "s", "type": "email.sent", ' \
          b'"subject": "acme", "time": "2026-03-10T11:00:00Z", "data": {"count": NaN}}'
    assert post(api, raw, SINGLE).json()["events"][0]["reason"] == "non_finite_quantity"
    assert post(api, b"[" + raw + b"]").json()["events"][0]["reason"] == "non_finite_quantity"
    assert post(api, b"\xff\xfe", SINGLE).json()["events"][0]["reason"] == "not_utf8"
    assert post(api, b"[{", BATCH).json()["reason"] == "malformed_json"
    assert post(api, b"[]", BATCH).json()["reason"] == "empty_batch"
    assert api.producer.sent == []


def test_a_key_without_write_rights_on_an_account_sends_nothing(api: Api) -> None:
    r = post(api, [ce("acme", eid="a"), ce("initech", eid="b")])
    assert r.status_code == 403
    assert r.json()["reason"] == "account_not_writable"
    assert r.json()["events"] == [{"index": 1, "subject": "initech"}]
    r = post(api, ce(), SINGLE, key="acme-reader")  # may read acme, not write it
    assert (r.status_code, r.json()["reason"]) == (403, "account_not_writable")
    # 403 before 400: the key learns nothing about events it may not send
    r = post(api, [ce("initech", data={"count": -1})])
    assert (r.status_code, r.json()["reason"]) == (403, "account_not_writable")
    assert api.producer.sent == []
    assert post(api, [ce("initech", eid="c")], key="ops").status_code == 202


def test_oversize_bodies_batches_and_events_are_413(api: Api) -> None:
    big = ce(data={"to_country": "US", "body": "x" * 2_500})
    r = post(api, big, SINGLE)
    assert (r.status_code, r.json()["reason"]) == (413, "event_too_large")
    r = post(api, [ce(eid="a"), big])
    assert (r.status_code, r.json()["reason"]) == (413, "event_too_large")
    assert r.json()["events"] == [{"index": 1}]
    r = post(api, [ce(eid=str(i)) for i in range(4)])
    assert (r.status_code, r.json()["reason"], r.json()["limit"]) == (413, "too_many_events", 3)
    r = post(api, [ce(data={"count": 1}, eid="p" * 200, source="s" * 1500)] * 3)
    assert (r.status_code, r.json()["reason"]) == (413, "batch_too_large")
    assert api.producer.sent == []


def test_unacknowledged_events_are_503_with_each_events_status(api: Api) -> None:
    api.producer.fail_after = 1
    r = post(api, [ce(eid="a"), ce(eid="b")])
    assert r.status_code == 503 and r.json()["reason"] == "not_acknowledged"
    assert [(e["id"], e["status"]) for e in r.json()["events"]] == [("a", "accepted"),
                                                                     ("b", "failed")]


def test_the_503_names_the_failure_without_exception_text(api: Api) -> None:
    api.producer.fail_after = 0  # the fake's future raises TimeoutError("no acknowledgement")
    r = post(api, [ce(eid="a")])
    assert r.status_code == 503
    failed, = r.json()["events"]
    assert failed["error"] == "timeout"
    assert "acknowledgement" not in r.text and "Error" not in r.text


def test_an_event_that_redaction_makes_too_large_is_413_and_not_sent() -> None:
    """Issue 16: about 994,000 bytes in, 1,136,000 forwarded ('a@b.co' -> '[email]'): refused
    here, not acknowledged and then rejected `too_large` by the stream."""
    store = KeyStore([ApiKey(name="ops", sha256=hashlib.sha256(b"k-ops").hexdigest(),
                             write=["*"], read=["*"])])
    for api in make(store):  # default limits: the stream's 1,000,000 bytes per event
        doc = ce(note="a@b.co " * 142_000)
        raw = json.dumps(doc).encode()
        assert len(raw) < 1_000_000
        for body, media in ((raw, SINGLE), (json.dumps([doc]).encode(), BATCH)):
            r = post(api, body, media, key="ops")
            assert (r.status_code, r.json()["reason"]) == (413, "event_too_large"), r.text
            (grown,) = r.json()["events"]
            assert grown["index"] == 0 and grown["bytes"] > 1_000_000
        assert api.producer.sent == []
        ok = post(api, ce(note="a@b.co " * 1_000), SINGLE, key="ops")
        assert ok.status_code == 202


def test_every_error_has_a_reason_and_a_request_id(api: Api) -> None:
    r = api.client.get("/v1/no-such-route", headers=bearer("ops"))
    assert r.status_code == 404 and r.json()["reason"] == "not_found"
    assert r.json()["request_id"] == r.headers["X-Request-Id"] != ""
    r = api.client.post("/v1/events", content=b"[{", headers={
        "Content-Type": BATCH, "X-Request-Id": "client-id.42", **bearer("ops")})
    assert (r.status_code, r.json()["reason"]) == (400, "malformed_json")
    assert r.json()["request_id"] == r.headers["X-Request-Id"] == "client-id.42"
    r = api.client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["X-Request-Id"] != "bad id with spaces"


def test_an_unexpected_failure_is_a_json_500_without_its_text() -> None:
    class Broken(DictView):
        def get(self, account: str) -> AccountState | None:
            raise RuntimeError("secret internals")

    store = KeyStore([ApiKey(name="ops", sha256=hashlib.sha256(b"k-ops").hexdigest(),
                             write=["*"], read=["*"])])
    app = create_api(Broken({}), FakeProducer, CTX, FixedClock(NOW), keys=store,
                     feeds=Feeds("unused:9092", TOPICS, keep=2))
    with TestClient(app) as client:
        r = client.get("/v1/accounts/acme/usage", headers={"Authorization": "Bearer k-ops"})
    assert r.status_code == 500
    assert r.json()["reason"] == "internal_error"
    assert r.json()["request_id"] == r.headers["X-Request-Id"]
    assert "secret" not in r.text and "RuntimeError" not in r.text


def test_a_trailing_slash_is_not_redirected_to_the_host_header(api: Api) -> None:
    r = api.client.get("/v1/whoami/", headers={"Host": "evil.example", **bearer("ops")},
                       follow_redirects=False)
    assert r.status_code == 404 and r.json()["reason"] == "not_found"
    assert "location" not in r.headers


def test_scheduled_sends_need_write_and_with_wait_read_too(api: Api) -> None:
    body = {"product": "email", "count": 10, "id": "s1"}
    r = api.client.post("/v1/accounts/acme/scheduled-sends", json=body,
                        headers=bearer("acme-reader"))
    assert (r.status_code, r.json()["reason"]) == (403, "account_not_writable")
    r = api.client.post("/v1/accounts/acme/scheduled-sends?wait=true", json=body,
                        headers=bearer("writer"))
    assert (r.status_code, r.json()["reason"]) == (403, "account_not_readable")
    r = api.client.post("/v1/accounts/acme/scheduled-sends", json=body,
                        headers=bearer("writer"))
    assert r.status_code == 202 and (r.json()["event_id"], r.json()["offset"]) == ("s1", None)
    r = api.client.post("/v1/accounts/acme/scheduled-sends?wait=true", json=body,
                        headers=bearer("ops"))
    assert r.json()["answer"]["used"] == "56000"
    assert r.json()["offset"] == 1  # a key that reads every account sees it
    assert [(e.type, e.data) for e, _ in api.producer.sent] == \
        [("send.scheduled", {"product": "email", "count": 10})] * 2


# ---- reading -----------------------------------------------------------------------------

def test_usage_compares_the_cycle_to_date_with_the_allotments(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/usage", headers=bearer("acme-reader"))
    body = r.json()
    assert (body["tracked"], body["cycle_start"], body["cycle_end"]) == \
        (True, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    [email] = body["products"]
    assert (email["product"], email["plan"], email["limit_policy"], email["blocked"]) == \
        ("email", "email-7k", "none", None)
    meters = {m["meter"]: (m["value"], m["limit"], m["remaining"], m["used_percent"])
              for m in email["meters"]}
    assert meters == {"email.sent": ("56000", "70000", "14000", "80.0"),
                      "profiles.active.peak": ("140", "7000", "6860", "2.0")}
    assert body["sums"]["email.sent"] == "56000"
    r = api.client.get("/v1/accounts/acme/can-send?product=email&count=14001",
                       headers=bearer("acme-reader"))
    assert (r.json()["action"], r.json()["remaining"]) == ("block", "14000")


def test_usage_history_gives_each_day_the_allotment_and_the_forecast(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/usage/history", headers=bearer("acme-reader"))
    assert r.status_code == 200, r.text
    body = r.json()
    emails = next(m for m in body["meters"] if m["meter"] == "email.sent")
    # 56,000 sent on 5 March, asked on 10 March at noon: 9.5 of the cycle's 31 days
    assert [(d["day"], d["value"]) for d in emails["days"]] == \
        [(f"2026-03-{n:02d}", "56000" if n >= 5 else "0") for n in range(1, 11)]
    assert (emails["limit"], emails["value"], emails["reads"]) == ("70000", "56000", "sum")
    assert emails["forecast"] == str(round(56_000 * 31 / 9.5))
    # the rate (56,000 / 9.5 days) reaches 70,000 2.375 days after 10 March, 12:00
    assert emails["over_at"] == "2026-03-12"
    other = api.client.get("/v1/accounts/acme/usage/history", headers=bearer("writer"))
    assert other.status_code == 403 and other.json()["reason"] == "account_not_readable"


def test_alerts_and_invoices_come_from_their_topics_per_account(api: Api) -> None:
    base = {"account": "acme", "product": "email", "plan": "email-7k", "meter": "email.sent",
            "kind": "threshold", "level": "56000", "value": "56000", "limit": "70000",
            "crossed_at": "2026-03-05T00:00:00Z", "cycle_start": "2026-03-01T00:00:00Z",
            "cycle_end": "2026-04-01T00:00:00Z", "projected": "0",
            "projected_overage_cost": "0", "currency": "USD"}
    for n, threshold in enumerate(["80%", "90%", "90%", "100%"]):  # one copy repeated
        alert = Alert.model_validate({**base, "id": f"a-{threshold}", "threshold": threshold,
                                      "offset": n})
        api.feeds.apply(TOPICS.alerts, alert.model_dump_json().encode())
    api.feeds.apply(TOPICS.alerts, json.dumps({**base, "id": "g", "account": "globex",
                                               "threshold": "80%"}).encode())
    api.feeds.apply(TOPICS.alerts, b"not json")  # skipped, logged
    r = api.client.get("/v1/accounts/acme/alerts", headers=bearer("acme-reader"))
    assert [a["threshold"] for a in r.json()["alerts"]] == ["100%", "90%"]  # keep=2
    r = api.client.get("/v1/accounts/acme/alerts?limit=1", headers=bearer("acme-reader"))
    assert [a["id"] for a in r.json()["alerts"]] == ["a-100%"]
    invoice = invoice_doc("acme", "INV-2026-000001")
    partial = {"type": "invoice.issued", "invoice_id": "i3", "number": "INV-000003",
               "account": "acme", "kind": "cycle", "total": "7000.00",
               "cycle_end": "2026-04-01T00:00:00Z"}  # off the contract: no lines, ...
    for doc in (invoice, invoice_doc("globex", "INV-2026-000002"), partial,
                {"type": "plan.changed", "id": "c1", "account": "acme"}):
        api.feeds.apply(TOPICS.invoices, json.dumps(doc).encode())
    r = api.client.get("/v1/accounts/acme/invoices", headers=bearer("acme-reader"))
    body = r.json()
    assert [(i["number"], i["total"]) for i in body["invoices"]] == [
        ("INV-2026-000001", invoice["total"])]
    assert body["invoices"][0]["lines"] == invoice["lines"]  # the typed record, as stored
    assert [(i["invoice_id"], i["reason"]) for i in body["invalid"]] == [
        ("i3", "invalid_invoice_document")]


def test_openapi_declares_both_key_schemes_and_the_cloudevents_bodies(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerKey"] == {"type": "http", "scheme": "bearer",
                                    "description": "`Authorization: Bearer <API key>`"}
    assert (schemes["apiKeyHeader"]["in"], schemes["apiKeyHeader"]["name"]) == \
        ("header", "X-API-Key")
    ingest = doc["paths"]["/v1/events"]["post"]
    assert {"bearerKey": []} in ingest["security"] and {"apiKeyHeader": []} in \
        ingest["security"]
    assert set(ingest["requestBody"]["content"]) == {SINGLE, BATCH}
    assert {"400", "401", "403", "413", "415", "503"} <= set(ingest["responses"])
    usage = doc["paths"]["/v1/accounts/{account}/usage"]["get"]
    assert {"bearerKey": []} in usage["security"]
    assert "healthz" not in json.dumps(doc["paths"]["/healthz"].get("security", []))
    assert api.client.get("/docs").status_code == 200
