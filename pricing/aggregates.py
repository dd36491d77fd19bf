"""What the pipeline measured for one (account, cycle): meter values per product.

`values[product][meter]` is the whole-cycle value: a sum or count for additive meters,
the peak for peaks, the value at the cycle's end for end values. When a product's plan
changed inside the cycle, `splits[product]` may carry the additive meters per plan
interval, so each part is priced by the plan in force when it accrued.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pricing.cycles import Cycle
from pricing.money import ZERO


@dataclass(frozen=True)
class IntervalUsage:
    """Additive usage accrued from `start` until the next split (or the cycle's end)."""

    start: datetime
    values: Mapping[str, Decimal]


@dataclass(frozen=True)
class CycleAggregates:
    account: str
    cycle: Cycle
    values: Mapping[str, Mapping[str, Decimal]]
    splits: Mapping[str, Sequence[IntervalUsage]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for product, meters in self.values.items():
            for meter, value in meters.items():
                if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                    raise ValueError(f"{product}.{meter}: need a finite Decimal >= 0")
        for product, parts in self.splits.items():
            starts = [p.start for p in parts]
            if starts != sorted(starts) or any(not self.cycle.contains(s) for s in starts):
                raise ValueError(f"splits of {product!r} must be ordered and inside the cycle")

    def value(self, product: str, meter: str) -> Decimal:
        """The whole-cycle value, 0 when nothing was measured."""
        return self.values.get(product, {}).get(meter, ZERO)

    def has_split(self, product: str) -> bool:
        return bool(self.splits.get(product))

    def parts(self, product: str, meter: str) -> list[tuple[datetime, Decimal]]:
        """Additive usage as (accrual start, amount) pieces, in order.

        Without splits the whole value is one piece; rating then prices it by the plan in
        force at the end of the cycle (see pricing/README.md).
        """
        parts = self.splits.get(product)
        if not parts:
            return [(self.cycle.start, self.value(product, meter))]
        return [(p.start, p.values.get(meter, ZERO)) for p in parts]
