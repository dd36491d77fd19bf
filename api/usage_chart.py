"""The usage-over-the-cycle picture (matplotlib, no pyplot: safe in any thread).

One panel per limited meter: the value at the end of each day so far (points joined),
the allotment as a dashed red line, and the forecast as a dotted line from now to the
cycle's end. `metering usage ACCOUNT --chart FILE` writes it (PNG, or SVG by suffix);
the dashboard's account page draws the same figures from `/usage/history`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from api.usage_history import UsageHistory
from projections.figures import Format, new_figure, render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

USED, LIMIT, FORECAST = "#1f5fa8", "#c62828", "#ef6c00"


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def usage_figure(history: UsageHistory) -> Figure:
    """x: days since the cycle's start (ticks labelled with the dates)."""
    start = history.cycle_start

    def x(t: datetime) -> float:
        return (t - start).total_seconds() / 86_400

    length = x(history.cycle_end)
    ticks = [*range(0, int(length), 4), length]
    panels = max(len(history.meters), 1)
    fig = new_figure(8, 2.6 * panels + 0.6)
    fig.suptitle(f"{history.account}: cycle {start:%Y-%m-%d} .. "
                 f"{history.cycle_end:%Y-%m-%d}")
    if not history.meters:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no limited meter is tracked for this account",
                ha="center", va="center")
        ax.set_axis_off()
        return fig
    for i, m in enumerate(history.meters, 1):
        ax = fig.add_subplot(panels, 1, i)
        xs = [x(min(_end_of(d.day), history.now)) for d in m.days]
        first = 0.0 if m.reads == "sum" else float(m.days[0].value)
        ax.plot([0.0, *xs], [first, *(float(d.value) for d in m.days)],
                marker="o", markersize=3, color=USED, label="used (end of day)")
        ax.plot([x(history.now), length], [float(m.value), float(m.forecast)],
                linestyle=":", color=FORECAST, label=f"forecast {m.forecast:,.0f}")
        if m.limit is not None:
            ax.axhline(float(m.limit), linestyle="--", color=LIMIT,
                       label=f"allotment {m.limit:,.0f}")
        ax.set_xlim(0, length)
        ax.set_ylim(bottom=0)
        ax.set_xticks(ticks, [f"{start + timedelta(days=t):%m-%d}" for t in ticks])
        ax.set_title(f"{m.product} · {m.plan} · {m.meter}", fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return fig


def render_usage(history: UsageHistory, fmt: Format) -> bytes:
    return render(usage_figure(history), fmt)
