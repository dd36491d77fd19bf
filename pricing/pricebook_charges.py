"""Price book specs of the charge models (validated by pydantic, built by `build`)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from pricing.units import parse_quantity

Quantity = Annotated[Decimal, BeforeValidator(parse_quantity), Field(ge=0)]
PositiveQuantity = Annotated[Decimal, BeforeValidator(parse_quantity), Field(gt=0)]
Money = Annotated[Decimal, BeforeValidator(parse_quantity), Field(ge=0)]
LineKindOverride = Literal["overage", "usage_fee"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: LineKindOverride | None = None
    """The invoice line kind; default: overage for an over-limit charge, else usage_fee."""
    illustrative: bool = False
    note: str = ""


class PerUnitSpec(_Spec):
    model: Literal["per_unit"]
    unit_price: Money
    per: PositiveQuantity = Decimal(1)


class PerBlockSpec(_Spec):
    model: Literal["per_block"]
    block_size: PositiveQuantity
    block_price: Money | None = None
    """None: derived as the plan fee per block of its limit, rounded to cents."""


class TierSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    up_to: Quantity | None = None
    unit_price: Money = Decimal(0)
    flat_price: Money = Decimal(0)


class _TieredSpec(_Spec):
    tiers: list[TierSpec] = Field(min_length=1)
    per: PositiveQuantity = Decimal(1)

    @model_validator(mode="after")
    def _ordered(self) -> _TieredSpec:
        bounds = [t.up_to for t in self.tiers]
        if bounds[-1] is not None:
            raise ValueError("the last tier must have no up_to (unbounded)")
        finite = [b for b in bounds[:-1] if b is not None]
        if len(finite) != len(bounds) - 1:
            raise ValueError("only the last tier may be unbounded")
        if any(a >= b for a, b in pairwise(finite)):
            raise ValueError("tier bounds must strictly increase")
        return self


class GraduatedSpec(_TieredSpec):
    model: Literal["graduated"]


class VolumeSpec(_TieredSpec):
    model: Literal["volume"]


class FlatSpec(_Spec):
    model: Literal["flat"]
    amount: Money


ChargeSpec = Annotated[
    PerUnitSpec | PerBlockSpec | GraduatedSpec | VolumeSpec | FlatSpec,
    Field(discriminator="model"),
]
