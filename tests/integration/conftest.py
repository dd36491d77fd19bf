"""Real parts for integration tests: one Kafka broker per session, a pipeline per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.kafka_broker import KafkaBroker
from testkit.pipeline import ROOT, Pipeline


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    libs = Path(os.environ.get("METERING_KAFKA_LIBS", ROOT / ".cache" / "kafka-libs"))
    broker = KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka"), lib_dir=libs,
                         log_level="WARN")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def pipeline(bootstrap: str, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(bootstrap, tmp_path)
    try:
        yield p
    finally:
        p.stop()
