"""How the stream's meter names map to the price book's (shared by the live limits and rating).

A sum or distinct stream meter `<m>` is pricing's `<m>`. A gauge `<m>` (delta or set)
gives `<m>.peak` and `<m>.end`; carts are also priced by their plain name (the peak),
storage by its plain name (the end value); `contacts.peak` is `profiles.total.peak`.
"""

from __future__ import annotations

from collections.abc import Mapping

PLAIN_PEAK_PREFIXES = ("carts.",)
PLAIN_END = frozenset({"storage.data.bytes", "storage.attachments.bytes"})
ALIASES: Mapping[str, str] = {"contacts.peak": "profiles.total.peak"}


def gauge_source(pricing_meter: str) -> tuple[str, str] | None:
    """(stream gauge, "peak" | "end") a pricing meter reads, or None for a sum meter."""
    name = ALIASES.get(pricing_meter, pricing_meter)
    if name.endswith(".peak"):
        return name[:-5], "peak"
    if name.endswith(".end"):
        return name[:-4], "end"
    if name.startswith(PLAIN_PEAK_PREFIXES):
        return name, "peak"
    if name in PLAIN_END:
        return name, "end"
    return None
