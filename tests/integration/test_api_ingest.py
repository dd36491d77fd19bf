"""The HTTP API on the real broker with the real pipeline (sink, worker, `metering api`):
a batch ingested over HTTP is metered exactly once (usage, can-send, alerts), an invalid
batch puts nothing on the topic, each key reads only its accounts, and the invoice the
projector issues at the cycle's close is served from `billing.invoices`."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from infra.kafka_broker import free_port
from infra.topics import end_offsets
from producers.client import MeteringClient
from projections.rerating import issued_invoices
from testkit.pipeline import ROOT, Pipeline

pytestmark = pytest.mark.integration
T = TypeVar("T")
KEYS = {"checkout": ("key-checkout", ["acme", "globex"], []),
        "acme-dash": ("key-acme-dash", [], ["acme"]),
        "globex-dash": ("key-globex-dash", [], ["globex"]),
        "ops": ("key-ops", ["*"], ["*"])}


def entries() -> str:
    return json.dumps([{"name": n, "sha256": hashlib.sha256(k.encode()).hexdigest(),
                        "write": w, "read": r} for n, (k, w, r) in KEYS.items()])


def ce(account: str, etype: str, data: dict[str, Any], at: str, eid: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": eid, "source": "urn:checkout", "type": etype,
            "subject": account, "time": at, "data": data}


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = probe()
        except httpx.HTTPError:
            found = None
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.3)


def closed(invoices: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The invoices once the cycle's closing invoice is among them."""
    return invoices if any(i["kind"] == "cycle" for i in invoices) else None


