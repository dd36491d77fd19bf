"""Quantities in a price book: plain numbers, or data sizes in decimal units.

Every data-size meter counts bytes. A price book may write a size as a string with a
decimal unit ("2.5 GB", "125 MB", "1 KB"); it is read as bytes (1 KB = 1,000 bytes,
1 MB = 1,000 KB, 1 GB = 1,000 MB, 1 TB = 1,000 GB).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from pricing.money import to_decimal

KB = Decimal(1000)
MB = KB * 1000
GB = MB * 1000
TB = GB * 1000

_SIZE_UNITS = {"B": Decimal(1), "KB": KB, "MB": MB, "GB": GB, "TB": TB}
_SIZE = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([KMGT]?B)\s*$", re.IGNORECASE)


def parse_quantity(value: object) -> Decimal:
    """A Decimal from a number, a numeric string or a data size string (in bytes)."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            number = Decimal(match.group(1).replace(",", "").replace("_", ""))
            return number * _SIZE_UNITS[match.group(2).upper()]
        try:
            return to_decimal(value.replace(",", ""))
        except InvalidOperation as exc:
            raise ValueError(f"not a quantity: {value!r}") from exc
    try:
        return to_decimal(value)
    except (TypeError, InvalidOperation) as exc:
        raise ValueError(f"not a quantity: {value!r}") from exc
