"""An independent billing oracle: a deliberately simple rater written from DESIGN.md section
6 and the reference books' figures, sharing no code with `pricing/`, `core/` or
`projections/` (it imports neither). Brute force over the deduplicated log of each account:
walk its events in log order, keep plain Python state, price with the figures below.

It knows what the generated billing workloads (`billing_workload.py`) use: package plans
(fee, email / bandwidth / contact overage, auto-upgrade for contacts at the close), the
email tiers (fee, none / flex / auto_upgrade at the send limit, scheduled sends), cart
licences (peak concurrent per category, arrears) and seats with storage (prorated seat
additions, reductions at renewal, storage over the seat-based allowance by calendar
month). Every invoice is (account, kind, cycle start, cycle end, total to the cent).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

GB, MB = Decimal(10) ** 9, Decimal(10) ** 6
LATENESS = timedelta(hours=24)
# (fee, email limit, contacts, bandwidth bytes) per package, in ladder order
PACKAGES = {"starter": (99, 15_000, 2_500, 50 * GB), "silver": (199, 125_000, 12_500, 125 * GB),
            "gold": (299, 250_000, 25_000, 200 * GB), "platinum": (499, 500_000, 50_000, 400 * GB)}
# (fee, monthly emails) per email tier, in ladder order
EMAIL = {"email-5k": (5100, 50_000), "email-7k": (7000, 70_000), "email-8k": (7600, 80_000),
         "email-10k": (9000, 100_000), "email-15k": (12750, 150_000)}
CARTS = {"standard": 25, "premium": 50, "edi": 100}
SEAT_PRICE = {"professional": 89, "business": 109, "enterprise": 139, "ultimate": 179}
# data base, data per seat, attachments base, attachments per seat
STORAGE = {"professional": (Decimal("2.5") * GB, 125 * MB, 5 * GB, Decimal("1.25") * GB),
           "business": (5 * GB, 250 * MB, 10 * GB, Decimal("2.5") * GB)}
KB_SIZE = {"company": "0.1", "customer": "0.1", "conversation": "0.5", "message": "0.2",
           "attachment": "0.1", "event": "0.07", "note": "0.2", "custom_object": "0.5",
           "custom_attribute": "0.05"}


@dataclass(frozen=True, order=True)
class Bill:
    account: str
    kind: str  # "cycle" | "immediate"
    start: datetime
    end: datetime
    total: Decimal
    at: datetime = field(compare=False, default=datetime.min.replace(tzinfo=UTC))
    """When it is issued (a cycle's end, or the moment of an immediate charge)."""

    def key(self) -> tuple[str, str, datetime, datetime, Decimal]:
        return (self.account, self.kind, self.start, self.end, self.total)


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def ceil_div(a: Decimal, b: Decimal) -> Decimal:
    return (a / b).to_integral_value(rounding=ROUND_CEILING)


def when(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def month_cycle(anchor: date, t: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the monthly cycle from `anchor` holding `t` (short months end on
    their last day, the next returns to the anchor day)."""
    def boundary(n: int) -> datetime:
        y, m = divmod(anchor.month - 1 + n, 12)
        last = calendar.monthrange(anchor.year + y, m + 1)[1]
        return datetime(anchor.year + y, m + 1, min(anchor.day, last), tzinfo=UTC)
    n = (t.year - anchor.year) * 12 + t.month - anchor.month - 1
    while boundary(n + 1) <= t:
        n += 1
    while boundary(n) > t:
        n -= 1
    return boundary(n), boundary(n + 1)


@dataclass
class Account:
    id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)

    def bill(self, kind: str, cycle: tuple[datetime, datetime], total: Decimal,
             at: datetime | None = None) -> None:
        self.bills.append(Bill(self.id, kind, cycle[0], cycle[1], cents(total),
                               at if at is not None else cycle[1]))


def _cycles(anchor: date, first: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    out, c = [], month_cycle(anchor, first)
    while c[1] <= until:
        out.append(c)
        c = month_cycle(anchor, c[1])
    return out


def _in(t: datetime, c: tuple[datetime, datetime]) -> bool:
    return c[0] <= t < c[1]


def _package(a: Account, until: datetime) -> None:
    sub = a.events[0]
    t0, plan = when(sub["time"]), sub["data"]["plan"]
    a.bill("immediate", month_cycle(t0.date(), t0), Decimal(PACKAGES[plan][0]), t0)
    contacts = 0
    timeline = [(when(e["time"]), e) for e in a.events]
    for c in _cycles(t0.date(), t0, until):
        _, email_limit, contact_limit, bw_limit = PACKAGES[plan]
        emails, bandwidth, peak = 0, Decimal(0), contacts
        for t, e in timeline:
            if not _in(t, c):
                continue
            if e["type"] == "email.sent":
                emails += e["data"].get("count", 1)
            elif e["type"] == "bandwidth.used":
                bandwidth += Decimal(e["data"]["bytes"])
            elif e["type"] in ("profile.added", "profile.removed"):
                contacts += 1 if e["type"] == "profile.added" else -1
                peak = max(peak, contacts)
        total = ceil_div(Decimal(max(0, emails - email_limit)), Decimal(1000)) * 1
        over_gb = max(Decimal(0), bandwidth - bw_limit) / GB
        total += cents(min(over_gb, Decimal(100)) * Decimal("0.10"))
        total += cents(max(Decimal(0), over_gb - 100) * Decimal("0.05"))
        total += ceil_div(Decimal(max(0, peak - contact_limit)), Decimal(1000)) * 10
        if peak > contact_limit:  # the lowest package covering the contacts, next cycle
            plan = next((p for p, v in PACKAGES.items() if v[2] >= peak), plan)
        a.bill("cycle", c, total + PACKAGES[plan][0])


def _email(a: Account, until: datetime) -> None:
    sub = a.events[0]
    t0, plan = when(sub["time"]), sub["data"]["plan"]
    anchor = t0.date()
    a.bill("immediate", month_cycle(anchor, t0), Decimal(EMAIL[plan][0]), t0)
    ladder = list(EMAIL)
    policy, used, cycle = "none", 0, month_cycle(anchor, t0)
    effective, blocked = EMAIL[plan][1], False
    for e in a.events[1:]:
        t = when(e["time"])
        while t >= cycle[1]:  # the close: the next cycle's fee on the plan now in force
            if cycle[1] <= until:
                a.bill("cycle", cycle, Decimal(EMAIL[plan][0]))
            cycle = month_cycle(anchor, cycle[1])
            used, effective, blocked = 0, EMAIL[plan][1], False
        if e["type"] == "account.settings_changed":
            policy = e["data"]["limit_policy"]
            if blocked and policy in ("flex", "auto_upgrade"):  # acts at once
                ok, plan, effective = _at_limit(a, cycle, t, policy, used, ladder, plan,
                                                effective)
                blocked = not ok
            continue
        grow = e["data"]["count"] if e["type"] in ("email.sent", "send.scheduled") else 0
        would = used + grow
        if e["type"] == "email.sent":
            used = would
        if blocked or would <= effective:
            continue
        if e["type"] == "send.scheduled" and policy != "auto_upgrade":
            continue  # a scheduled send only upgrades in advance
        ok, plan, effective = _at_limit(a, cycle, t, policy, would, ladder, plan, effective)
        blocked = not ok
    while cycle[1] <= until:
        a.bill("cycle", cycle, Decimal(EMAIL[plan][0]))
        cycle = month_cycle(anchor, cycle[1])
        effective = EMAIL[plan][1]


def _at_limit(a: Account, cycle: tuple[datetime, datetime], t: datetime, policy: str,
              would: int, ladder: list[str], plan: str, effective: int
              ) -> tuple[bool, str, int]:
    """The limit policy when usage `would` goes above the effective limit: (allowed,
    plan, effective limit); not allowed = blocked until the next cycle."""
    fee, limit = EMAIL[plan]
    if policy == "auto_upgrade":
        target = next((p for p in ladder[ladder.index(plan) + 1:] if EMAIL[p][1] >= would),
                      None)
        if target is None:
            return False, plan, effective
        a.bill("immediate", cycle, Decimal(EMAIL[target][0] - fee), t)  # the difference
        return True, target, EMAIL[target][1]
    if policy == "flex":
        above = [p for p in ladder if EMAIL[p][1] > effective and EMAIL[p][1] >= would]
        if not above or fee <= 0:
            return False, plan, effective
        capacity = EMAIL[above[0]][1] - effective
        a.bill("immediate", cycle, Decimal(capacity) * Decimal(fee) / Decimal(limit), t)
        return True, plan, EMAIL[above[0]][1]
    return False, plan, effective


def _carts(a: Account, until: datetime) -> None:
    t0 = when(a.events[0]["time"])
    changes = [(when(e["time"]), e["data"]["category"],
                1 if e["type"] == "cart.activated" else -1)
               for e in a.events if e["type"] in ("cart.activated", "cart.deactivated")]
    changes.sort(key=lambda x: x[0])
    for c in _cycles(t0.date(), t0, until):
        total = Decimal(0)
        for category, price in CARTS.items():
            # half-open: the level at the cycle's first instant includes the changes made
            # at that instant; only later changes can raise the peak
            level = sum(d for t, k, d in changes if k == category and t <= c[0])
            peak = level
            for t, k, d in changes:
                if k == category and _in(t, c) and t > c[0]:
                    level += d
                    peak = max(peak, level)
            total += peak * price
        a.bill("cycle", c, total)


def _seats_storage(a: Account, until: datetime) -> None:
    subs = {e["data"]["product"]: e for e in a.events if e["type"] == "account.subscribed"}
    t0 = when(a.events[0]["time"])
    anchor = t0.date()
    seat_plan = subs["seats"]["data"]["plan"]
    price = SEAT_PRICE[seat_plan]
    seat_events = [e for e in a.events if e["type"] == "seats.changed"]
    # a reading "for the renewal" lowers the seats billed from the next cycle and leaves
    # the seats level (storage allowances) where it was
    readings = [(when(e["time"]), int(e["data"]["full_time"]),
                 e["data"].get("effective", "now") == "renewal") for e in seat_events]
    levels = [(t, n) for t, n, later in readings if not later]
    lines: dict[tuple[datetime, datetime], Decimal] = defaultdict(Decimal)
    billed = 0  # seats paid for in the current cycle
    for c in _cycles(anchor, t0, until + timedelta(days=400)):
        if c[0] > until:
            break
        pending: int | None = None
        for t, n, later in readings:
            if not _in(t, c):
                continue
            if later:
                pending = n
            elif n >= billed:  # added: charged at once, prorated by days
                days = (c[1] - c[0]).days
                left = (c[1].date() - t.date()).days if t > c[0] else days
                if n > billed:
                    a.bill("immediate", c, Decimal((n - billed) * price) * left / days, t)
                billed, pending = n, None
        billed = billed if pending is None else pending  # the renewal's seats
        if c[1] <= until:
            lines[c] += Decimal(billed * price)
    if "storage" in subs:
        plan = subs["storage"]["data"]["plan"]
        data_base, data_seat, att_base, att_seat = STORAGE[plan]
        month = datetime(t0.year, t0.month, 1, tzinfo=UTC)
        while True:
            nxt = (month + timedelta(days=32)).replace(day=1)
            if nxt > until:
                break
            seats = next((n for t, n in reversed(levels) if t < nxt), 0)
            data = next((Decimal(sum(Decimal(n) * Decimal(KB_SIZE[k]) * 1000
                                     for k, n in e["data"]["objects"].items()))
                         for e in reversed(a.events) if e["type"] == "storage.measured"
                         and when(e["time"]) < nxt), Decimal(0))
            files = sum((1 if e["type"] == "attachment.stored" else -1) *
                        ceil_div(Decimal(e["data"]["bytes"]), Decimal(1000)) * 1000
                        for e in a.events if e["type"] in ("attachment.stored",
                                                           "attachment.deleted")
                        and when(e["time"]) < nxt)
            over_data = max(Decimal(0), data - data_base - data_seat * seats)
            over_files = max(Decimal(0), Decimal(files) - att_base - att_seat * seats)
            lines[(month, nxt)] += ceil_div(over_data, GB) * 50 + ceil_div(over_files, GB)
            month = nxt
    for c, total in lines.items():
        a.bill("cycle", c, total)


RATERS = {"package_plans": _package, "marketing_tiers": _email, "peak_carts": _carts,
          "seats_storage": _seats_storage}


def oracle_bills(docs: Iterable[Mapping[str, Any]], now: datetime) -> list[Bill]:
    """Every invoice issued by `now` (a cycle or a charge counts once its time plus the
    24-hour lateness has passed), from CloudEvents in log order (duplicates dropped)."""
    seen: set[tuple[str, str]] = set()
    accounts: dict[str, Account] = {}
    for d in docs:
        if (d["source"], d["id"]) in seen:
            continue
        seen.add((d["source"], d["id"]))
        accounts.setdefault(d["subject"], Account(d["subject"])).events.append(dict(d))
    until = now - LATENESS
    out: list[Bill] = []
    for account in accounts.values():
        book = account.events[0]["data"]["pricebook"]
        RATERS[book](account, until)
        out += [b for b in account.bills if b.at <= until]
    return sorted(out)
