"""Rough edges a new user hit (issue: operations), each checked on the real parts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.kafka_broker import KafkaBroker
from testkit.pipeline import ROOT


def test_a_cluster_id_beginning_with_a_dash_formats_the_storage(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka", ROOT / ".cache" / "kafka-libs")
    broker.format_storage(cluster_id="-Xk3vQ7sTu2Yw9zAbCdEfGh")  # `-t -X...` used to fail
    meta = (tmp_path / "kafka" / "kraft-logs" / "meta.properties").read_text()
    assert "cluster.id=-Xk3vQ7sTu2Yw9zAbCdEfGh" in meta


def test_the_embedded_clickhouse_default_is_inside_the_checkout() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERING_CH_")}
    code = ("from projections.settings import ClickHouseSettings as S; "
            "print(S().embedded_path)")
    path = Path(subprocess.run([sys.executable, "-c", code], cwd="/", env={
        **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True
    ).stdout.strip())
    assert path == ROOT / "var" / "chdb"  # not /var/chdb, whatever the working directory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["invoices"], ["alerts"], ["status"],
                                     ["usage", "acme"]])
def test_a_command_that_reads_kafka_says_in_one_line_that_no_broker_answers(
        command: list[str]) -> None:
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cli.main", *command], cwd=ROOT,
                          env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": address},
                          capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert done.returncode != 0
    assert f"no Kafka broker answers at {address}" in done.stderr
    assert "metering up" in done.stderr
    assert len((done.stdout + done.stderr).strip().splitlines()) <= 3
    assert took < 15  # interpreter start-up included; the check itself waits 2 s at most
