"""Flat: a fixed amount as soon as the quantity is positive."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricing.charge_models.protocol import PricedQuantity
from pricing.money import cents


@dataclass(frozen=True)
class Flat:
    amount: Decimal

    def price(self, quantity: Decimal) -> list[PricedQuantity]:
        if quantity <= 0 or self.amount == 0:
            return []
        return [PricedQuantity(Decimal(1), self.amount, cents(self.amount))]
