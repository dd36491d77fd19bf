"""The one interface every charge model implements."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class PricedQuantity:
    """One priced piece of a charge: billed quantity x unit price = amount (in cents).

    `quantity` is in the model's billed unit (units, started blocks, tier units), not
    necessarily the meter's raw unit; `note` names the tier or block when there is one.
    """

    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    note: str = ""


class ChargeModel(Protocol):
    """Prices a non-negative quantity of a meter. Pure and deterministic."""

    def price(self, quantity: Decimal) -> list[PricedQuantity]:
        """The priced pieces for `quantity`; empty when nothing is owed."""
        ...
