"""The pictures of a price simulation (matplotlib, no pyplot: safe in any thread).

- `revenue_by_month`: revenue per month under the current book and the candidate, side
  by side;
- `change_distribution`: how many accounts changed by how much (a histogram of the
  per-account difference; accounts without a difference are the bar at 0).
`render(figure, "svg" | "png")` gives the bytes; `save` writes both files.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from pricing.simulation import SimulationReport
from projections.figures import new_figure, render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHARTS = ("revenue_by_month", "change_distribution")
BEFORE, AFTER = "#4c72b0", "#dd8452"


def revenue_by_month(report: SimulationReport) -> Figure:
    fig = new_figure()
    ax = fig.add_subplot()
    months = [m.month for m in report.months]
    xs = range(len(months))
    width = 0.4
    ax.bar([x - width / 2 for x in xs], [float(m.before) for m in report.months], width,
           label=f"now ({report.current})", color=BEFORE)
    ax.bar([x + width / 2 for x in xs], [float(m.after) for m in report.months], width,
           label=f"candidate ({report.candidate})", color=AFTER)
    for x, m in zip(xs, report.months, strict=True):
        if m.difference_pct is not None:
            top = float(max(m.before, m.after))
            ax.annotate(f"{m.difference_pct:+}%", (x, top), ha="center", va="bottom",
                        fontsize=8)
    ax.set_xticks(list(xs), months)
    ax.set_ylabel(f"revenue ({report.currency})")
    ax.set_title(f"Revenue by month, {report.from_month} to {report.to_month}")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def change_distribution(report: SimulationReport) -> Figure:
    fig = new_figure()
    ax = fig.add_subplot()
    diffs = [float(a.difference) for a in report.accounts]
    if diffs:
        ax.hist(diffs, bins=min(40, max(1, len(set(diffs)))), color=AFTER,
                edgecolor="white")
    ax.axvline(0, color="grey", linewidth=1)
    changed = sum(1 for a in report.accounts if a.difference != Decimal(0))
    ax.set_xlabel(f"difference per account ({report.currency})")
    ax.set_ylabel("accounts")
    ax.set_title(f"Change per account: {changed} of {len(report.accounts)} accounts differ")
    return fig


def figure(report: SimulationReport, name: str) -> Figure:
    if name == "revenue_by_month":
        return revenue_by_month(report)
    if name == "change_distribution":
        return change_distribution(report)
    raise KeyError(name)


def save(report: SimulationReport, directory: Path) -> list[Path]:
    """Both charts as PNG and SVG in `directory`; the paths written."""
    written = []
    for name in CHARTS:
        fig = figure(report, name)
        for fmt in ("png", "svg"):
            path = directory / f"{name}.{fmt}"
            path.write_bytes(render(fig, fmt))
            written.append(path)
    return written
