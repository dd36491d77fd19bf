"""Rendering matplotlib figures to bytes, the one way every picture of the project uses
(no pyplot: safe in any thread; SVG text kept as text; no date in the SVG, so the same
figure gives the same bytes)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Format = Literal["png", "svg"]


def new_figure(width: float = 8, height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def render(fig: Figure, fmt: Format) -> bytes:
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text
        fig.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()
