"""SMS/MMS segment counting and credit arithmetic.

Rules (DESIGN.md 6.2):
- Text entirely in the GSM 03.38 7-bit alphabet: up to 160 septets is one segment, longer
  is ceil(septets / 153). Characters of the GSM extension table (e.g. ``{``, ``€``) take
  two septets, as they do on the wire.
- Any character outside that alphabet switches the message to UCS-2: up to 70 UTF-16 code
  units is one segment, longer is ceil(units / 67). An emoji outside the BMP is two units.
- MMS: one segment per 1,600 characters (started).
- Credits = country rate x segments; failed deliveries cost credits, skipped and inbound
  messages cost none.
"""

from __future__ import annotations

from typing import Literal

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

Channel = Literal["sms", "mms"]
Direction = Literal["outbound", "inbound"]
Status = Literal["delivered", "failed", "skipped"]


def gsm_septets(text: str) -> int | None:
    """Length of `text` in GSM 7-bit septets, or None if it is not GSM-encodable."""
    total = 0
    for ch in text:
        if ch in GSM_BASIC:
            total += 1
        elif ch in GSM_EXTENSION:
            total += 2
        else:
            return None
    return total


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def segments(text: str, channel: Channel = "sms") -> int:
    """Number of billable segments for one message to one recipient (at least 1)."""
    if channel == "mms":
        return max(1, _ceil_div(len(text), 1600))
    septets = gsm_septets(text)
    if septets is not None:
        return 1 if septets <= 160 else _ceil_div(septets, 153)
    units = ucs2_units(text)
    return 1 if units <= 70 else _ceil_div(units, 67)


def is_billable(direction: Direction, status: Status) -> bool:
    """Outbound delivered or failed messages cost credits; inbound and skipped do not."""
    return direction == "outbound" and status != "skipped"


def credits(rate: int, segment_count: int, direction: Direction, status: Status) -> int:
    """Credits for one message: country rate x segments when billable, else 0."""
    if rate < 0 or segment_count < 0:
        raise ValueError("rate and segments must be non-negative")
    return rate * segment_count if is_billable(direction, status) else 0
