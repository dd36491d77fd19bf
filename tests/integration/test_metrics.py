"""Prometheus metrics on every role (issue 17, item 1), scraped by a real Prometheus server
(Debian's package, started here) through a short run of the real pipeline: the worker's
totals equal what was produced, accepted, rejected by reason and dropped as duplicates
(the workload's own expectations, not the pipeline's tables), the sink's usage_log rows
equal the accepted events, the API counts each request by route and status, and every
role answers its scrape with its process memory. The shipped alert rules load healthy."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest

from infra.kafka_broker import free_port
from testkit.pipeline import Pipeline
from testkit.produce import produce
from testkit.prometheus import PrometheusServer
from testkit.workload import generate

pytestmark = pytest.mark.integration
T = TypeVar("T")
ROLES = ("worker", "sink", "api", "webhooks")
API_KEY = "metrics-test-key"


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.5)


def get(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"}
                                     if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def test_prometheus_scrapes_every_role_and_the_totals_agree(bootstrap: str,
                                                            tmp_path: Path) -> None:
    w = generate(seed=11, accounts=25, events_per_account=40, start=date(2026, 7, 1))
    expect = Counter(r.expect for r in w.records)
    rejected = {k: v for k, v in expect.items() if k not in ("accept", "duplicate")}
    assert rejected and expect["duplicate"] > 0
    ports = {role: free_port() for role in ROLES}
    api_port = free_port()
    keys = [{"name": "ops", "sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
             "write": ["*"], "read": ["*"]}]
    p = Pipeline(bootstrap, tmp_path, METERING_API_PORT=str(api_port),
                 METERING_API_KEYS=json.dumps(keys),
                 METERING_WEBHOOK_MASTER_SECRET="metrics-test-secret",
                 METERING_WEBHOOK_APP_ID=f"hooks-{uuid.uuid4().hex[:8]}",
                 **{f"METERING_METRICS_{r.upper()}_PORT": str(n) for r, n in ports.items()})
    prom = PrometheusServer(tmp_path, {f"metering-{r}": f"127.0.0.1:{n}"
                                       for r, n in ports.items()})
    base = f"http://127.0.0.1:{api_port}"
    try:
        prom.start()
        p.start_sink()
        p.start_worker()
        p.spawn("api")
        p.spawn("webhooks")
        produce(p.bootstrap, p.prefix, w.records)
        p.wait_caught_up(timeout=240)
        eventually("the API answers", lambda: True if get(f"{base}/healthz") == 200 else None)
        calls = Counter()
        for _ in range(3):
            calls[("/v1/whoami", "200")] += get(f"{base}/v1/whoami", API_KEY) == 200
        calls[("/v1/whoami", "401")] += get(f"{base}/v1/whoami", "wrong-key") == 401
        assert calls == {("/v1/whoami", "200"): 3, ("/v1/whoami", "401"): 1}

        wanted = {
            "sum(metering_worker_events_consumed_total)": len(w.records),
            "sum(metering_worker_events_accepted_total)": expect["accept"],
            "sum(metering_worker_events_duplicate_total)": expect["duplicate"],
            "sum(metering_worker_events_rejected_total)": sum(rejected.values()),
            'sum(metering_sink_rows_inserted_total{table="usage_log"})': expect["accept"],
            'sum(metering_api_requests_total{route="/v1/whoami",status="200"})': 3,
            'sum(metering_api_requests_total{route="/v1/whoami",status="401"})': 1,
        }
        seen: dict[str, float | None] = {}

        def scraped() -> bool | None:
            seen.update({expr: prom.value(expr) for expr in wanted})
            return True if seen == wanted else None

        try:  # every role scraped after its last count (scrapes are 1 s apart)
            eventually("the scraped totals", scraped, timeout=60)
        except AssertionError:
            assert seen == wanted
        by_reason = prom.vector("sum by (reason) (metering_worker_events_rejected_total)",
                                "reason")
        assert by_reason == {k: float(v) for k, v in rejected.items()}
        assert (prom.value("sum(metering_worker_batch_records_count)") or 0) >= 1
        lag = prom.vector("metering_worker_consumer_lag_records", "partition")
        assert lag and set(lag.values()) == {0.0}, lag  # caught up
        up = prom.vector("up", "job")
        assert up == {f"metering-{r}": 1.0 for r in ROLES}
        memory = prom.vector("process_resident_memory_bytes", "job")
        assert set(memory) == set(up) and all(v > 10e6 for v in memory.values())
        groups = prom.api("rules")["groups"]
        health = {r["name"]: r["health"] for g in groups for r in g["rules"]}
        assert len(health) == 7 and set(health.values()) == {"ok"}, health
        for role in ("worker", "sink", "webhooks"):  # issue 16: live and ready, per client
            port = ports[role]
            assert get(f"http://127.0.0.1:{port}/healthz") == 200, role
            assert eventually(f"{role} ready", lambda port=port: True if get(
                f"http://127.0.0.1:{port}/readyz") == 200 else None)
        clients = {f"{role}.{c}": 1.0 for role, c in [
            ("worker", "producer"), ("worker", "consumer"), ("sink", "producer"),
            ("sink", "consumer"), ("sink", "clickhouse"), ("webhooks", "producer"),
            ("webhooks", "consumer")]}
        ready: dict[str, float] = {}

        def all_ready() -> bool | None:
            ready.update(prom.vector("metering_client_ready", "client"))
            return True if ready == clients else None

        try:
            eventually("every client ready in Prometheus", all_ready, timeout=30)
        except AssertionError:
            assert ready == clients
    finally:
        p.stop()
        prom.stop()
