"""`metering config [--check]` (issue 17, item 5): every role's effective setting with
its source (default, environment, the working directory's .env), secrets masked, and a
check that lists every problem and exits 1. Each test failed before (no such command)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No METERING_ variable of the caller's, a working directory of the test's, and
    structlog as it was (the command configures it on the runner's stderr, closed after
    the invocation: later tests would log to a closed file)."""
    import os

    for name in list(os.environ):
        if name.startswith("METERING_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def rows(output: str) -> dict[tuple[str, str], tuple[str, str]]:
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 5:
            found[(cells[0], cells[1])] = (cells[3], cells[4])
    return found


def test_each_value_shows_its_source_and_secrets_are_masked(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("METERING_PARTITIONS=8\n"
                                   "METERING_WEBHOOK_MASTER_SECRET=from-the-file\n")
    monkeypatch.setenv("METERING_TICK_S", "5")
    monkeypatch.setenv("METERING_CH_PASSWORD", "hunter2")
    monkeypatch.setenv("COLUMNS", "250")
    done = runner.invoke(app, ["config"])
    assert done.exit_code == 0, done.output
    got = rows(done.stdout)
    assert got[("kafka", "partitions")] == ("8", "file .env")
    assert got[("worker", "tick_s")] == ("5.0", "environment")
    assert got[("worker", "batch_max")] == ("10000", "default")
    assert got[("webhooks", "master_secret")] == ("********", "file .env")
    assert got[("clickhouse", "password")] == ("********", "environment")
    assert "hunter2" not in done.output and "from-the-file" not in done.output
    assert {role for role, _ in got} >= {"kafka", "worker", "sink", "clickhouse", "api",
                                         "webhooks", "producer", "metrics", "sql"}


def test_check_passes_on_the_defaults() -> None:
    done = runner.invoke(app, ["config", "--check"])
    assert done.exit_code == 0, done.output
    assert "settings OK" in done.stdout


def test_check_lists_every_problem_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERING_PARTITIONS", "0")
    monkeypatch.setenv("METERING_SINK_BATCH_MAX", "many")
    monkeypatch.setenv("METERING_METRICS_SINK_PORT", "8080")  # the API's port
    monkeypatch.setenv("METERING_RATE_PRICEBOOK", "no_such_book")
    monkeypatch.setenv("METERING_API_KEYS_FILE", "missing-keys.yaml")
    done = runner.invoke(app, ["config", "--check"])
    assert done.exit_code == 1
    text = " ".join(done.stderr.split())
    assert "kafka: partitions: Input should be greater than or equal to 1" in text
    assert "sink: batch_max: Input should be a valid integer" in text
    assert "ports: metrics sink and api both use 8080" in text
    assert "worker: rate_pricebook:" in text and "no_such_book" in text
    assert "api: keys:" in text and "missing-keys.yaml" in text
    assert "5 problem(s)" in text
