"""A minimal SMS credit-rate table for the stream (pricing owns the full one).

Seed figures: United States 1 credit, Canada 3 credits per segment. Other rates here are
illustrative. MMS is illustrative at 3x the SMS rate.
"""

from __future__ import annotations

SMS_RATES: dict[str, int] = {"US": 1, "CA": 3, "GB": 4, "AU": 4, "DE": 5, "FR": 5}
DEFAULT_SMS_RATE = 5
MMS_MULTIPLIER = 3


def sms_rate(country: str, channel: str) -> int:
    rate = SMS_RATES.get(country, DEFAULT_SMS_RATE)
    return rate * MMS_MULTIPLIER if channel == "mms" else rate
