"""The real pipeline's processes (sink + workers) on their own topics, for scripted runs:
the demo, the chaos scenarios, the benchmarks and the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from infra.topics import end_offsets, ensure_topics
from projections.client import open_client
from projections.settings import ClickHouseSettings
from schemas.topics import Topics

ROOT = Path(__file__).resolve().parents[1]


class Pipeline:
    def __init__(self, bootstrap: str, workdir: Path, partitions: int = 4,
                 prefix: str | None = None, **env: str) -> None:
        """`prefix`: the topics of an earlier pipeline (a rebuild from its log)."""
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.partitions = partitions
        tag = uuid.uuid4().hex[:8]
        self.prefix = prefix or f"t{tag}."
        self.topics = Topics(self.prefix)
        self.processor_id = f"proc-{tag}"
        self.sink_id = f"sink-{tag}"
        self.ch = ClickHouseSettings(dsn=f"chdb://{workdir / 'chdb'}")
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "METERING_TOPIC_PREFIX": self.prefix,
            "METERING_PARTITIONS": str(partitions),
            "METERING_APP_ID": self.processor_id,
            "METERING_SINK_APP_ID": self.sink_id,
            "METERING_CH_DSN": self.ch.dsn,
            "METERING_LOG_LEVEL": "WARNING",
            # no metrics ports unless asked for: runs side by side must not compete
            **{f"METERING_METRICS_{role}_PORT": "0"
               for role in ("WORKER", "SINK", "API", "WEBHOOKS")},
            **env,
        }
        self.workers: list[subprocess.Popen[bytes]] = []
        self.sink: subprocess.Popen[bytes] | None = None
        ensure_topics(bootstrap, self.topics, partitions)

    def _spawn(self, role: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{role}-{len(self.workers)}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", role], cwd=ROOT,
                                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return proc

    def spawn(self, role: str) -> subprocess.Popen[bytes]:
        """Another role (api, webhooks), stopped with the workers."""
        proc = self._spawn(role)
        self.workers.append(proc)
        return proc

    def start_sink(self) -> None:
        self.sink = self._spawn("sink")

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn("worker")
        self.workers.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_sink(self) -> None:
        if self.sink is not None and self.sink.poll() is None:
            self.sink.send_signal(signal.SIGTERM)
            try:
                self.sink.wait(60)
            except subprocess.TimeoutExpired:
                self.sink.kill()
                self.sink.wait()

    def stop(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                w.kill()
        self.stop_sink()

    # ---- waiting -----------------------------------------------------------------------

    def committed(self, group: str, topic: str) -> dict[int, int]:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            offsets = admin.list_group_offsets(group).get(group, {})
        except KafkaError:  # coordinator not ready yet: nothing committed we can see
            return {}
        finally:
            admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    def caught_up(self) -> bool:
        checks = [(self.processor_id, self.topics.events), (self.sink_id, self.topics.metered),
                  (self.sink_id, self.topics.rejected), (self.sink_id, self.topics.alerts),
                  (self.sink_id, self.topics.decisions)]
        for group, topic in checks:
            end = end_offsets(self.bootstrap, topic)
            done = self.committed(group, topic)
            if any(done.get(p, 0) < o for p, o in end.items() if o > 0):
                return False
        return True

    def wait_caught_up(self, timeout: float = 300.0) -> float:
        """Wait until every record is processed, written and committed; seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self._check_alive()
            if self.caught_up():
                # the processor's last batch may still be on its way to the sink
                time.sleep(1.0)
                if self.caught_up():
                    return time.monotonic() - start
            time.sleep(0.5)
        raise TimeoutError(f"pipeline not caught up after {timeout}s; logs in {self.workdir}")

    def _check_alive(self) -> None:
        if self.sink is not None and self.sink.poll() is not None:
            raise RuntimeError(f"sink exited with {self.sink.returncode}; see {self.workdir}")

    def clickhouse(self) -> Any:
        """A client on the sink's chdb, after the sink is stopped (one process per path)."""
        self.stop_sink()
        return open_client(self.ch)
