"""A seeded workload and an independent oracle for the pipeline's tests and benchmarks.

The oracle does not import the pipeline's derivation or cycle code: it computes what every
counter and peak must be from its own description of the events it generated.
"""

from __future__ import annotations

import calendar
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from testkit.bad_records import BAD_REASONS, bad_record
from testkit.records import Record, as_bytes, event_doc

__all__ = ["BAD_REASONS", "Record", "Workload", "generate", "oracle_cycle"]

SMS_RATES = {"US": 1, "CA": 3, "GB": 5}  # as in the marketing_tiers price book
KB = {"company": Decimal("0.1"), "customer": Decimal("0.1"), "conversation": Decimal("0.5"),
      "message": Decimal("0.2"), "note": Decimal("0.2"), "event": Decimal("0.07")}


def oracle_cycle(anchor: date, t: datetime) -> tuple[datetime, datetime]:
    def boundary(n: int) -> datetime:
        y, m = divmod(anchor.month - 1 + n, 12)
        y += anchor.year
        last = calendar.monthrange(y, m + 1)[1]
        return datetime(y, m + 1, min(anchor.day, last), tzinfo=UTC)

    n = 0
    while boundary(n + 1) <= t:
        n += 1
    return boundary(n), boundary(n + 1)


@dataclass
class Good:
    account: str
    source: str
    id: str
    t: datetime
    contributions: list[tuple[str, str, Decimal, str]]  # (meter, kind, quantity, dim)


@dataclass
class Workload:
    records: list[Record] = field(default_factory=list)
    good: dict[tuple[str, str], Good] = field(default_factory=dict)
    anchors: dict[str, date] = field(default_factory=dict)

    # ---- the oracle --------------------------------------------------------------------

    def counters(self) -> dict[tuple[str, datetime, str], Decimal]:
        sums: dict[tuple[str, datetime, str], Decimal] = defaultdict(Decimal)
        distinct: dict[tuple[str, datetime, str], set[str]] = defaultdict(set)
        for g in self.good.values():
            start, _ = oracle_cycle(self.anchors[g.account], g.t)
            for meter, kind, q, dim in g.contributions:
                if kind == "sum":
                    sums[(g.account, start, meter)] += q
                elif kind == "distinct":
                    distinct[(g.account, start, meter)].add(dim)
        out = dict(sums)
        out.update({k: Decimal(len(v)) for k, v in distinct.items()})
        return out

    def peaks(self) -> dict[tuple[str, datetime, str], tuple[Decimal, Decimal, Decimal]]:
        """(account, cycle start, meter) -> (opening, peak, value at end) of every gauge.

        Levels move in event-time order; a cycle starts at the level the previous one ended
        with; a cycle of the account in which a gauge did not move carries its level."""
        series: dict[tuple[str, str], list[tuple[datetime, Decimal, str, str, str]]] = \
            defaultdict(list)
        for g in self.good.values():
            for meter, kind, q, _ in g.contributions:
                if kind in ("delta", "set"):
                    series[(g.account, meter)].append((g.t, q, g.source, g.id, kind))
        out: dict[tuple[str, datetime, str], tuple[Decimal, Decimal, Decimal]] = {}
        cycles: dict[str, set[datetime]] = defaultdict(set)
        for g in self.good.values():
            cycles[g.account].add(oracle_cycle(self.anchors[g.account], g.t)[0])
        for (account, meter), rows in series.items():
            rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
            level = Decimal(0)
            for t, q, _, _, kind in rows:
                start, _ = oracle_cycle(self.anchors[account], t)
                before = level
                level = level + q if kind == "delta" else q
                key = (account, start, meter)
                opening, peak, _ = out.get(key, (before, before, before))
                out[key] = (opening, max(peak, level), level)
            # cycles of the account with no change of this gauge carry its level through
            for start in sorted(cycles[account]):
                if (account, start, meter) in out:
                    continue
                earlier = [r for r in rows if r[0] < start]
                carried = Decimal(0)
                for _t, q, _, _, kind in earlier:
                    carried = carried + q if kind == "delta" else q
                if carried != 0:
                    out[(account, start, meter)] = (carried, carried, carried)
        return out


def generate(seed: int, accounts: int, events_per_account: int, *, start: date,
             dup_rate: float = 0.10, bad_rate: float = 0.01,
             late_rate: float = 0.10) -> Workload:
    """Events for `accounts` accounts over their first two cycles after `start`."""
    rng = random.Random(seed)
    w = Workload()
    counter = 0

    def next_id() -> str:
        nonlocal counter
        counter += 1
        return f"ev-{seed}-{counter}"

    for a in range(accounts):
        account = f"acc-{a:04d}"
        anchor = start + timedelta(days=rng.randrange(0, 31))
        w.anchors[account] = anchor
        sub_t = datetime.combine(anchor, datetime.min.time(), UTC)
        c1_start, c1_end = oracle_cycle(anchor, sub_t)
        _, c2_end = oracle_cycle(anchor, c1_end)
        sid = next_id()
        w.records.append(Record(account.encode(), as_bytes(event_doc(
            "account.subscribed", account, sub_t, {"product": "email", "plan": "p1"}, sid)),
            sub_t, "accept", ("urn:test:svc", sid)))
        w.good[("urn:test:svc", sid)] = Good(account, "urn:test:svc", sid, sub_t, [])
        span = (c2_end - sub_t).total_seconds() - 1
        times = sorted(sub_t + timedelta(seconds=rng.uniform(1, span))
                       for _ in range(events_per_account))
        carts: dict[str, set[str]] = {"standard": set(), "premium": set(), "edi": set()}
        profiles: dict[str, bool] = {}
        attachments: dict[str, int] = {}
        for t in times:
            etype, data, contrib = _usage(rng, carts, profiles, attachments, counter)
            eid = next_id()
            delay = timedelta(hours=rng.uniform(0, 20)) if rng.random() < late_rate \
                else timedelta(seconds=rng.uniform(0, 60))
            rec = Record(account.encode(), as_bytes(event_doc(etype, account, t, data, eid)),
                         t + delay, "accept", ("urn:test:svc", eid))
            w.records.append(rec)
            w.good[("urn:test:svc", eid)] = Good(account, "urn:test:svc", eid, t, contrib)
            if rng.random() < dup_rate:
                w.records.append(Record(rec.key, rec.value, rec.arrival + timedelta(
                    seconds=rng.choice([0.001, rng.uniform(1, 12 * 3600)])), "duplicate",
                    rec.event_key))
        # bad records for this account's window, later spread by arrival time
    n_bad = max(1, round(len(w.good) * bad_rate))
    accounts_list = list(w.anchors)
    for reason in BAD_REASONS:
        for _ in range(n_bad):
            account = rng.choice(accounts_list)
            anchor = w.anchors[account]
            c1_start, c1_end = oracle_cycle(anchor, datetime.combine(anchor, datetime.min.time(),
                                                                     UTC))
            t = c1_start + timedelta(hours=rng.uniform(1, 24 * 20))
            w.records.append(bad_record(reason, account, t, c1_end, next_id(), rng))
    w.records.sort(key=lambda r: r.arrival)
    return w


