"""The local stack: a broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and the pipeline's
processes, supervised until Ctrl-C, then stopped in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import structlog

from infra.kafka_broker import KafkaBroker
from infra.kafka_settings import KafkaSettings
from infra.topics import ensure_topics
from schemas.topics import Topics

log = structlog.get_logger(__name__)


def local_broker(settings: KafkaSettings) -> KafkaBroker:
    data = settings.data_dir.resolve()
    return KafkaBroker(data_dir=data / "kafka", lib_dir=_lib_dir(),
                       port=settings.broker_port, controller_port=settings.controller_port,
                       partitions=settings.partitions)


def _lib_dir() -> Path:
    return Path(os.environ.get("METERING_KAFKA_LIBS", Path.cwd() / ".cache" / "kafka-libs"))


def role_command(role: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", role]


def run_stack(settings: KafkaSettings, roles: list[str]) -> int:
    """Start the broker if needed, then each role as a child process; stop all on a signal."""
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
        # own sessions: a terminal's Ctrl-C reaches only this process, which stops the
        # children in order (SIGTERM: faust finishes the batch in hand, then commits)
        children = [subprocess.Popen(role_command(r), env=env, start_new_session=True)
                    for r in roles]
        log.info("stack.up", bootstrap=bootstrap, roles=roles, pids=[c.pid for c in children])
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    log.error("stack.child_exited", pid=child.pid, code=child.returncode)
                    stopping, code = True, child.returncode or 1
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
