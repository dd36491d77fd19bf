"""Volume tiers: the tier the whole quantity falls in prices every unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricing.charge_models.protocol import PricedQuantity
from pricing.charge_models.tiers import PriceTier
from pricing.money import ZERO, cents


@dataclass(frozen=True)
class Volume:
    tiers: tuple[PriceTier, ...]
    per: Decimal = Decimal(1)

    def price(self, quantity: Decimal) -> list[PricedQuantity]:
        if quantity <= 0:
            return []
        lower = ZERO
        for tier in self.tiers:
            if tier.up_to is None or quantity <= tier.up_to:
                units = quantity / self.per
                amount = cents(units * tier.unit_price + tier.flat_price)
                if amount == ZERO:
                    return []
                return [PricedQuantity(units, tier.unit_price, amount, tier.label(lower))]
            lower = tier.up_to
        raise ValueError("quantity above the last tier; the last tier must be unbounded")
