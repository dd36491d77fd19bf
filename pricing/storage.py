"""Storage sizing (decimal units) and allowances.

Data storage = sum of object count x size per kind (KB). Attachment storage = each file
rounded up to a whole KB. 1 KB = 1,000 bytes. Meters hold bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from pricing.money import ceil_units
from pricing.pricebook import Allowance
from pricing.units import GB, KB

OBJECT_SIZE_KB: Mapping[str, Decimal] = {
    "company": Decimal("0.1"),
    "customer": Decimal("0.1"),
    "conversation": Decimal("0.5"),
    "message": Decimal("0.2"),
    "attachment": Decimal("0.1"),
    "event": Decimal("0.07"),
    "audit_log": Decimal("0.07"),
    "note": Decimal("0.2"),
    "custom_object": Decimal("0.5"),
    "custom_attribute": Decimal("0.05"),
}
"""Size of one stored object per kind; "attachment" is the record, not the file."""


def storage_kb(object_counts: Mapping[str, int]) -> Decimal:
    """Data storage in KB for a count of objects per kind (unknown kinds are an error)."""
    total = Decimal(0)
    for kind, count in object_counts.items():
        if kind not in OBJECT_SIZE_KB:
            raise ValueError(f"unknown storage object kind {kind!r}")
        if count < 0:
            raise ValueError(f"negative count for {kind!r}")
        total += OBJECT_SIZE_KB[kind] * count
    return total


def storage_bytes(object_counts: Mapping[str, int]) -> Decimal:
    return storage_kb(object_counts) * KB


def attachment_kb(file_bytes: int) -> int:
    """One attachment's billable size: its bytes rounded up to a whole KB."""
    if file_bytes < 0:
        raise ValueError("file size cannot be negative")
    return int(ceil_units(Decimal(file_bytes), KB))


def attachments_kb(file_sizes: Iterable[int]) -> int:
    return sum(attachment_kb(size) for size in file_sizes)


def allowance(
    limit: Allowance | Decimal,
    *,
    seats: Decimal = Decimal(0),
    committed_conversations: int = 0,
    organisations: int = 1,
) -> Decimal:
    """One organisation's allowance: (base + per seat + per 1k conversations) / orgs."""
    if organisations < 1:
        raise ValueError("at least one organisation")
    if isinstance(limit, Decimal):
        return limit
    total = (
        limit.base
        + limit.per_seat * seats
        + limit.per_1k_conversations * Decimal(committed_conversations) / 1000
    )
    return total / organisations


def whole_gb_needed(used_bytes: Decimal, allowance_bytes: Decimal) -> Decimal:
    """Whole GB to buy to come back within the allowance (0 when within it)."""
    return ceil_units(used_bytes - allowance_bytes, GB)
