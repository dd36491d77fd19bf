"""Charge models, one per module, all behind the `ChargeModel` protocol."""

from __future__ import annotations

from decimal import Decimal

from pricing.charge_models.flat import Flat
from pricing.charge_models.graduated import Graduated
from pricing.charge_models.per_block import PerBlock
from pricing.charge_models.per_unit import PerUnit
from pricing.charge_models.protocol import ChargeModel, PricedQuantity
from pricing.charge_models.tiers import PriceTier
from pricing.charge_models.volume import Volume
from pricing.money import cents
from pricing.pricebook_charges import (
    ChargeSpec,
    FlatSpec,
    GraduatedSpec,
    PerBlockSpec,
    PerUnitSpec,
    VolumeSpec,
)

__all__ = [
    "ChargeModel",
    "Flat",
    "Graduated",
    "PerBlock",
    "PerUnit",
    "PriceTier",
    "PricedQuantity",
    "Volume",
    "build_charge_model",
    "derived_block_price",
]


def derived_block_price(fee: Decimal, limit: Decimal, block_size: Decimal) -> Decimal:
    """The plan's price of one block: fee x block / limit, rounded to cents.

    Customer data platform: $4,765 for 1,000,000 profiles -> $4.765 -> $4.77 per 1,000.
    """
    if limit <= 0:
        raise ValueError("a derived block price needs a positive limit")
    return cents(fee * block_size / limit)


def build_charge_model(
    spec: ChargeSpec, *, plan_fee: Decimal, limit: Decimal | None = None
) -> ChargeModel:
    """The charge model a spec describes, in the context of its plan's fee and limit."""
    if isinstance(spec, PerUnitSpec):
        return PerUnit(spec.unit_price, spec.per)
    if isinstance(spec, PerBlockSpec):
        price = spec.block_price
        if price is None:
            if limit is None:
                raise ValueError("per_block without block_price needs the plan's limit")
            price = derived_block_price(plan_fee, limit, spec.block_size)
        return PerBlock(spec.block_size, price)
    if isinstance(spec, GraduatedSpec | VolumeSpec):
        tiers = tuple(PriceTier(t.up_to, t.unit_price, t.flat_price) for t in spec.tiers)
        if isinstance(spec, GraduatedSpec):
            return Graduated(tiers, spec.per)
        return Volume(tiers, spec.per)
    if isinstance(spec, FlatSpec):
        return Flat(spec.amount)
    raise TypeError(f"unknown charge spec {spec!r}")  # pragma: no cover
