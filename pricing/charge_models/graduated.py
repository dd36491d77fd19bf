"""Graduated tiers: each tier prices only the units that fall inside it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricing.charge_models.protocol import PricedQuantity
from pricing.charge_models.tiers import PriceTier
from pricing.money import ZERO, cents


@dataclass(frozen=True)
class Graduated:
    tiers: tuple[PriceTier, ...]
    per: Decimal = Decimal(1)

    def price(self, quantity: Decimal) -> list[PricedQuantity]:
        pieces: list[PricedQuantity] = []
        lower = ZERO
        for tier in self.tiers:
            if quantity <= lower:
                break
            upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
            units = (upper - lower) / self.per
            amount = cents(units * tier.unit_price + tier.flat_price)
            if amount > ZERO:
                pieces.append(PricedQuantity(units, tier.unit_price, amount, tier.label(lower)))
            if tier.up_to is None:
                break
            lower = tier.up_to
        return pieces
