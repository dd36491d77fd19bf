"""The benchmark's load: accounts on a plan with limits, a mix of usage events, and probes.

Every account subscribes to `email` on `email-7k` of the marketing_tiers price book (a
limit of 70,000 emails a cycle), with its cycle anchored ten days before the load starts,
so the live limits run for every email of every account. Emails are mostly 1-5 at a time;
a few are campaigns of 30,000, so that under load some accounts cross thresholds (80%,
90%, 100%: alerts, and a block decision at 100%) and many get a forecast alert (the
cycle-to-date rate runs out before the cycle ends).

A probe account subscribes the same way and then sends one email.sent of 56,000: exactly
80% of its limit, so that one event raises one "80%" threshold alert (and a forecast).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

PRODUCT, PLAN = "email", "email-7k"
ANCHOR_DAYS_BEFORE = 10
CAMPAIGN, CAMPAIGN_SHARE = 30_000, 0.005
"""Share of email.sent events that are campaigns of CAMPAIGN emails."""
PROBE_COUNT, PROBE_THRESHOLD = 56_000, "80%"

Record = tuple[bytes, bytes]


def _record(account: str, event_id: str, etype: str, at: datetime,
            data: dict[str, Any]) -> Record:
    doc = {"specversion": "1.0", "id": event_id, "source": "urn:bench", "type": etype,
           "subject": account, "time": at.isoformat(), "data": data}
    return account.encode(), json.dumps(doc).encode()


def subscription(account: str, start: datetime) -> Record:
    anchor = (start - timedelta(days=ANCHOR_DAYS_BEFORE)).date().isoformat()
    return _record(account, f"sub-{account}", "account.subscribed", start,
                   {"product": PRODUCT, "plan": PLAN, "anchor": anchor})


def _usage(rng: random.Random) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.6:
        campaign = rng.random() < CAMPAIGN_SHARE
        return "email.sent", {"count": CAMPAIGN if campaign else rng.randint(1, 5)}
    if roll < 0.75:
        return "sms.sent", {"to_country": "US", "segments": 1}
    if roll < 0.9:
        return "bandwidth.used", {"bytes": rng.randrange(10**6), "kind": "hosting"}
    etype = rng.choice(["cart.activated", "cart.deactivated"])
    return etype, {"cart_id": f"c{rng.randrange(50)}", "category": "standard"}


def event_time(start: datetime, i: int) -> datetime:
    """Event time of the i-th usage event: a thousand a second of event time."""
    return start + timedelta(seconds=1 + i / 1000)


def usage_events(n: int, accounts: int, seed: int, start: datetime) -> list[Record]:
    """`n` records: one subscription per account, then usage events."""
    rng = random.Random(seed)
    out = [subscription(f"b{a:05d}", start) for a in range(accounts)]
    for i in range(n - accounts):
        account = f"b{rng.randrange(accounts):05d}"
        etype, data = _usage(rng)
        out.append(_record(account, f"{seed}-{i}", etype, event_time(start, i), data))
    return out


def with_probes(records: list[Record], probes: int, start: datetime,
                skip: int) -> tuple[list[Record], dict[int, str]]:
    """`records` with `probes` probe accounts: their subscriptions first, their crossing
    events spread evenly over the records after the first `skip`. Returns the records and
    the index of each probe event -> its account."""
    names = [f"probe{j:05d}" for j in range(probes)]
    head = [subscription(name, start) for name in names] + records[:skip]
    body = records[skip:]
    step = max(1, len(body) // (probes + 1))
    out, at = list(head), {}
    for j, name in enumerate(names):
        out += body[j * step:(j + 1) * step]
        at[len(out)] = name
        out.append(_record(name, f"probe-{j}", "email.sent", event_time(start, j * step),
                           {"count": PROBE_COUNT}))
    out += body[probes * step:]
    return out, at
