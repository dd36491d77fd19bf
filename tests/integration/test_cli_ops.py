"""`metering status`, `alerts` and `usage` on a running stack (real broker, worker, sink)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from testkit.events import Sender
from testkit.pipeline import ROOT, Pipeline

pytestmark = pytest.mark.integration


def metering(p: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env={
        **p.env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120, check=False)


def test_status_and_alerts(bootstrap: str, tmp_path: Path) -> None:
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK="fixed:2026-03-02T00:00:00Z")
    s = Sender(bootstrap, p.prefix)
    try:
        p.start_sink()
        p.start_worker()
        s.send("ops-1", "account.subscribed", {"product": "email", "plan": "email-7k",
                                               "anchor": "2026-03-01"},
               datetime(2026, 3, 1, tzinfo=UTC))
        at = datetime(2026, 3, 1, 12, tzinfo=UTC)
        s.send("ops-1", "email.sent", {"count": 56_000}, at)  # 80% of email-7k's 70,000
        s.send("nobody", "email.sent", {"count": 1}, at)  # an unknown account
        s.flush()
        raw = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        raw.send(p.topics.events, key=b"ops-1", value=b"{not json").get(timeout=60)
        raw.close()
        p.wait_caught_up(timeout=120)
        deadline = time.monotonic() + 60
        while True:
            shown = metering(p, "alerts", "--account", "ops-1")
            if "80%" in shown.stdout or time.monotonic() > deadline:
                break
            time.sleep(1)
        status = metering(p, "status")
        chart = tmp_path / "ops-1.png"
        usage = metering(p, "usage", "ops-1", "--chart", str(chart))  # while it runs
        both = metering(p, "usage", "ops-1", "--clickhouse", "--chart", str(chart))
        unknown = metering(p, "usage", "no-such-account")
    finally:
        s.close()
        p.stop()
    assert shown.returncode == 0 and "80%" in shown.stdout and "56000" in shown.stdout
    assert status.returncode == 0, status.stderr
    assert usage.returncode == 0, usage.stderr
    row = next(ln for ln in usage.stdout.splitlines() if "email.sent" in ln)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells == ["email.sent", "56,000", "70,000", "80.0%", "14,000"]
    assert "plan email-7k (marketing_tiers)" in usage.stdout
    # the chart: 56,000 one day into a 31-day cycle: the rate gives 31 x 56,000 at its end
    # and crosses 70,000 a quarter of a day later (06:00 on 2 March)
    assert "email email.sent: 56,000 now, forecast 1,736,000 at the cycle end against " \
        "70,000 (over on 2026-03-02)" in usage.stdout
    assert chart.read_bytes().startswith(b"\x89PNG") and chart.stat().st_size > 10_000
    assert both.returncode != 0 and "does not combine with --clickhouse" in both.stderr
    assert unknown.returncode != 0
    assert "no live state for account 'no-such-account'" in unknown.stderr
    lines = status.stdout.splitlines()
    events_rows = [ln for ln in lines if p.topics.events in ln]
    assert len(events_rows) == p.partitions
    assert all(ln.split("│")[-2].strip() == "0" for ln in events_rows)  # lag 0: caught up
    rejected = {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in lines
                if ln.count("│") == 3}
    assert rejected.get("unknown_account") == "1" and rejected.get("malformed_json") == "1"
    assert sum(int(v) for v in rejected.values() if v.isdigit()) == 2
    assert "last close:" in status.stdout
    assert "lateness: 24 h (the price books' lateness_hours)" in status.stdout


def test_status_without_broker_is_one_clear_line(tmp_path: Path) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "cli.main", "status"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "no Kafka broker answers at 127.0.0.1:1" in done.stderr and "metering up" in done.stderr
