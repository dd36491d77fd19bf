"""The Kafka broker of a chaos run: the project's own (one that can be killed and started
again on the same ports and data), or an external cluster from KAFKA_BOOTSTRAP_SERVERS."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from infra.kafka_broker import KafkaBroker, KafkaCluster
from testkit.pipeline import ROOT

log = structlog.get_logger(__name__)


def kafka_libs() -> Path:
    return Path(os.environ.get("METERING_KAFKA_LIBS", ROOT / ".cache" / "kafka-libs"))


@dataclass
class Broker:
    bootstrap: str
    own: KafkaBroker | None = None

    @property
    def controllable(self) -> bool:
        return self.own is not None

    def kill(self) -> None:
        """kill -9 of the broker process (its data stays on disk)."""
        if self.own is None:
            raise RuntimeError("an external broker cannot be killed by the chaos runner")
        self.own.kill()
        log.info("chaos.broker_killed", bootstrap=self.bootstrap)

    def restart(self, timeout: float = 120.0) -> float:
        """Start the killed broker again on its data; seconds until it answers."""
        if self.own is None:
            raise RuntimeError("an external broker cannot be restarted by the chaos runner")
        t0 = time.monotonic()
        self.own.start(timeout)
        log.info("chaos.broker_restarted", seconds=round(time.monotonic() - t0, 1))
        return time.monotonic() - t0


@contextmanager
def own_broker(data_dir: Path, heap: str = "768m") -> Iterator[Broker]:
    """A single-node KRaft broker of our own (jars from .cache/kafka-libs)."""
    kafka = KafkaBroker(data_dir=data_dir, lib_dir=kafka_libs(), log_level="WARN", heap=heap)
    kafka.start()
    try:
        yield Broker(kafka.bootstrap, kafka)
    finally:
        kafka.stop()


@contextmanager
def shared_broker(data_dir: Path) -> Iterator[Broker]:
    """KAFKA_BOOTSTRAP_SERVERS when set, else a broker of our own."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield Broker(external)
        return
    with own_broker(data_dir) as broker:
        yield broker


@dataclass
class Cluster(Broker):
    """A three-node cluster of our own: nodes can be killed, stopped and restarted."""

    cluster: KafkaCluster = field(default_factory=lambda: KafkaCluster(Path(), Path()))

    def leaders(self, prefix: str) -> dict[int, int]:
        """Node id -> partitions it leads, over the topics of `prefix`."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            names = [t for t in admin.list_topics() if t.startswith(prefix)]
            counts = {n.node_id: 0 for n in self.cluster.nodes}
            for topic in admin.describe_topics(names):
                for part in topic["partitions"]:
                    if part["leader_id"] in counts:
                        counts[part["leader_id"]] += 1
            return counts
        finally:
            admin.close()

    def fully_replicated(self, prefix: str) -> bool:
        """Every partition of the topics of `prefix` (and the group offsets) has all its
        replicas in sync again."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            names = [t for t in admin.list_topics()
                     if t.startswith(prefix) or t == "__consumer_offsets"]
            return all(len(p["isr_nodes"]) == len(p["replica_nodes"])
                       for t in admin.describe_topics(names) for p in t["partitions"])
        except Exception:  # a node is still starting: not yet
            return False
        finally:
            admin.close()

    def wait_replicated(self, prefix: str, timeout: float = 120.0) -> float:
        t0 = time.monotonic()
        while not self.fully_replicated(prefix):
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"replicas not in sync after {timeout}s")
            time.sleep(0.5)
        return time.monotonic() - t0

    def kill_node(self, node_id: int) -> None:
        self.cluster.node(node_id).kill()
        log.info("chaos.node_killed", node=node_id)

    def stop_node(self, node_id: int) -> None:
        """A clean stop (SIGTERM: leadership moves, the log is flushed)."""
        self.cluster.node(node_id).stop()
        log.info("chaos.node_stopped", node=node_id)

    def restart_node(self, node_id: int, timeout: float = 120.0) -> float:
        t0 = time.monotonic()
        self.cluster.restart(node_id, timeout)
        log.info("chaos.node_restarted", node=node_id, seconds=round(time.monotonic() - t0, 1))
        return time.monotonic() - t0


@contextmanager
def own_cluster(data_dir: Path, size: int = 3, heap: str = "512m") -> Iterator[Cluster]:
    """A KRaft cluster of `size` nodes of our own (topics at replication 3, 2 in sync)."""
    cluster = KafkaCluster(data_dir=data_dir, lib_dir=kafka_libs(), size=size,
                           log_level="WARN", heap=heap)
    cluster.start()
    try:
        yield Cluster(cluster.bootstrap, None, cluster)
    finally:
        cluster.stop()
