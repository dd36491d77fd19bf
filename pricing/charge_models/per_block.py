"""Per block of N: every started block of `block_size` costs `block_price`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricing.charge_models.protocol import PricedQuantity
from pricing.money import ceil_units, cents


@dataclass(frozen=True)
class PerBlock:
    block_size: Decimal
    block_price: Decimal

    def price(self, quantity: Decimal) -> list[PricedQuantity]:
        blocks = ceil_units(quantity, self.block_size)
        if blocks == 0:
            return []
        return [PricedQuantity(blocks, self.block_price, cents(blocks * self.block_price))]
