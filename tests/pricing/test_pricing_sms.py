"""SMS segments and credits; the country rate table."""

from __future__ import annotations

import pytest
from pricing_helpers import book

from pricing.sms import credits, gsm_septets, is_billable, segments, ucs2_units
from pricing.sms_rates import UnknownCountry, sms_rate


@pytest.mark.parametrize(
    ("length", "expected"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_text_segments(length: int, expected: int) -> None:
    assert segments("a" * length) == expected


@pytest.mark.parametrize(("length", "expected"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_non_gsm_text_segments(length: int, expected: int) -> None:
    assert segments("ж" * length) == expected


def test_an_emoji_switches_to_ucs2_and_counts_two_units() -> None:
    assert ucs2_units("😀") == 2
    assert segments("a" * 68 + "😀") == 1  # 70 units
    assert segments("a" * 69 + "😀") == 2  # 71 units
    assert segments("a" * 100) == 1 and segments("a" * 99 + "😀") == 2


def test_gsm_extension_characters_take_two_septets() -> None:
    assert gsm_septets("€") == 2
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2


def test_mms_is_one_segment_up_to_1600_characters() -> None:
    assert segments("x" * 1600, "mms") == 1
    assert segments("x" * 1601, "mms") == 2
    assert segments("", "mms") == 1


@pytest.mark.parametrize(
    ("direction", "status", "billable"),
    [
        ("outbound", "delivered", True),
        ("outbound", "failed", True),
        ("outbound", "skipped", False),
        ("inbound", "delivered", False),
    ],
)
def test_billable_messages(direction: str, status: str, billable: bool) -> None:
    assert is_billable(direction, status) is billable  # type: ignore[arg-type]
    assert credits(3, 2, direction, status) == (6 if billable else 0)  # type: ignore[arg-type]


def test_credits_refuse_negative_inputs() -> None:
    with pytest.raises(ValueError):
        credits(-1, 1, "outbound", "delivered")


def test_rate_table_lookup_by_country_and_channel() -> None:
    mt = book("marketing_tiers")
    assert sms_rate(mt, "US", "sms") == 1
    assert sms_rate(mt, "ca", "sms") == 3
    assert sms_rate(mt.sms_rates, "US", "mms") == 3
    assert "mms" in mt.sms_rates["US"].illustrative and "sms" not in mt.sms_rates["US"].illustrative
    with pytest.raises(UnknownCountry):
        sms_rate(mt, "ZZ", "sms")
