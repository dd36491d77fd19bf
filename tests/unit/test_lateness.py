"""The deployment's one lateness (`pricing.lateness`): the books', or the override."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pricing.lateness import LatenessConflict, resolve_lateness, with_lateness
from pricing.pricebook_loader import load_pricebook, reference_books

BOOKS = reference_books(load_pricebook("marketing_tiers"))


def test_the_reference_books_agree_on_24_hours() -> None:
    lateness = resolve_lateness(BOOKS)
    assert (lateness.delta, lateness.source) == (timedelta(hours=24), "pricebook")


def test_books_that_disagree_are_refused_naming_them() -> None:
    books = {**BOOKS, "peak_carts": BOOKS["peak_carts"].model_copy(
        update={"lateness_hours": 6})}
    with pytest.raises(LatenessConflict, match=r"peak_carts: 6 h.*METERING_ALLOWED_LATENESS_H"):
        resolve_lateness(books)


def test_an_override_decides_for_every_book() -> None:
    books = {**BOOKS, "peak_carts": BOOKS["peak_carts"].model_copy(
        update={"lateness_hours": 6})}
    lateness = resolve_lateness(books, 1.5)
    assert (lateness.delta, lateness.source) == (timedelta(minutes=90), "override")
    assert "override" in lateness.describe()
    applied = with_lateness(books, lateness)
    assert {b.lateness_hours for b in applied.values()} == {1.5}
    assert set(applied) == set(books)
    assert with_lateness(BOOKS, resolve_lateness(BOOKS))["marketing_tiers"] is \
        BOOKS["marketing_tiers"]


def test_a_negative_override_is_refused() -> None:
    with pytest.raises(LatenessConflict):
        resolve_lateness(BOOKS, -1)
