"""The Kafka broker of a chaos run: the project's own (one that can be killed and started
again on the same ports and data), or an external cluster from KAFKA_BOOTSTRAP_SERVERS."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from infra.kafka_broker import KafkaBroker
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
