"""Money and quantity arithmetic: Decimal only, half-up to cents per invoice line."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")


def cents(amount: Decimal) -> Decimal:
    """Round an amount half-up to whole cents (the rounding of every invoice line)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def rate(amount: Decimal) -> Decimal:
    """Round a unit rate half-up to six places, for display on a line."""
    return amount.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def ceil_units(quantity: Decimal, unit: Decimal) -> Decimal:
    """How many whole `unit`s are needed to hold `quantity` (0 for a non-positive quantity)."""
    if unit <= 0:
        raise ValueError("unit must be positive")
    if quantity <= 0:
        return ZERO
    return (quantity / unit).to_integral_value(rounding=ROUND_CEILING)


def to_decimal(value: object) -> Decimal:
    """Exact Decimal of an int, Decimal or numeric string; floats go through their repr."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        result = Decimal(value.strip().replace("_", ""))
    else:
        raise TypeError(f"not a number: {value!r}")
    if not result.is_finite():
        raise ValueError("number must be finite")
    return result
