"""Limits in motion, on the real broker and chdb: each policy end to end, the clock-driven
auto-downgrade and its cancellation, can-send answers, and alerts exact across kill -9."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from core.can_send import can_send
from core.limits import limits_context
from infra.kafka_broker import free_port
from pricing.pricebook_loader import load_pricebook
from producers.client import MeteringClient
from stream_processors.account_view import AccountView
from stream_processors.webhooks import account_secret, verify
from testkit.events import Sender
from testkit.pipeline import Pipeline

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
CTX = limits_context(load_pricebook("marketing_tiers"))


def subscribe(s: Sender, account: str, policy: str, auto_downgrade: bool = False,
              plan: str = "email-7k") -> None:
    s.send(account, "account.subscribed", {"product": "email", "plan": plan,
                                           "anchor": "2026-03-01"}, T0)
    s.send(account, "account.settings_changed", {"product": "email", "limit_policy": policy,
                                                 "auto_downgrade": auto_downgrade},
           T0 + timedelta(minutes=1))


def decisions(client: object, db: str) -> dict[str, list[tuple[object, ...]]]:
    rows = client.query(  # type: ignore[attr-defined]
        f"SELECT account, kind, reason, plan, target_plan, cost, effective FROM {db}.decisions "
        "FINAL ORDER BY account, at, kind").result_rows
    out: dict[str, list[tuple[object, ...]]] = {}
    for account, *rest in rows:
        out.setdefault(account, []).append(tuple(rest))
    return out


def wait_decision(view: AccountView, account: str, check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = view.get(account)
        if state is not None and check(state):  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{account}: state never satisfied the check")


def test_each_policy_end_to_end(bootstrap: str, tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("2026-03-02T00:00:00Z")
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK=f"file:{clock}", METERING_TICK_S="0.5")
    view = AccountView(bootstrap, p.topics.accounts).start()
    s = Sender(bootstrap, p.prefix)
    try:
        p.start_sink()
        p.start_worker()
        for account, policy in [("none", "none"), ("upgrade", "auto_upgrade"),
                                ("flex", "flex")]:
            subscribe(s, account, policy)
        for account in ("down", "cancel"):
            subscribe(s, account, "flex", auto_downgrade=True)
            for i in range(100):
                s.send(account, "profile.added", {"profile_id": f"p{i}", "emailable": True},
                       T0 + timedelta(hours=2, seconds=i))
        s.send("none", "email.sent", {"count": 56_000}, T0 + timedelta(days=4))
        s.send("none", "email.sent", {"count": 7_000}, T0 + timedelta(days=5))
        s.send("none", "email.sent", {"count": 7_001}, T0 + timedelta(days=6))
        for account in ("upgrade", "flex"):
            s.send(account, "email.sent", {"count": 70_001}, T0 + timedelta(days=6))
        s.flush()
        p.wait_caught_up(timeout=120)
        wait_decision(view, "flex", lambda st: st.live and st.live.flexed)
        at = T0 + timedelta(days=7)
        assert can_send(view.get("none"), "none", "email", 1, CTX, at).action == "block"
        upg = can_send(view.get("upgrade"), "upgrade", "email", 9_999, CTX, at)
        assert (upg.action, upg.plan) == ("allow", "email-8k")
        assert can_send(view.get("upgrade"), "upgrade", "email", 10_000, CTX, at).action == \
            "upgrade"  # 80,001 would need the next tier
        flex = can_send(view.get("flex"), "flex", "email", 9_999, CTX, at)
        assert (flex.action, flex.limit, flex.plan) == ("allow", Decimal(80_000), "email-7k")
        # the clock reaches 24 hours before the cycle end: auto-downgrades are scheduled
        clock.write_text("2026-03-31T00:00:00Z")
        wait_decision(view, "cancel", lambda st: st.live.downgrades.get("email"))
        s.send("cancel", "account.plan_change_requested",
               {"product": "email", "plan": "email-10k", "effective": "now"},
               datetime(2026, 3, 31, 6, tzinfo=UTC))
        s.flush()
        p.wait_caught_up(timeout=120)
        client = p.clickhouse()
        got = decisions(client, p.ch.database)
        alerts = client.query(
            f"SELECT account, threshold, value FROM {p.ch.database}.alerts FINAL "
            "WHERE kind = 'threshold' ORDER BY account, crossed_at, level").result_rows
        client.close()
    finally:
        view.close()
        s.close()
        p.stop()
    assert got["none"] == [("sending.blocked", "limit_reached", "email-7k", None,
                            Decimal("0.00"), None)]
    assert got["upgrade"] == [("plan.upgraded", "auto_upgrade", "email-7k", "email-8k",
                               Decimal("600.00"), None)]
    assert got["flex"] == [("flex.purchased", "flex", "email-7k", "email-8k",
                            Decimal("1000.00"), None)]
    assert got["down"] == [("downgrade.scheduled", "auto_downgrade", "email-7k", "email-5k",
                            Decimal("0.00"), END.replace(tzinfo=None))]
    assert [k for k, *_ in got["cancel"]] == ["downgrade.scheduled", "downgrade.cancelled"]
    none_alerts = [(t, v) for a, t, v in alerts if a == "none"]
    assert none_alerts == [("80%", Decimal(56000)), ("90%", Decimal(63000)),
                           ("100%", Decimal(70001))]


def _processed(p: Pipeline) -> int:
    return sum(p.committed(p.processor_id, p.topics.events).values())


def test_alerts_exact_under_duplicates_and_kill_9(bootstrap: str, tmp_path: Path) -> None:
    """Every threshold crossed fires once, with the value an exact count gives at the
    crossing event, although 10% of events come twice and the worker is killed twice."""
    rng = random.Random(5)
    p = Pipeline(bootstrap, tmp_path)
    s = Sender(bootstrap, p.prefix)
    accounts = [f"acct-{i}" for i in range(30)]
    expected: set[tuple[str, str, Decimal]] = set()
    sent: list[tuple[str, str, int, datetime]] = []
    for a in accounts:
        subscribe(s, a, "none")
        target = rng.randint(40_000, 90_000)  # some stay under 80%, some go over the limit
        total, n, at = 0, 0, T0 + timedelta(days=1)
        while total < target:
            c = rng.randint(50, 400)
            total, n, at = total + c, n + 1, at + timedelta(minutes=7)
            eid = f"{a}-{n}"
            sent.append((a, eid, c, at))
            for key, level in (("80%", 56_000), ("90%", 63_000), ("100%", 70_000)):
                if total - c < level <= total:
                    expected.add((a, key, Decimal(total)))
    order = sorted(sent, key=lambda x: x[3])
    copies = [x for x in order if rng.random() < 0.10]
    try:
        p.start_sink()
        worker = p.start_worker()
        quarter = len(order) // 4 + 1
        for i in range(4):  # arrival order is time order: the live count is exact in it
            for a, eid, c, at in order[i * quarter:(i + 1) * quarter]:
                s.send(a, "email.sent", {"count": c}, at, eid=eid)
            for a, eid, c, at in copies:  # a retry storm: ids already sent, again
                if order.index((a, eid, c, at)) < (i + 1) * quarter and rng.random() < 0.3:
                    s.send(a, "email.sent", {"count": c}, at, eid=eid)
            s.flush()
            if i in (1, 2):  # once most of what was sent is processed: kill -9
                deadline = time.monotonic() + 120
                while _processed(p) < 0.8 * s.sent:
                    assert time.monotonic() < deadline, "worker made no progress"
                    time.sleep(0.05)
                p.kill_worker(worker)
                worker = p.start_worker()
        p.wait_caught_up(timeout=300)
        client = p.clickhouse()
        rows = client.query(
            f"SELECT account, threshold, value, id FROM {p.ch.database}.alerts FINAL "
            "WHERE kind = 'threshold'").result_rows
        blocked = client.query(
            f"SELECT account, count() FROM {p.ch.database}.decisions FINAL "
            "WHERE kind = 'sending.blocked' GROUP BY account").result_rows
        client.close()
    finally:
        s.close()
        p.stop()
    assert len({r[3] for r in rows}) == len(rows)  # one row per alert id
    assert {(a, t, Decimal(v)) for a, t, v, _ in rows} == expected
    totals = {a: sum(c for b, _, c, _ in sent if b == a) for a in accounts}
    assert dict(blocked) == {a: 1 for a, total in totals.items() if total > 70_000}


class Receiver(BaseHTTPRequestHandler):
    """A customer's webhook endpoint: fails every record's first attempt with 503."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    attempts: ClassVar[Counter[str]] = Counter()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        self.attempts[key] += 1
        if self.attempts[key] == 1:
            self.send_response(503)
        else:
            self.received.append((dict(self.headers), body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_api_client_scheduled_send_and_signed_webhooks(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    master = "test-master-secret"
    api_key = "test-api-key"  # the keys' settings reach the API process: a key with every right
    keys = [{"name": "test", "sha256": hashlib.sha256(api_key.encode()).hexdigest(),
             "write": ["*"], "read": ["*"]}]
    p = Pipeline(bootstrap, tmp_path, METERING_API_PORT=str(port),
                 METERING_API_KEYS=json.dumps(keys),
                 METERING_WEBHOOK_MASTER_SECRET=master, METERING_WEBHOOK_BASE_BACKOFF_S="0.1",
                 METERING_WEBHOOK_APP_ID=f"hooks-{uuid.uuid4().hex[:8]}",
                 METERING_CLOCK="fixed:2026-03-08T00:00:00Z")
    s = Sender(bootstrap, p.prefix)
    client = MeteringClient(f"http://127.0.0.1:{port}", api_key=api_key)
    try:
        p.start_sink()
        p.start_worker()
        p.spawn("api")
        p.spawn("webhooks")
        subscribe(s, "sched", "auto_upgrade")
        subscribe(s, "hook", "none")
        s.send("hook", "account.webhook_configured",
               {"url": f"http://127.0.0.1:{server.server_port}/hooks"}, T0 + timedelta(hours=1))
        s.send("sched", "email.sent", {"count": 60_000}, T0 + timedelta(days=3))
        s.flush()
        p.wait_caught_up(timeout=120)
        deadline = time.monotonic() + 60
        while True:
            try:
                before = client.can_send("sched", "email", 15_000)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the API never answered"
                time.sleep(0.3)
        assert (before["action"], before["target_plan"]) == ("upgrade", "email-8k")
        done = client.schedule_send("sched", "email", 15_000, wait=True)
        assert done["answer"]["plan"] == "email-8k"  # upgraded in advance, in the stream
        with pytest.raises(httpx.HTTPStatusError) as missing:
            client.can_send("nobody", "email", 1)
        assert missing.value.response.status_code == 404
        s.send("hook", "email.sent", {"count": 70_001}, T0 + timedelta(days=6))
        s.flush()
        deadline = time.monotonic() + 60
        while len(Receiver.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        client.close()
        s.close()
        p.stop()
        server.shutdown()
    secret = account_secret(master.encode(), "hook")
    kinds = Counter(h["X-Metering-Event"] for h, _ in Receiver.received)
    assert kinds == {"alert": 3, "decision": 1}
    for headers, body in Receiver.received:
        assert verify(secret, headers["X-Metering-Signature"], body, time.time())
        assert not verify(account_secret(master.encode(), "sched"),
                          headers["X-Metering-Signature"], body, time.time())
        assert Receiver.attempts[headers["Idempotency-Key"]] == 2  # retried once
