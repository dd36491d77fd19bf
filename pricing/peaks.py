"""Peak of concurrent actives from +1/-1 deltas (carts, profiles), as a pure reference.

The quantity of a peak meter is the largest running sum of the deltas over the cycle,
starting from the opening balance carried from the previous cycle. An item active at any
moment counts for the whole cycle (no proration); deactivating one item and later
activating another reuses the same unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pricing.cycles import Cycle


def peak_concurrent(
    deltas: Iterable[tuple[datetime, int]], cycle: Cycle, opening: int = 0
) -> tuple[int, int]:
    """(peak in `cycle`, closing balance) from timestamped +1/-1 deltas.

    Deltas before the cycle fold into the opening balance; deltas at or after its end
    are ignored. At equal instants removals apply before additions (a swap at one
    instant does not count twice).
    """
    ordered = sorted(deltas, key=lambda d: (d[0], d[1]))
    running = opening
    for t, delta in ordered:
        if t < cycle.start:
            running += delta
    peak = running
    for t, delta in ordered:
        if cycle.contains(t):
            running += delta
            peak = max(peak, running)
    if running < 0:
        raise ValueError("more deactivations than activations")
    return peak, running
