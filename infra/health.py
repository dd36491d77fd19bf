"""Liveness and readiness of a role's clients (Kafka producer and consumer, ClickHouse).

Each client a role owns reports to the process's `Health` (`REGISTRY`, one per process
like the Prometheus registry): `progressed()` after it did its work (a delivery
acknowledged, a fetch answered, an insert accepted), `failed(error)` when an attempt
failed (it is retried by its owner). From that:
- **ready** (`/readyz` 200): every client has made progress once and none is failing now;
  503 names the clients that are not ready and why (`not_started`, `failing`). A load
  balancer or `metering run` waits for it; it goes back to 503 while, say, the broker
  refuses the producer's records.
- **live** (`/healthz` 200): no client has been failing for longer than `stall_after_s`
  (`METERING_METRICS_STALL_S`, 120 s): past that the role cannot make progress by itself
  and a restart is the next step (503, for an orchestrator's liveness probe).
Every failure is also counted (`metering_client_failures_total{client}`), and
`metering_client_ready{client}` is 1 or 0.

Both endpoints are served with `/metrics` on the role's metrics port (`infra.metrics`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import Counter, Gauge, make_wsgi_app

CLIENT_FAILURES = Counter("metering_client_failures", "Failed attempts of a role's client "
                          "(a delivery, fetch or insert; each is retried), by client.",
                          ["client"])
CLIENT_READY = Gauge("metering_client_ready", "1 while the client has made progress and "
                     "is not failing, else 0.", ["client"])


@dataclass
class ClientHealth:
    name: str
    clock: Callable[[], float] = time.monotonic
    started: bool = False
    failing_since: float | None = None
    last_error: str | None = None
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        CLIENT_READY.labels(client=self.name).set(0)

    def progressed(self) -> None:
        with self._lock:
            self.started, self.failing_since = True, None
        CLIENT_READY.labels(client=self.name).set(1)

    def failed(self, error: BaseException | str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = (error if isinstance(error, str) else
                               f"{type(error).__name__}: {error}")[:300]
            if self.failing_since is None:
                self.failing_since = self.clock()
        CLIENT_FAILURES.labels(client=self.name).inc()
        CLIENT_READY.labels(client=self.name).set(0)

    def report(self) -> dict[str, Any]:
        with self._lock:
            failing = None if self.failing_since is None else round(
                self.clock() - self.failing_since, 1)
            return {"started": self.started, "failing_for_s": failing,
                    "failures": self.failures, "last_error": self.last_error}


class Health:
    def __init__(self, stall_after_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after_s, self.clock = stall_after_s, clock
        self.clients: dict[str, ClientHealth] = {}
        self._lock = threading.Lock()

    def client(self, name: str) -> ClientHealth:
        with self._lock:
            found = self.clients.get(name)
            if found is None:
                found = self.clients[name] = ClientHealth(name, self.clock)
            return found

    def _reports(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            clients = list(self.clients.values())
        return {c.name: c.report() for c in clients}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        reports = self._reports()
        problems = {name: "not_started" if not r["started"] else "failing"
                    for name, r in reports.items()
                    if not r["started"] or r["failing_for_s"] is not None}
        body: dict[str, Any] = {"status": "ready" if not problems else "not_ready",
                                "clients": reports}
        if problems:
            body["reason"], body["problems"] = "clients_not_ready", problems
        return not problems, body

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        reports = self._reports()
        stalled = sorted(name for name, r in reports.items()
                         if r["failing_for_s"] is not None
                         and r["failing_for_s"] > self.stall_after_s)
        body: dict[str, Any] = {"status": "ok" if not stalled else "stalled",
                                "clients": reports}
        if stalled:
            body["reason"], body["stalled"] = "client_stalled", stalled
        return not stalled, body


REGISTRY = Health()
"""This process's clients (every role registers its own)."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


def wsgi_app(health: Health) -> Callable[..., Iterable[bytes]]:
    """`/healthz` and `/readyz` as JSON (200 or 503); anything else is `/metrics`."""
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            good, body = health.liveness() if path == "/healthz" else health.readiness()
            start_response("200 OK" if good else "503 Service Unavailable",
                           [("Content-Type", "application/json")])
            return [orjson.dumps(body)]
        result: Iterable[bytes] = metrics(environ, start_response)
        return result

    return app


def serve(port: int, addr: str, health: Health) -> None:
    """`/metrics`, `/healthz` and `/readyz` on `addr:port`, in a daemon thread. OSError
    (e.g. the port is taken) reaches the caller."""
    server = make_server(addr, port, wsgi_app(health), _Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
