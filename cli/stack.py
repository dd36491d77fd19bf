"""The local stack: a broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and the pipeline's
processes, supervised until Ctrl-C, then stopped in order.

Once every role is up (the API answers `/readyz`, the worker's and the sink's consumer
groups have members), one short block says where everything is (`ready_block`). On a
terminal the roles' JSON logs go to `<data dir>/log/<role>.log`, so they never interleave
with the console's messages; piped (CI, a service manager) they stay on the output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import structlog

from infra.kafka_broker import KafkaBroker, KafkaCluster
from infra.kafka_settings import KafkaSettings
from infra.topics import ensure_topics
from schemas.topics import Topics

log = structlog.get_logger(__name__)


def local_broker(settings: KafkaSettings) -> KafkaBroker:
    data = settings.data_dir.resolve()
    return KafkaBroker(data_dir=data / "kafka", lib_dir=_lib_dir(),
                       port=settings.broker_port, controller_port=settings.controller_port,
                       partitions=settings.partitions)


def local_cluster(settings: KafkaSettings, size: int) -> KafkaCluster:
    """`size` local nodes: broker ports `broker_port`, +2, +4 ...; controllers likewise
    from `controller_port`; data in `<data dir>/kafka/node-<n>`."""
    data = settings.data_dir.resolve()
    ports = [(settings.broker_port + 2 * i, settings.controller_port + 2 * i)
             for i in range(size)]
    return KafkaCluster(data_dir=data / "kafka", lib_dir=_lib_dir(), size=size,
                        partitions=settings.partitions, ports=ports)


def _lib_dir() -> Path:
    return Path(os.environ.get("METERING_KAFKA_LIBS", Path.cwd() / ".cache" / "kafka-libs"))


def role_command(role: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", role]


@dataclass(frozen=True)
class StackInfo:
    """What the ready block shows and what readiness waits for."""

    api_url: str | None
    groups: tuple[str, ...]
    """Consumer groups that must have members (worker, sink)."""
    clickhouse: str
    kafka_data: Path | None
    logs: Path | None
    metrics: dict[str, str] | None = None
    """Role -> its Prometheus `/metrics` URL."""


def ready_block(bootstrap: str, info: StackInfo) -> str:
    lines = ["metering is running", f"  Kafka broker  {bootstrap}" + (
        f"  (data in {info.kafka_data})" if info.kafka_data else "")]
    if info.api_url:
        lines += [f"  API           {info.api_url}  (OpenAPI: {info.api_url}/docs)",
                  f"  dashboard     {info.api_url}/dashboard/ops",
                  "  API key       metering api-key new --name me --write '*' --read '*'"
                  "  (add the printed entry to METERING_API_KEYS_FILE, restart)"]
    lines.append(f"  ClickHouse    {info.clickhouse}")
    if info.metrics:
        lines.append("  metrics       " + ", ".join(f"{role} {url}"
                                                  for role, url in info.metrics.items()))
    if info.logs:
        lines.append(f"  logs          {info.logs}/<role>.log")
    lines.append("  stop          Ctrl-C")
    return "\n".join(lines)


def _groups_ready(bootstrap: str, groups: Sequence[str]) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        found = admin.describe_groups(list(groups))
    finally:
        admin.close()
    return all(found.get(g, {}).get("group_state") == "Stable" and found[g].get("members")
               for g in groups)


def _api_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def is_ready(bootstrap: str, info: StackInfo) -> bool:
    try:
        return (info.api_url is None or _api_ready(info.api_url)) and \
            _groups_ready(bootstrap, info.groups)
    except Exception as exc:  # the broker or a group not there yet: not ready
        log.debug("stack.not_ready", error=repr(exc)[:200])
        return False


def run_stack(settings: KafkaSettings, roles: list[str], info: StackInfo | None = None,
              say: Callable[[str], None] | None = None) -> int:
    """Start the broker if needed, then each role as a child process; stop all on a signal.
    With `info`, `say` the ready block once every role is up."""
    broker: KafkaBroker | None = None
    bootstrap = settings.bootstrap_servers
    if bootstrap is None:
        broker = local_broker(settings).start()
        bootstrap = broker.bootstrap
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        ensure_topics(bootstrap, Topics(settings.topic_prefix), settings.partitions)
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        logs = info.logs if info is not None else None
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
        # own sessions: a terminal's Ctrl-C reaches only this process, which stops the
        # children in order (SIGTERM: faust finishes the batch in hand, then commits)
        for role in roles:
            out: IO[bytes] | None = None
            if logs is not None:
                out = (logs / f"{role}.log").open("ab")
            children.append(subprocess.Popen(role_command(role), env=env,
                                             start_new_session=True, stdout=out,
                                             stderr=subprocess.STDOUT if out else None))
            if out is not None:
                out.close()  # the child holds its own descriptor
        log.info("stack.up", bootstrap=bootstrap, roles=roles, pids=[c.pid for c in children])
        announced = info is None
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    log.error("stack.child_exited", pid=child.pid, code=child.returncode)
                    stopping, code = True, child.returncode or 1
            if not stopping and not announced and info is not None and \
                    is_ready(bootstrap, info):
                announced = True
                log.info("stack.ready", bootstrap=bootstrap)
                if say is not None:
                    say(ready_block(bootstrap, info))
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
        if broker is not None:
            broker.stop()
        log.info("stack.down")
    return code
