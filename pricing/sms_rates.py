"""SMS credits per segment by destination country."""

from __future__ import annotations

from collections.abc import Mapping

from pricing.pricebook import PriceBook, SmsRate
from pricing.sms import Channel


class UnknownCountry(KeyError):
    """No credit rate for a destination: the event is rejected, never priced at 0."""


def sms_rate(table: PriceBook | Mapping[str, SmsRate], country: str, channel: Channel) -> int:
    """Credits per segment to `country` (ISO 3166 alpha-2) on `channel` (sms | mms)."""
    rates = table.sms_rates if isinstance(table, PriceBook) else table
    entry = rates.get(country.strip().upper())
    if entry is None:
        raise UnknownCountry(country)
    return entry.sms if channel == "sms" else entry.mms
