"""Per unit: quantity / per x unit price (fractions of a unit are charged pro rata)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricing.charge_models.protocol import PricedQuantity
from pricing.money import ZERO, cents


@dataclass(frozen=True)
class PerUnit:
    unit_price: Decimal
    per: Decimal = Decimal(1)

    def price(self, quantity: Decimal) -> list[PricedQuantity]:
        if quantity <= 0:
            return []
        units = quantity / self.per
        amount = cents(units * self.unit_price)
        if amount == ZERO and self.unit_price == ZERO:
            return []
        return [PricedQuantity(units, self.unit_price, amount)]
