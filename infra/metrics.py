"""Prometheus metrics of every role (official `prometheus-client`), one registry per
process, served on the role's own port (`serve_metrics`) with the role's `/healthz` and
`/readyz` (`infra.health`).

Names follow the Prometheus conventions: a `metering_` prefix, the role, base units
(`_seconds`, `_bytes`), `_total` on counters. A role counts what it did only once its
outputs were acknowledged (the worker after its batch's outputs were delivered, the sink
after ClickHouse accepted the insert), so the totals agree with the pipeline's tables.
Counters start at 0 on every start; Prometheus' `increase()` / `rate()` handle the resets.
`process_resident_memory_bytes` and the other `process_*` series come with the registry.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

import structlog
from prometheus_client import Counter, Gauge, Histogram
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.health import REGISTRY, serve

log = structlog.get_logger(__name__)

BATCH_RECORDS = (1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# -- the stream-processor worker -------------------------------------------------------
EVENTS_CONSUMED = Counter("metering_worker_events_consumed",
                          "Records of the events topic decided by this worker.")
EVENTS_ACCEPTED = Counter("metering_worker_events_accepted",
                          "Records accepted and metered (written to usage.metered).")
EVENTS_REJECTED = Counter("metering_worker_events_rejected",
                          "Records rejected, by machine-readable reason.", ["reason"])
EVENTS_DUPLICATE = Counter("metering_worker_events_duplicate",
                           "Records dropped as duplicates of an accepted (source, id).")
BATCH_SIZE = Histogram("metering_worker_batch_records", "Records per batch fetched.",
                       buckets=BATCH_RECORDS)
BATCH_SECONDS = Histogram("metering_worker_batch_seconds",
                          "Seconds to decide a batch and deliver its outputs.",
                          buckets=SECONDS)
CONSUMER_LAG = Gauge("metering_worker_consumer_lag_records",
                     "Records of a partition not yet read by this worker (high watermark "
                     "minus position, after the last batch).", ["partition"])
ALERTS = Counter("metering_worker_alerts", "Alerts raised, by kind.", ["kind"])
DECISIONS = Counter("metering_worker_decisions", "Limit decisions taken, by kind.", ["kind"])

# -- the sink, the projector and the ledger --------------------------------------------
INSERT_SECONDS = Histogram("metering_sink_insert_seconds",
                           "Seconds of one ClickHouse insert, by table.", ["table"],
                           buckets=SECONDS)
ROWS_INSERTED = Counter("metering_sink_rows_inserted",
                        "Rows ClickHouse accepted, by table (a retried block counts again; "
                        "the tables deduplicate it).", ["table"])
PROJECTOR_RUNS = Counter("metering_projector_runs", "Runs of the close-of-cycle projector.")
PROJECTOR_LAST_RUN = Gauge("metering_projector_last_run_timestamp_seconds",
                           "Unix time of the projector's last completed run.")
INVOICES_ISSUED = Counter("metering_ledger_invoices_issued",
                          "Invoices numbered by the ledger, by kind (cycle, immediate, "
                          "revision).", ["kind"])
CANDIDATES_INVALID = Counter("metering_ledger_candidates_invalid",
                             "Candidates the ledger refused: not JSON, or not the contract "
                             "(schemas.billing); logged as ledger.candidate_invalid.")

# -- the API and the webhook deliverer --------------------------------------------------
API_REQUESTS = Counter("metering_api_requests", "HTTP requests answered, by route, method "
                       "and status.", ["route", "method", "status"])
API_SECONDS = Histogram("metering_api_request_seconds", "Seconds to answer a request, by "
                        "route.", ["route"], buckets=SECONDS)
WEBHOOK_DELIVERIES = Counter("metering_webhook_deliveries",
                             "Webhook attempts, by outcome: delivered, failed_attempt "
                             "(retried or given up), gave_up (to the failed topic).",
                             ["outcome"])


class MetricsSettings(BaseSettings):
    """Where each role serves `/metrics` (env `METERING_METRICS_*`); a port of 0 is off.
    Several workers on one host need a port each (`METERING_METRICS_WORKER_PORT`)."""

    model_config = SettingsConfigDict(env_prefix="METERING_METRICS_", env_file=".env",

                                      extra="ignore")

    addr: str = Field("127.0.0.1", description="Address the metrics ports bind "
                                               "(0.0.0.0 for a Prometheus on another host).")
    worker_port: int = Field(9101, ge=0, le=65535)
    sink_port: int = Field(9102, ge=0, le=65535)
    api_port: int = Field(9103, ge=0, le=65535)
    webhooks_port: int = Field(9104, ge=0, le=65535)

    def urls(self, roles: Iterable[str]) -> dict[str, str]:
        """Role -> its `/metrics` URL, for the roles whose port is on."""
        ports = {role: int(getattr(self, f"{role}_port")) for role in roles}
        return {role: f"http://{self.addr}:{port}/metrics"
                for role, port in ports.items() if port}

    stall_s: float = Field(120.0, gt=0, description="`/healthz` answers 503 once a client "
                                                   "has been failing this long.")

    def serve(self, role: str) -> bool:
        REGISTRY.stall_after_s = self.stall_s
        port: int = getattr(self, f"{role}_port")
        return serve_metrics(role, port, self.addr)


def count_rejections(reasons: Iterable[str]) -> None:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    for reason, n in counts.items():
        EVENTS_REJECTED.labels(reason=reason).inc(n)


def serve_metrics(role: str, port: int | None, addr: str = "127.0.0.1") -> bool:
    """Serve `/metrics`, `/healthz` and `/readyz` (`infra.health`) on `port` (None or 0:
    off). A port already taken (a second worker on one host with the same setting) is
    logged and the role runs on without them."""
    if not port:
        return False
    try:
        serve(port, addr, REGISTRY)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.warning("metrics.port_in_use", role=role, port=port)
        return False
    log.info("metrics.serving", role=role, address=f"http://{addr}:{port}/metrics")
    return True
