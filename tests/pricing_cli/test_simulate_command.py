"""`metering simulate` as a user runs it: a candidate YAML, the tables and the pictures.

Its own module: the command opens the embedded ClickHouse in its process, and a process
holds one chdb path at a time (the other simulation tests' database is closed by then).
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from pricing.simulation import SimulationReport
from projections.simulation_charts import CHARTS
from testkit.simulation_log import ACCOUNTS, NOW, load_log

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_writes_tables_and_pictures(tmp_path: Path) -> None:
    client, _ = load_log(tmp_path)
    client.close()  # the embedded database belongs to one process: the command's now
    candidate = tmp_path / "candidate.yaml"
    text = (ROOT / "pricing" / "pricebooks" / "marketing_tiers.yaml").read_text()
    changed = text.replace("fee: 7000", "fee: 6990").replace('version: "2025.1"',
                                                               'version: "2025.2"')
    assert changed.count("6990") == 1 and "2025.2" in changed
    candidate.write_text(changed)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERING_")}
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "simulate", "--pricebook", str(candidate),
         "--from", "2025-03", "--to", "2025-03", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**env, "METERING_CH_DSN": f"chdb://{tmp_path / 'chdb'}",
             "METERING_CLOCK": f"fixed:{NOW.isoformat()}", "COLUMNS": "200"})
    assert run.returncode == 0, run.stderr
    assert "~ products.email.plans.email-7k.fee: 7000 -> 6990" in run.stdout
    assert "marketing_tiers@2025.1 -> 2025.2" in run.stdout
    report = SimulationReport.model_validate_json((out / "simulation.json").read_text())
    assert report.total.difference == Decimal(-10) * len(ACCOUNTS)
    rows = (out / "accounts.csv").read_text().splitlines()
    assert len(rows) == 1 + len(ACCOUNTS) and rows[1].split(",")[3] == "-10.00"
    for name in CHARTS:
        png, svg = (out / f"{name}.png").read_bytes(), (out / f"{name}.svg").read_text()
        assert png.startswith(b"\x89PNG") and len(png) > 5_000
        assert "<svg" in svg
    assert "2025-03" in (out / "revenue_by_month.svg").read_text()
