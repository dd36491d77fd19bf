"""The demo's story: sample accounts on each reference price book over a few months of
2025, as CloudEvents with the record time each is received at. Pure: no Kafka, no
ClickHouse, no clock."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "pricing" / "examples"
NOW = datetime(2025, 6, 5, tzinfo=UTC)
"""The demo's clock: every cycle of the story has closed (plus its lateness)."""
CLOCK = "fixed:2025-06-05T00:00:00Z"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
Event = dict[str, Any]


@dataclass(frozen=True)
class Chapter:
    account: str
    book: str
    title: str
    events: list[Event] = field(default_factory=list)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event(account: str, n: int, etype: str, at: datetime, data: dict[str, Any]) -> Event:
    return {"specversion": "1.0", "id": f"{account}-{n}", "source": "demo", "type": etype,
            "subject": account, "time": _iso(at), "data": data}


def _example(name: str, book: str) -> list[Event]:
    """A pricing example's log, its subscriptions naming their price book."""
    docs = []
    for line in (EXAMPLES / f"{name}.jsonl").read_text().splitlines():
        if line.strip():
            doc = json.loads(line)
            if doc["type"] == "account.subscribed":
                doc["data"]["pricebook"] = book
            docs.append(doc)
    return docs


def _email_plan(account: str, policy: str) -> list[Event]:
    """`email-7k` of marketing_tiers (70,000 emails a cycle) with a limit policy."""
    return [
        _event(account, 1, "account.subscribed", T0, {
            "product": "email", "plan": "email-7k", "anchor": "2025-03-01",
            "pricebook": "marketing_tiers"}),
        _event(account, 2, "account.settings_changed", T0 + timedelta(minutes=1), {
            "product": "email", "limit_policy": policy}),
    ]


def blocked_sender() -> Chapter:
    account = "bluebird-news"
    sends = [(4, 56_000), (5, 7_000), (6, 7_001)]  # 80%, 90%, then over 100%
    events = _email_plan(account, "none") + [
        _event(account, 10 + i, "email.sent", T0 + timedelta(days=d), {"count": c})
        for i, (d, c) in enumerate(sends)]
    return Chapter(account, "marketing_tiers", "a sender on a hard limit is blocked", events)


def live_upgrade() -> Chapter:
    account = "upward-shop"
    events = [*_email_plan(account, "auto_upgrade"),
              _event(account, 10, "email.sent", T0 + timedelta(days=6), {"count": 70_001})]
    return Chapter(account, "marketing_tiers", "auto-upgrade the moment the limit is passed",
                   events)


def growth(profiles: int = 2_501) -> Chapter:
    """A package account past its 2,500 contacts: upgraded at the close of April."""
    account = "grows-fast"
    start = datetime(2025, 4, 1, tzinfo=UTC)
    events = [_event(account, 0, "account.subscribed", start, {
        "product": "package", "plan": "starter", "pricebook": "package_plans"})]
    events += [_event(account, 1 + n, "profile.added", start + timedelta(days=1, seconds=n),
                      {"profile_id": f"p{n}", "emailable": True}) for n in range(profiles)]
    return Chapter(account, "package_plans", "contacts past the plan: upgraded at the close",
                   events)


LATE_ACCOUNT = "late-mailer"


def late_mailer() -> Chapter:
    """A package account; a batch of its April emails arrives after April closed."""
    a = LATE_ACCOUNT
    events = [
        _event(a, 0, "account.subscribed", datetime(2025, 4, 1, tzinfo=UTC),
               {"product": "package", "plan": "starter", "pricebook": "package_plans"}),
        _event(a, 1, "email.sent", datetime(2025, 4, 10, tzinfo=UTC), {"count": 900_000}),
        _event(a, 2, "email.sent", datetime(2025, 5, 2, tzinfo=UTC), {"count": 5}),
    ]
    return Chapter(a, "package_plans", "a late batch of emails, then re-rating", events)


def late_event() -> Event:
    """100,000 April emails received on the demo's 'now': rejected `too_late` live."""
    return _event(LATE_ACCOUNT, 99, "email.sent", datetime(2025, 4, 20, tzinfo=UTC),
                  {"count": 100_000})


def chapters() -> list[Chapter]:
    return [
        Chapter("acme-flex", "marketing_tiers", "a flex purchase over the send limit",
                _example("flex_1000", "marketing_tiers")),
        blocked_sender(),
        live_upgrade(),
        Chapter("acme-sms", "marketing_tiers", "SMS credits by segment and country",
                _example("sms_200_credits", "marketing_tiers")),
        growth(),
        Chapter("acme-seats", "seats_storage", "a seat added mid-month (prorated)",
                _example("seat_proration", "seats_storage")),
        Chapter("acme-plan", "seats_storage", "seat plan changes: upgrade prorated, a "
                "downgrade's credit used up, a reduction before renewal refused",
                _example("seat_plan_change", "seats_storage")),
        Chapter("season", "seats_storage", "a seasonal window bought, then over its seats",
                _example("seasonal_window", "seats_storage")),
        Chapter("acme-storage", "seats_storage", "storage over the plan's allowance",
                _example("storage_overage", "seats_storage")),
        Chapter("acme-carts", "peak_carts", "the month's peak of active carts",
                _example("carts_peak", "peak_carts")),
        late_mailer(),
    ]


def background(accounts: int, seed: int = 7) -> list[Chapter]:
    """Quiet accounts on `email-5k` and package plans sending a little every few days
    from March to May (seeded): the traffic the story's accounts live among."""
    rng = random.Random(seed)
    out = []
    for n in range(accounts):
        a = f"quiet-{n:03d}"
        if n % 2:
            sub = {"product": "email", "plan": "email-5k", "anchor": "2025-03-01",
                   "pricebook": "marketing_tiers"}
        else:
            sub = {"product": "package", "plan": "starter", "pricebook": "package_plans"}
        events = [_event(a, 0, "account.subscribed", T0, sub)]
        at, i = T0 + timedelta(hours=rng.randint(1, 48)), 1
        while at < datetime(2025, 6, 1, tzinfo=UTC):
            events.append(_event(a, i, "email.sent", at, {"count": rng.randint(50, 1_500)}))
            at, i = at + timedelta(hours=rng.randint(12, 120)), i + 1
        out.append(Chapter(a, sub["pricebook"], "background", events))
    return out


def by_book(story: list[Chapter]) -> dict[str, list[Event]]:
    logs: dict[str, list[Event]] = {}
    for chapter in story:
        logs.setdefault(chapter.book, []).extend(chapter.events)
    return logs