def meters(usage: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {m["meter"]: (m["value"], m["limit"], m["remaining"])
            for p in usage["products"] for m in p["meters"]}


def test_http_ingest_is_metered_and_reads_are_scoped(bootstrap: str, tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("2026-03-08T00:00:00Z")
    port = free_port()
    p = Pipeline(bootstrap, tmp_path, METERING_API_PORT=str(port), METERING_API_KEYS=entries(),
                 METERING_CLOCK=f"file:{clock}", METERING_TICK_S="0.5",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1")
    base = f"http://127.0.0.1:{port}"
    checkout, acme, globex, ops = (MeteringClient(base, api_key=KEYS[n][0])
                                   for n in ("checkout", "acme-dash", "globex-dash", "ops"))
    batch = [
        ce("acme", "account.subscribed", {"product": "email", "plan": "email-7k",
                                          "anchor": "2026-03-01"}, "2026-03-01T00:00:00Z", "s1"),
        ce("globex", "account.subscribed", {"product": "email", "plan": "email-5k",
                                            "anchor": "2026-03-01"}, "2026-03-01T00:00:00Z",
           "s2"),
        ce("acme", "email.sent", {"count": 30_000}, "2026-03-02T10:00:00Z", "e1"),
        ce("acme", "email.sent", {"count": 26_000}, "2026-03-03T10:00:00Z", "e2"),
        ce("acme", "email.sent", {"count": 30_000}, "2026-03-02T10:00:00Z", "e1"),  # a retry
        ce("globex", "email.sent", {"count": 1_200}, "2026-03-04T10:00:00Z", "e3"),
    ] + [ce("acme", "profile.added", {"profile_id": f"p{i}", "emailable": i % 2 == 0},
            "2026-03-05T10:00:00Z", f"p{i}") for i in range(9)]
    try:
        p.start_sink()
        p.start_worker()
        p.spawn("api")
        eventually("the API answers", lambda: httpx.get(f"{base}/healthz").json())
        accepted = ops.send_events(batch)  # offsets only to a key that reads every account
        assert accepted["accepted"] == len(batch) == 15
        placed = [(e["subject"], e["partition"], e["offset"]) for e in accepted["events"]]
        again = checkout.send_events(batch[2:3])  # e1 once more: counts once
        assert [(e["partition"], e["offset"]) for e in again["events"]] == [(None, None)]
        assert len({(part, off) for _, part, off in placed}) == 15  # each on the log once
        assert len({part for subject, part, _ in placed if subject == "acme"}) == 1

        usage = eventually("acme's batch processed", lambda: (  # its last events: profiles
            u if (u := acme.usage("acme"))["levels"].get("profiles.total") == "9" else None))
        assert usage["sums"]["email.sent"] == "56000"  # the retried e1 counted once
        assert meters(usage) == {"email.sent": ("56000", "70000", "14000"),
                                 "profiles.active.peak": ("5", "7000", "6995")}
        assert (usage["cycle_start"], usage["cycle_end"]) == ("2026-03-01T00:00:00Z",
                                                              "2026-04-01T00:00:00Z")
        assert acme.can_send("acme", "email", 14_000)["action"] == "allow"
        assert acme.can_send("acme", "email", 14_001)["action"] == "block"
        g = eventually("globex metered", lambda: (
            u if (u := globex.usage("globex"))["sums"].get("email.sent") == "1200" else None))
        assert meters(g)["email.sent"] == ("1200", "50000", "48800")
        alerts = eventually("acme's 80% alert", lambda: acme.alerts("acme") or None)
        assert [(a["threshold"], a["value"], a["limit"]) for a in alerts
                if a["kind"] == "threshold"] == [("80%", "56000", "70000")]
        assert globex.alerts("globex") == []

        # scopes: each dashboard key reads its own account only; the writer reads nothing
        for client, account in ((acme, "globex"), (globex, "acme"), (checkout, "acme")):
            with pytest.raises(httpx.HTTPStatusError) as denied:
                client.usage(account)
            assert denied.value.response.status_code == 403
            assert denied.value.response.json()["reason"] == "account_not_readable"
        with pytest.raises(httpx.HTTPStatusError) as denied:
            acme.send_events([ce("acme", "email.sent", {"count": 1}, "2026-03-06T00:00:00Z",
                                 "x1")])
        assert denied.value.response.json()["reason"] == "account_not_writable"
        r = httpx.get(f"{base}/v1/accounts/acme/usage", headers={"X-API-Key": "wrong"})
        assert (r.status_code, r.json()["reason"]) == (401, "unknown_api_key")

        # an invalid batch puts nothing on the topic, and says why for each event
        before = end_offsets(bootstrap, p.topics.events)
        with pytest.raises(httpx.HTTPStatusError) as bad:
            checkout.send_events([
                ce("acme", "email.sent", {"count": 5}, "2026-03-06T00:00:00Z", "ok"),
                ce("acme", "email.sent", {"count": -5}, "2026-03-06T00:00:00Z", "neg")])
        assert bad.value.response.status_code == 400
        assert [(e["index"], e["reason"]) for e in bad.value.response.json()["events"]] == \
            [(1, "negative_quantity")]
        assert end_offsets(bootstrap, p.topics.events) == before

        # the cycle closes: the projector's invoice reaches each account's reader only
        clock.write_text("2026-04-03T00:00:00Z")
        invoices = eventually("acme's March invoice", lambda: closed(acme.invoices("acme")),
                              timeout=180)
        mine = eventually("globex's March invoice", lambda: closed(globex.invoices("globex")),
                          timeout=60)
        on_topic = issued_invoices(bootstrap, p.topics.invoices)

        # a price simulation of March over HTTP, run by the sink (it owns ClickHouse): the
        # email-7k fee $10 lower is -$10 for acme (its one March fee), nothing for globex
        book = (ROOT / "pricing" / "pricebooks" / "marketing_tiers.yaml").read_text()
        ask = httpx.post(f"{base}/v1/simulations", headers={"X-API-Key": KEYS["ops"][0]},
                         json={"pricebook": book.replace("fee: 7000", "fee: 6990"),
                               "from_month": "2026-03", "to_month": "2026-03"}, timeout=30)
        assert ask.status_code == 202, ask.text
        sid = ask.json()["id"]
        sim = eventually("the simulation's result", lambda: (
            s if (s := httpx.get(f"{base}/v1/simulations/{sid}", headers={
                "X-API-Key": KEYS["ops"][0]}).json())["status"] != "pending" else None))
    finally:
        for c in (checkout, acme, globex):
            c.close()
        p.stop()
    assert {i["account"] for i in invoices} == {"acme"}
    assert {i["account"] for i in mine} == {"globex"}
    assert sorted(invoices, key=lambda d: d["invoice_id"]) == sorted(
        (d for d in on_topic.values() if d["account"] == "acme"), key=lambda d: d["invoice_id"])
    # as the projector issued them: at subscription, then at the close of March
    assert [(i["kind"], i["cycle_start"][:10], i["total"]) for i in invoices] == [
        ("immediate", "2026-03-01", "7000.00"), ("cycle", "2026-03-01", "7000.00")]
    assert invoices[1]["usage"]["email.sent"] == "56000"
    assert [(i["kind"], i["total"]) for i in mine] == [("immediate", "5100.00"),
                                                       ("cycle", "5100.00")]
    assert sim["status"] == "done", sim
    assert {a["account"]: a["difference"] for a in sim["report"]["accounts"]} == {
        "acme": "-10.00", "globex": "0.00"}
    assert [(m["month"], m["difference"]) for m in sim["report"]["months"]] == [
        ("2026-03", "-10.00")]
