"""A tier table shared by the graduated and volume models."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class PriceTier:
    """Units up to `up_to` (inclusive, None = no upper bound), in the meter's unit."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_price: Decimal = Decimal(0)

    def label(self, lower: Decimal) -> str:
        upper = "inf" if self.up_to is None else f"{self.up_to:f}"
        return f"tier {lower:f}-{upper}"
