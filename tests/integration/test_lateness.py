"""One lateness for stream and close of cycle (issue 15, item 3): an override of the price
books' 24 hours moves both the stream's `too_late` line and the projector's close, and
`metering status` shows it (real broker, worker, sink with its projector)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from testkit.events import Sender
from testkit.pipeline import ROOT, Pipeline

pytestmark = pytest.mark.integration
ACCOUNT = "late-1"


def test_a_lateness_override_holds_for_the_stream_and_the_close(bootstrap: str,
                                                                 tmp_path: Path) -> None:
    # March's cycle ends 2026-04-01T00:00Z. With the books' 24 h neither would it close by
    # 03:00 nor would an event received at 02:30 be late; with 2 h both happen.
    p = Pipeline(bootstrap, tmp_path, METERING_CLOCK="fixed:2026-04-01T03:00:00Z",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1", METERING_ALLOWED_LATENESS_H="2")
    s = Sender(bootstrap, p.prefix)
    march = datetime(2026, 3, 1, tzinfo=UTC)
    try:
        p.start_worker()
        s.send(ACCOUNT, "account.subscribed", {"product": "email", "plan": "email-7k",
                                               "anchor": "2026-03-01"}, march, eid="sub")
        s.send(ACCOUNT, "email.sent", {"count": 10}, datetime(2026, 3, 10, tzinfo=UTC),
               eid="in-cycle")
        s.send(ACCOUNT, "email.sent", {"count": 5}, datetime(2026, 3, 31, 23, tzinfo=UTC),
               eid="inside", received=datetime(2026, 4, 1, 1, 30, tzinfo=UTC))
        s.send(ACCOUNT, "email.sent", {"count": 3}, datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
               eid="after", received=datetime(2026, 4, 1, 2, 30, tzinfo=UTC))
        s.flush()
        p.start_sink()
        p.wait_caught_up(timeout=120)
        deadline = time.monotonic() + 90
        while True:
            client = p.clickhouse()
            db = p.ch.database
            try:
                rejected = client.query(
                    f"SELECT id, reason FROM {db}.rejected_events FINAL "
                    "WHERE account = {a:String}", parameters={"a": ACCOUNT}).result_rows
                accepted = client.query(
                    f"SELECT id FROM {db}.usage_log FINAL WHERE account = {{a:String}} "
                    "AND type = 'email.sent'", parameters={"a": ACCOUNT}).result_rows
                cycle = client.query(
                    f"SELECT cycle_start, issued_at FROM {db}.invoices FINAL "
                    "WHERE account = {a:String} AND kind = 'cycle'",
                    parameters={"a": ACCOUNT}).result_rows
            finally:
                client.close()
            if cycle or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        status = subprocess.run([sys.executable, "-m", "cli.main", "status"], cwd=ROOT,
                                env={**p.env, "COLUMNS": "200"}, capture_output=True,
                                text=True, timeout=120, check=False)
    finally:
        s.close()
        p.stop()
    assert rejected == [("after", "too_late")]
    assert sorted(r[0] for r in accepted) == ["in-cycle", "inside"]
    assert [r[0].replace(tzinfo=UTC) for r in cycle] == [march], cycle
    assert status.returncode == 0, status.stderr
    assert "lateness: 2 h (override METERING_ALLOWED_LATENESS_H)" in status.stdout
