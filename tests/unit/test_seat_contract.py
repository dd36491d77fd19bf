"""Seats against the contract in the decision core (issue 15, item 1): fewer full-time
seats are refused before the renewal with a machine-readable reason, unless the reading
asks for the renewal; the contract's period is the monthly cycle or, on the annual term,
the 12-month contract. Each test failed before (every reading was accepted)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.batch import BatchOutcome, Core, DictStore, RawRecord
from core.derive import rules_for
from core.process import Deduplicator, Policy
from pricing.pricebook_loader import load_pricebook
from schemas.records import RejectReason

BOOK = load_pricebook("seats_storage")


def ev(eid: str, etype: str, time: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"specversion": "1.0", "id": eid, "source": "app", "type": etype,
                       "subject": "acme", "time": time, "data": data}).encode()


def decide(lines: list[bytes]) -> BatchOutcome:
    out = []
    for offset, line in enumerate(lines, start=1):
        t = datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00"))
        out.append(RawRecord("events", 0, offset, t.timestamp() + 1, b"acme", line))
    return Core(DictStore(), rules_for(BOOK), Policy(), Deduplicator()).decide_batch(out)


def subscribed(term: str = "monthly") -> list[bytes]:
    return [ev("s", "account.subscribed", "2025-03-01T00:00:00Z",
               {"product": "seats", "plan": "professional", "term": term}),
            ev("n0", "seats.changed", "2025-03-01T00:00:00Z", {"full_time": 10})]


def seat_meters(out: BatchOutcome) -> dict[str, list[int]]:
    return {e.id: [int(m.quantity) for m in e.meters] for e in out.metered
            if e.type == "seats.changed"}


def test_fewer_seats_before_the_renewal_are_refused_with_a_reason() -> None:
    out = decide([*subscribed(), ev("n1", "seats.changed", "2025-03-10T09:00:00Z",
                                    {"full_time": 8})])
    refused, = out.rejected
    assert (refused.id, refused.reason) == ("n1", RejectReason.SEAT_REDUCTION_BEFORE_RENEWAL)
    assert "10 -> 8 before 2025-04-01" in refused.detail
    assert out.states["acme"].seats == 10


def test_more_seats_are_taken_at_once_and_fewer_at_the_renewal_instant() -> None:
    out = decide([*subscribed(),
                  ev("n1", "seats.changed", "2025-03-10T09:00:00Z", {"full_time": 12}),
                  ev("n2", "seats.changed", "2025-04-01T00:00:00Z", {"full_time": 7})])
    assert not out.rejected
    assert seat_meters(out) == {"n0": [10], "n1": [12], "n2": [7]}
    assert out.states["acme"].seats == 7


def test_a_reduction_for_the_renewal_is_accepted_and_leaves_the_level() -> None:
    out = decide([*subscribed(),
                  ev("n1", "seats.changed", "2025-03-10T09:00:00Z",
                     {"full_time": 8, "effective": "renewal"}),
                  # still before the renewal: 9 is fewer than the 10 contracted
                  ev("n2", "seats.changed", "2025-03-20T09:00:00Z", {"full_time": 9}),
                  # after it: 8 are contracted, 9 is one more
                  ev("n3", "seats.changed", "2025-04-02T09:00:00Z", {"full_time": 9})])
    assert [r.id for r in out.rejected] == ["n2"]
    assert seat_meters(out) == {"n0": [10], "n1": [], "n3": [9]}
    state = out.states["acme"]
    assert (state.seats, state.seats_pending) == (9, None)


def test_on_the_annual_term_a_monthly_boundary_is_not_a_renewal() -> None:
    out = decide([*subscribed("annual"),
                  ev("n1", "seats.changed", "2025-10-01T00:00:00Z", {"full_time": 8}),
                  ev("n2", "seats.changed", "2025-10-01T00:00:00Z",
                     {"full_time": 8, "effective": "renewal"}),
                  ev("n3", "seats.changed", "2026-03-01T00:00:00Z", {"full_time": 6})])
    assert [(r.id, r.reason) for r in out.rejected] == [
        ("n1", RejectReason.SEAT_REDUCTION_BEFORE_RENEWAL)]
    state = out.states["acme"]
    assert state.seats == 6 and state.seats_pending is None


def test_an_account_without_a_seat_priced_plan_has_no_seat_contract() -> None:
    """Found by the metrics test (issue 17): the rule was applied to every account, so a
    storage-only or email account's lower seat reading was refused, though the rater
    (which judges seat-priced plans only) would have taken it."""
    out = decide([ev("s", "account.subscribed", "2025-03-01T00:00:00Z",
                     {"product": "storage", "plan": "professional"}),
                  ev("n0", "seats.changed", "2025-03-01T00:00:00Z", {"full_time": 10}),
                  ev("n1", "seats.changed", "2025-03-10T09:00:00Z", {"full_time": 8})])
    assert not out.rejected
    assert seat_meters(out) == {"n0": [10], "n1": [8]}
