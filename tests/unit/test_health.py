"""A role's liveness and readiness from its clients' reports (issue 16, item 1):
`/readyz` is 503 until every client made progress and while one fails; `/healthz`
turns 503 only once a failure outlasts the stall limit; both served as JSON beside
`/metrics`, which counts every failure."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client import REGISTRY as PROMETHEUS

from infra.health import Health, serve
from infra.kafka_broker import free_port


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def failures(client: str) -> float:
    return PROMETHEUS.get_sample_value("metering_client_failures_total",
                                       {"client": client}) or 0.0


def test_not_ready_until_every_client_progressed_and_while_one_fails() -> None:
    clock = Ticks()
    health = Health(stall_after_s=60, clock=clock)
    producer, consumer = health.client("t1.producer"), health.client("t1.consumer")
    good, body = health.readiness()
    assert not good and body["problems"] == {"t1.producer": "not_started",
                                             "t1.consumer": "not_started"}
    assert health.liveness()[0]  # not started is not stalled
    producer.progressed()
    consumer.progressed()
    assert health.readiness() == (True, {"status": "ready", "clients": {
        "t1.producer": {"started": True, "failing_for_s": None, "failures": 0,
                        "last_error": None},
        "t1.consumer": {"started": True, "failing_for_s": None, "failures": 0,
                        "last_error": None}}})
    before = failures("t1.producer")
    producer.failed(ValueError("refused"))
    clock.now += 30
    producer.failed("refused again")
    good, body = health.readiness()
    assert not good and body["problems"] == {"t1.producer": "failing"}
    assert body["clients"]["t1.producer"] == {"started": True, "failing_for_s": 30.0,
                                              "failures": 2, "last_error": "refused again"}
    assert failures("t1.producer") == before + 2
    assert health.liveness()[0]  # 30 s of failing: within the stall limit
    clock.now += 31
    live, body = health.liveness()
    assert not live and body["reason"] == "client_stalled" and body["stalled"] == [
        "t1.producer"]
    producer.progressed()  # delivered again: live and ready, the failures stay counted
    assert health.liveness()[0] and health.readiness()[0]
    assert health.readiness()[1]["clients"]["t1.producer"]["failures"] == 2


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_served_as_json_beside_the_metrics() -> None:
    clock = Ticks()
    health = Health(stall_after_s=60, clock=clock)
    client = health.client("t2.consumer")
    port = free_port()
    serve(port, "127.0.0.1", health)
    base = f"http://127.0.0.1:{port}"
    status, body = _get(f"{base}/readyz")
    assert status == 503 and json.loads(body)["problems"] == {"t2.consumer": "not_started"}
    client.progressed()
    assert _get(f"{base}/readyz")[0] == 200 and _get(f"{base}/healthz")[0] == 200
    client.failed(OSError("broker gone"))
    assert _get(f"{base}/healthz")[0] == 200 and _get(f"{base}/readyz")[0] == 503
    clock.now += 61
    status, body = _get(f"{base}/healthz")
    assert status == 503 and json.loads(body)["stalled"] == ["t2.consumer"]
    assert json.loads(body)["clients"]["t2.consumer"]["last_error"] == "OSError: broker gone"
    status, metrics = _get(f"{base}/metrics")
    assert status == 200
    assert b'metering_client_failures_total{client="t2.consumer"} 1.0' in metrics
    assert b'metering_client_ready{client="t2.consumer"} 0.0' in metrics
