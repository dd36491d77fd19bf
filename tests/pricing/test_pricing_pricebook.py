"""Price book loading, validation errors with paths, and the seed figures."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pricing_helpers import book

from pricing.pricebook_loader import (
    PRICEBOOK_DIR,
    PriceBookError,
    available_pricebooks,
    load_pricebook,
    parse_pricebook,
)
from pricing.units import GB, MB, parse_quantity

REFERENCE = ["marketing_tiers", "package_plans", "peak_carts", "seats_storage"]


def _raw(name: str) -> dict[str, Any]:
    data = yaml.safe_load((PRICEBOOK_DIR / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_reference_book_loads_by_name_and_by_path() -> None:
    assert available_pricebooks() == REFERENCE
    for name in REFERENCE:
        by_name = load_pricebook(name)
        assert by_name == load_pricebook(PRICEBOOK_DIR / f"{name}.yaml")
        assert by_name.name == name and by_name.version


def test_unknown_book_names_the_reference_books() -> None:
    with pytest.raises(FileNotFoundError, match="marketing_tiers"):
        load_pricebook("nope")


def test_yaml_floats_are_exact_decimals() -> None:
    bandwidth = book("package_plans").product("package").plan("starter").overage["bandwidth.bytes"]
    assert bandwidth.tiers[0].unit_price == Decimal("0.10")  # type: ignore[union-attr]


def test_seed_figures_are_in_the_reference_books() -> None:
    mt = book("marketing_tiers")
    email = mt.product("email")
    seven, eight = email.plan("email-7k"), email.plan("email-8k")
    assert (seven.fee, seven.limits["email.sent"], seven.limits["profiles.active.peak"]) == (
        7000, 70000, 7000,
    )  # fmt: skip
    assert email.plans[email.rank("email-7k") + 1] is eight
    assert eight.limits["email.sent"] == 80000
    cdp = mt.product("cdp")
    assert (cdp.plan("cdp-1m").fee, cdp.plan("cdp-1m").limits["profiles.total.peak"]) == (
        4765, 1_000_000,
    )  # fmt: skip
    assert (cdp.plan("cdp-2m").fee, cdp.plan("cdp-2m").limits["profiles.total.peak"]) == (
        9100, 2_000_000,
    )  # fmt: skip
    assert mt.product("sms").flex_min_fee == 495
    analytics = mt.product("analytics").plans[0]
    assert (analytics.fee, analytics.limits["profiles.active.end"]) == (100, 13500)
    storage = book("seats_storage").product("storage")
    ultimate = storage.plan("ultimate").limits["storage.data.bytes"]
    assert (ultimate.base, ultimate.per_seat) == (20 * GB, 1 * GB)  # type: ignore[union-attr]
    ent = storage.plan("enterprise-conversations").limits["storage.attachments.bytes"]
    assert ent.per_1k_conversations == 3 * GB  # type: ignore[union-attr]
    pro = storage.plan("professional").limits["storage.data.bytes"]
    assert pro.per_seat == 125 * MB  # type: ignore[union-attr]


def test_figures_the_seeds_do_not_give_are_marked_illustrative() -> None:
    mt = book("marketing_tiers")
    assert not mt.product("email").plan("email-7k").illustrative
    assert mt.product("email").plan("email-8k").illustrative
    assert all(p.illustrative for p in book("package_plans").product("package").plans)
    assert all(p.illustrative for p in book("seats_storage").product("seats").plans)
    carts = book("peak_carts").product("carts").plans[0]
    assert all(spec.illustrative for spec in carts.usage.values())


def test_data_sizes_are_decimal_units() -> None:
    assert parse_quantity("2.5 GB") == Decimal(2_500_000_000)
    assert parse_quantity("125 MB") == Decimal(125_000_000)
    assert parse_quantity("1 KB") == 1000 and parse_quantity("1,000") == 1000
    with pytest.raises(ValueError):
        parse_quantity("lots")


def _error_paths(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PriceBookError) as info:
        parse_pricebook(data)
    return [path for path, _ in info.value.problems]


def test_structural_errors_report_the_dotted_path() -> None:
    data = _raw("marketing_tiers")
    data["products"][0]["plans"][2]["fee"] = "-5"
    assert _error_paths(data) == ["products.0.plans.2.fee"]
    data = _raw("package_plans")
    data["products"][0]["plans"][0]["overage"]["email.sent"]["model"] = "per_parsec"
    # the plans share the overage table through a YAML anchor: every plan reports it
    assert _error_paths(data) == [f"products.0.plans.{i}.overage.email.sent" for i in range(4)]


def test_reference_errors_report_the_dotted_path() -> None:
    base = _raw("marketing_tiers")
    data = copy.deepcopy(base)
    data["products"][0]["plans"][3]["limits"]["emails.typo"] = 5
    assert "products.0.plans.3.limits.emails.typo" in _error_paths(data)
    data = copy.deepcopy(base)
    data["products"][0]["plans"][3]["limits"]["email.sent"] = 100
    assert _error_paths(data) == ["products.0.plans.3.limits.email.sent"]
    data = copy.deepcopy(base)
    data["products"][1]["plans"][1]["id"] = "sms-1250"
    assert _error_paths(data) == ["products.1.plans.1.id"]
    data = copy.deepcopy(base)
    data["products"][1]["policies"] = ["none"]
    data["products"][1]["auto_downgrade_meter"] = "profiles.active.end"
    assert _error_paths(data) == ["products.1.auto_downgrade_meter"]


def test_error_message_lists_source_and_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nversion: '1'\neffective_from: 2025-01-01\nmeters: {}\n")
    with pytest.raises(PriceBookError, match=r"bad\.yaml: products: Field required"):
        load_pricebook(bad)
