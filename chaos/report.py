"""The runner's output: a table on stdout and a JSON file in bench/results."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import psutil

from chaos.result import Placeholder, Result
from testkit.pipeline import ROOT

RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "platform": platform.platform(), "python": platform.python_version()}


def document(results: Sequence[Result | Placeholder], profile: str, seed: int,
             started: datetime, seconds: float) -> dict[str, Any]:
    ran = [r for r in results if isinstance(r, Result)]
    return {"when": started.isoformat(timespec="seconds"), "profile": profile, "seed": seed,
            "seconds": round(seconds, 1), "machine": machine(),
            "passed": all(r.passed for r in ran),
            "scenarios": [r.to_json() for r in results]}


def write(doc: dict[str, Any], results_dir: Path = RESULTS) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, default=str) + "\n"
    stamp = datetime.fromisoformat(doc["when"]).astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = results_dir / f"chaos-{stamp}.json"
    path.write_text(text)
    (results_dir / "chaos-latest.json").write_text(text)
    return path


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{r} {n:,}" for r, n in counts.items()) or "0"


def rows(results: Sequence[Result | Placeholder]) -> list[list[str]]:
    out = [["#", "scenario", "produced", "acked", "accepted", "rejected (by reason)",
            "lost", "dup", "unexp", "oracle", "faults", "recovery s max / median", "result"]]
    for r in results:
        if isinstance(r, Placeholder):
            out.append([str(r.number), r.scenario, "-", "-", "-", f"(in {r.where})", "-",
                        "-", "-", "-", "-", "-", "n/a"])
            continue
        c = r.check
        done = sorted(x for x in r.recoveries if x is not None)
        recov = (f"{max(done):.1f} / {median(done):.1f}" if done else "none") + (
            "" if len(done) == len(r.recoveries) else " (not all)")
        i = r.invoices
        if i is not None:
            out.append([
                str(r.number), r.scenario, f"{i.expected:,} invoices", "-",
                f"{i.recorded:,} invoices", "-", str(i.lost), str(i.duplicated),
                str(i.unexpected),
                "gap-free" if not i.number_faults else f"{i.number_faults} number faults",
                f"{len(r.faults)}/{r.planned_faults}", recov if r.faults else "-",
                "PASS" if r.passed else "FAIL"])
            continue
        out.append([
            str(r.number), r.scenario,
            f"{c.produced:,}" if c else "?", f"{c.acknowledged:,}" if c else "?",
            f"{c.accepted:,}" if c else "?",
            f"{sum(c.rejected.values()):,}: {_reasons(c.rejected)}" if c else "?",
            str(c.lost) if c else "?", str(c.duplicated) if c else "?",
            str(c.unexpected) if c else "?",
            ("exact" if not c.oracle_mismatches else f"{c.oracle_mismatches} cells")
            if c else "?",
            f"{len(r.faults)}/{r.planned_faults}",
            recov if r.faults else "-",
            "PASS" if r.passed else "FAIL"])
    return out


def table(results: Sequence[Result | Placeholder], wrap: int = 60) -> str:
    grid = rows(results)
    for row in grid:  # the reasons column can be long: cut it for the terminal
        row[5] = row[5] if len(row[5]) <= wrap else row[5][: wrap - 1] + "…"
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def details(results: Sequence[Result | Placeholder]) -> str:
    """Per scenario: every rejection reason, the faults, unplanned exits, failures."""
    out: list[str] = []
    for r in results:
        if not isinstance(r, Result):
            continue
        c = r.check
        out.append(f"{r.number}. {r.scenario} ({r.title}); seed {r.seed}, "
                   f"{r.duration_s}s, drain {r.drain_s}s, max partition stall "
                   f"{r.max_stall_s}s")
        out.append(f"   cases: {_reasons(r.labels)}")
        if r.invoices is not None:
            i = r.invoices
            out.append(f"   invoices: expected {i.expected:,}, rows {i.recorded_rows:,}, "
                       f"distinct {i.recorded:,}; lost {i.lost}, duplicated {i.duplicated}, "
                       f"unexpected {i.unexpected}; numbers missing or repeated "
                       f"{i.number_faults}; a further projector run proposes {i.second_run}")
        if c is not None:
            out.append(f"   rejected: {_reasons(c.rejected)}")
            out.append(f"   attempts {c.attempts:,} (failed {c.failed_attempts:,}); "
                       f"unacknowledged present / absent {c.unacked_present} / "
                       f"{c.unacked_absent}; copies in the usage log not merged yet "
                       f"{c.raw_copies:,}; rejected copies of accepted events "
                       f"{_reasons(c.rejected_copies)}")
        for f in r.faults:
            rec = "none" if f.recovery_s is None else f"{f.recovery_s:.1f}s"
            out.append(f"   at {f.at_s:7.1f}s  {f.kind}: {f.detail}; lag {f.lag}; "
                       f"recovered in {rec}")
        if r.producer_resets:
            out.append(f"   producer replaced {r.producer_resets} time(s): it stopped "
                       "answering (no ack, no error) after the broker came back")
        for e in r.exits:
            out.append(f"   unplanned exit: {e.role} code {e.code} at {e.at_s:.1f}s "
                       "(restarted)")
        out += [f"   note: {n}" for n in r.notes]
        out += [f"   FAIL: {f}" for f in r.failures()]
        if c is not None:
            for what, items in c.examples.items():
                out.append(f"   {what}: {'; '.join(items)}")
        if not r.passed:
            out.append(f"   kept: {r.workdir}")
    return "\n".join(out)
