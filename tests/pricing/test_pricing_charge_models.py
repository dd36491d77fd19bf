"""One test group per charge model, plus the derived block price."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.charge_models import (
    Flat,
    Graduated,
    PerBlock,
    PerUnit,
    PriceTier,
    Volume,
    build_charge_model,
    derived_block_price,
)
from pricing.pricebook_charges import PerBlockSpec

TIERS = (
    PriceTier(Decimal(100), Decimal("1.00")),
    PriceTier(Decimal(1000), Decimal("0.50")),
    PriceTier(None, Decimal("0.25"), Decimal(10)),
)


def _total(pieces: list) -> Decimal:  # type: ignore[type-arg]
    return sum((p.amount for p in pieces), Decimal(0))


def test_per_unit_with_a_per_size_and_half_up_cents() -> None:
    assert _total(PerUnit(Decimal("0.10"), Decimal(1000)).price(Decimal(1500))) == Decimal("0.15")
    assert _total(PerUnit(Decimal("0.015")).price(Decimal(1))) == Decimal("0.02")
    assert PerUnit(Decimal(1)).price(Decimal(0)) == []


def test_per_block_charges_every_started_block() -> None:
    model = PerBlock(Decimal(1000), Decimal("4.77"))
    (piece,) = model.price(Decimal(520_000))
    assert (piece.quantity, piece.amount) == (520, Decimal("2480.40"))
    assert model.price(Decimal(1))[0].quantity == 1
    assert model.price(Decimal(1001))[0].quantity == 2
    assert model.price(Decimal(0)) == []


def test_graduated_prices_each_tier_separately() -> None:
    pieces = Graduated(TIERS).price(Decimal(1500))
    assert [p.amount for p in pieces] == [Decimal("100.00"), Decimal("450.00"), Decimal("135.00")]
    assert Graduated(TIERS).price(Decimal(50))[0].amount == Decimal("50.00")


def test_volume_prices_every_unit_at_the_reached_tier() -> None:
    assert _total(Volume(TIERS).price(Decimal(100))) == Decimal("100.00")
    assert _total(Volume(TIERS).price(Decimal(101))) == Decimal("50.50")
    assert _total(Volume(TIERS).price(Decimal(1500))) == Decimal("385.00")


def test_flat_charges_once_when_used() -> None:
    assert _total(Flat(Decimal(20)).price(Decimal("0.5"))) == Decimal("20.00")
    assert Flat(Decimal(20)).price(Decimal(0)) == []


def test_derived_block_price_rounds_to_cents() -> None:
    assert derived_block_price(Decimal(4765), Decimal(1_000_000), Decimal(1000)) == Decimal("4.77")
    model = build_charge_model(
        PerBlockSpec(model="per_block", block_size=Decimal(1000)),
        plan_fee=Decimal(9100),
        limit=Decimal(2_000_000),
    )
    assert model.price(Decimal(1))[0].unit_price == Decimal("4.55")
    with pytest.raises(ValueError):
        build_charge_model(
            PerBlockSpec(model="per_block", block_size=Decimal(1)), plan_fee=Decimal(1)
        )
