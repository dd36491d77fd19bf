"""`pricing.alerts.crossed` over levels computed once (the stream's shortcut) and
`crossings` give the crossings a brute-force oracle computes, lowest level first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.alerts import Threshold, crossed, crossings, levels_of

THRESHOLDS = [Threshold("percent", Decimal("0.8")), Threshold("absolute", Decimal(950)),
              Threshold("percent", Decimal("1")), Threshold("percent", Decimal("0.9")),
              Threshold("absolute", Decimal(900))]
POINTS = [Decimal(v) for v in (0, 799, 800, 801, 899, 900, 950, 999, 1000, 1001, 5000)]


def _oracle(limit: Decimal | None, before: Decimal, after: Decimal) -> list[tuple[str, str]]:
    found = []
    for t in THRESHOLDS:
        if t.kind == "absolute":
            level = t.value
        elif limit is None:
            continue
        else:
            level = t.value * limit
        if before < level <= after:
            found.append((level, t.kind, t.value))
    return [(str(level), f"{kind}:{value}") for level, kind, value in sorted(found)]


@pytest.mark.parametrize("limit", [Decimal(1000), None, Decimal(0)])
def test_crossed_and_crossings_match_the_oracle(limit: Decimal | None) -> None:
    levels = levels_of(THRESHOLDS, limit)
    for before in POINTS:
        for after in POINTS:
            expected = _oracle(limit, before, after)
            for got in (crossed(levels, before, after),
                        crossings(THRESHOLDS, limit, before, after)):
                assert [(str(c.level), f"{c.threshold.kind}:{c.threshold.value}")
                        for c in got] == expected, (limit, before, after)
