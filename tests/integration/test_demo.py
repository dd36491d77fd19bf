"""`make demo`'s story end to end (short mode: the story's accounts only), on the real
broker and chdb: every claim it prints holds, and the figures it rests on are there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from testkit.pipeline import ROOT

pytestmark = pytest.mark.integration


def test_demo_story_short(bootstrap: str, tmp_path: Path) -> None:
    summary = tmp_path / "demo.json"
    done = subprocess.run(
        [sys.executable, "-m", "demo", "--short", "--json", str(summary),
         "--workdir", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    s = json.loads(summary.read_text())
    assert s["passed"] and len(s["checks"]) == 14
    assert all(c["holds"] for c in s["checks"])
    assert "the story happened as told" in done.stdout
    kinds = {(d[0], d[1]) for d in s["decisions"]}
    assert kinds == {("acme-flex", "flex.purchased"), ("bluebird-news", "sending.blocked"),
                     ("upward-shop", "plan.upgraded")}
    assert s["rejected"]["too_late"] == 1
    invoices = s["invoices"]
    assert len([d for d in invoices if not d["revision"]]) == s["invoices_expected_offline"]
    (rev,) = [d for d in invoices if d["revision"]]
    assert rev["number"] == "REV-2025-000001" and rev["account"] == "late-mailer"
    assert Decimal(rev["rerated_total"]) - Decimal(rev["previous_total"]) == \
        Decimal(rev["total"]) == Decimal(100)
    numbers = sorted(int(d["number"].rsplit("-", 1)[1]) for d in invoices
                     if d["number"].startswith("INV-"))
    assert numbers == list(range(1, len(numbers) + 1))  # one series, gap-free
