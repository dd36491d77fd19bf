"""`core.accounts.replaced` is `model_copy(update=...)` for the frozen state models (the
hot path's copy): the same values, fields set, serialisation, and still frozen."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from core.accounts import AccountState, LiveCycle, ProductPlan, replaced

AT = datetime(2026, 1, 1, tzinfo=UTC)
STATE = AccountState(anchor=date(2026, 1, 1), subscribed_offset=0, subscribed_at=AT,
                     last_offset=3, products={"email": ProductPlan(plan="p", since=AT)},
                     live=LiveCycle(start=AT, end=datetime(2026, 2, 1, tzinfo=UTC)))


@pytest.mark.parametrize("update", [
    {"last_offset": 9},
    {"levels": {"carts.standard": Decimal(2)}, "last_offset": 4},
    {"seats": 5, "webhook_url": "https://x.test/h"},
])
def test_replaced_is_model_copy(update: dict[str, object]) -> None:
    expected, got = STATE.model_copy(update=update), replaced(STATE, update)
    assert got == expected and type(got) is AccountState
    assert got.model_fields_set == expected.model_fields_set
    assert got.model_dump_json() == expected.model_dump_json()
    assert STATE.last_offset == 3 and "seats" not in STATE.model_fields_set  # untouched
    with pytest.raises(ValidationError):
        got.last_offset = 1  # type: ignore[misc]


def test_replaced_nested_live_cycle() -> None:
    live = STATE.live
    assert live is not None
    update = {"sums": {"email.sent": Decimal(7)}, "fired": ["email|email.sent|80%"]}
    got = replaced(STATE, {"live": replaced(live, update)})
    assert got == STATE.model_copy(update={"live": live.model_copy(update=update)})
    assert live.sums == {}