def _usage(rng: random.Random, carts: dict[str, set[str]], profiles: dict[str, bool],
           attachments: dict[str, int], salt: int
           ) -> tuple[str, dict[str, Any], list[tuple[str, str, Decimal, str]]]:
    roll = rng.random()
    if roll < 0.25:
        n = rng.randint(1, 5)
        return "email.sent", {"count": n}, [("email.sent", "sum", Decimal(n), "")]
    if roll < 0.35:
        country = rng.choice(list(SMS_RATES))
        segs = rng.randint(1, 3)
        status = rng.choice(["delivered"] * 6 + ["failed", "skipped"])
        direction = "inbound" if rng.random() < 0.1 else "outbound"
        billable = direction == "outbound" and status != "skipped"
        data = {"to_country": country, "segments": segs, "status": status,
                "direction": direction}
        return "sms.sent", data, [
            ("sms.credits", "sum", Decimal(SMS_RATES[country] * segs if billable else 0), ""),
            ("sms.segments", "sum", Decimal(segs if billable else 0), "")]
    if roll < 0.45:
        n = rng.randint(0, 5_000_000)
        return "bandwidth.used", {"bytes": n, "kind": rng.choice(["hosting", "transfer"])}, \
            [("bandwidth.bytes", "sum", Decimal(n), "")]
    if roll < 0.65:
        category = rng.choice(list(carts))
        active = carts[category]
        if active and rng.random() < 0.45:
            cart = rng.choice(sorted(active))
            active.discard(cart)
            return "cart.deactivated", {"cart_id": cart, "category": category}, \
                [(f"carts.{category}", "delta", Decimal(-1), cart)]
        cart = f"cart-{salt}-{rng.randrange(10**9)}"
        active.add(cart)
        return "cart.activated", {"cart_id": cart, "category": category}, \
            [(f"carts.{category}", "delta", Decimal(1), cart)]
    if roll < 0.80:
        if profiles and rng.random() < 0.35:
            pid = rng.choice(sorted(profiles))
            if rng.random() < 0.5:
                was = profiles.pop(pid)
                c = [("profiles.total", "delta", Decimal(-1), pid)]
                if was:
                    c.append(("profiles.active", "delta", Decimal(-1), pid))
                return "profile.removed", {"profile_id": pid, "emailable": was}, c
            now = not profiles[pid]
            profiles[pid] = now
            return "profile.consent_changed", {"profile_id": pid, "emailable": now}, \
                [("profiles.active", "delta", Decimal(1 if now else -1), pid)]
        pid = f"p-{salt}-{rng.randrange(10**9)}"
        emailable = rng.random() < 0.7
        profiles[pid] = emailable
        c = [("profiles.total", "delta", Decimal(1), pid)]
        if emailable:
            c.append(("profiles.active", "delta", Decimal(1), pid))
        return "profile.added", {"profile_id": pid, "emailable": emailable}, c
    if roll < 0.88:
        order = f"o-{rng.randrange(50)}"
        excluded = rng.random() < 0.2
        return "order.review_ready", {"order_id": order, "excluded": excluded}, \
            ([] if excluded else [("reviews.orders", "distinct", Decimal(1), order)])
    if roll < 0.92:
        n = rng.randint(0, 40)
        return "seats.changed", {"full_time": n}, [("seats.full_time", "set", Decimal(n), "")]
    if roll < 0.96:
        objects = {k: rng.randint(0, 10_000) for k in rng.sample(sorted(KB), 3)}
        kb = sum((KB[k] * n for k, n in objects.items()), Decimal(0))
        return "storage.measured", {"objects": objects}, \
            [("storage.data.bytes", "set", kb * 1000, "")]
    if attachments and rng.random() < 0.4:
        aid = rng.choice(sorted(attachments))
        size = attachments.pop(aid)
        return "attachment.deleted", {"attachment_id": aid, "bytes": size}, \
            [("storage.attachments.bytes", "delta", Decimal(-((size + 999) // 1000) * 1000), aid)]
    aid = f"a-{salt}-{rng.randrange(10**9)}"
    size = rng.randint(1, 3_000_000)
    attachments[aid] = size
    return "attachment.stored", {"attachment_id": aid, "bytes": size}, \
        [("storage.attachments.bytes", "delta", Decimal((size + 999) // 1000 * 1000), aid)]
