"""Seeded billing workloads over the four reference books, for the independent oracle
(`billing_oracle.py`): CloudEvents in time order, every one valid and on time.

Per seed: package accounts (emails and bandwidth around the allotment, sometimes contacts
over it), email-tier accounts (a random limit policy, changed now and then, sends and
scheduled sends around the limit), cart accounts (activations and deactivations in three
categories) and seat + storage accounts (seats added and removed, storage measured,
attachments stored and deleted). Events stay an hour away from cycle boundaries.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from testkit.billing_oracle import EMAIL, GB, PACKAGES, month_cycle

START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 6, 1, tzinfo=UTC)
"""The oracle's and the pipeline's clock: January to April have closed."""
CYCLES = 3

Doc = dict[str, Any]


class _Account:
    def __init__(self, rnd: random.Random, name: str, book: str) -> None:
        self.rnd, self.name, self.book = rnd, name, book
        self.docs: list[Doc] = []

    def add(self, etype: str, t: datetime, data: dict[str, Any]) -> None:
        self.docs.append({"specversion": "1.0", "id": f"{self.name}-{len(self.docs)}",
                          "source": "urn:workload", "type": etype, "subject": self.name,
                          "time": t.isoformat().replace("+00:00", "Z"), "data": data})

    def subscribe(self, t: datetime, product: str, plan: str) -> None:
        self.add("account.subscribed", t, {"product": product, "plan": plan,
                                           "pricebook": self.book})

    def moment(self, cycle: tuple[datetime, datetime]) -> datetime:
        span = int((cycle[1] - cycle[0]).total_seconds()) - 7200
        return cycle[0] + timedelta(seconds=3600 + self.rnd.randrange(span))

    def cycles(self, t0: datetime) -> list[tuple[datetime, datetime]]:
        out, c = [], month_cycle(t0.date(), t0)
        for _ in range(CYCLES):
            out.append(c)
            c = month_cycle(t0.date(), c[1])
        return out


def _package(a: _Account) -> None:
    t0 = START + timedelta(days=a.rnd.randrange(28))
    plan = a.rnd.choice(["starter", "silver"])
    a.subscribe(t0, "package", plan)
    _, emails, contacts, bandwidth = PACKAGES[plan]
    timed: list[tuple[datetime, str, dict[str, Any]]] = []
    for c in a.cycles(t0):
        for _ in range(a.rnd.randint(1, 3)):
            timed.append((a.moment(c), "email.sent",
                          {"count": a.rnd.randint(1, int(emails * 0.7))}))
        timed.append((a.moment(c), "bandwidth.used",
                      {"bytes": int(a.rnd.uniform(0.2, 0.9) * int(bandwidth)),
                       "kind": a.rnd.choice(["hosting", "transfer"])}))
    if a.rnd.random() < 0.5:  # over the contacts allotment: overage, upgrade at the close
        first = a.cycles(t0)[0]
        for n in range(contacts + a.rnd.randint(1, 1_500)):
            timed.append((first[0] + timedelta(hours=2, seconds=n), "profile.added",
                          {"profile_id": f"p{n}", "emailable": True}))
    for t, etype, data in sorted(timed, key=lambda x: x[0]):
        a.add(etype, t, data)


def _email(a: _Account) -> None:
    t0 = START + timedelta(days=a.rnd.randrange(28), hours=a.rnd.randrange(24))
    t0 = t0.replace(hour=0)
    plan = a.rnd.choice(["email-5k", "email-7k", "email-8k"])
    a.subscribe(t0, "email", plan)
    policies = ["none", "flex", "auto_upgrade"]
    a.add("account.settings_changed", t0, {"product": "email",
                                           "limit_policy": a.rnd.choice(policies)})
    limit = EMAIL[plan][1]
    timed: list[tuple[datetime, str, dict[str, Any]]] = []
    for c in a.cycles(t0):
        for _ in range(a.rnd.randint(2, 6)):
            timed.append((a.moment(c), "email.sent",
                          {"count": a.rnd.randint(1, int(limit * 0.45))}))
        if a.rnd.random() < 0.4:
            timed.append((a.moment(c), "send.scheduled",
                          {"product": "email", "count": a.rnd.randint(1, limit)}))
        if a.rnd.random() < 0.4:
            timed.append((a.moment(c), "account.settings_changed",
                          {"product": "email", "limit_policy": a.rnd.choice(policies)}))
    for t, etype, data in sorted(timed, key=lambda x: x[0]):
        a.add(etype, t, data)


def _carts(a: _Account) -> None:
    t0 = START + timedelta(days=a.rnd.randrange(28))
    a.subscribe(t0, "carts", "carts")
    active: dict[str, list[str]] = {"standard": [], "premium": [], "edi": []}
    t, n = t0 + timedelta(hours=1), 0
    end = a.cycles(t0)[-1][1]
    while True:
        t += timedelta(hours=a.rnd.randint(5, 60))
        if t >= end - timedelta(hours=1):
            break
        category = a.rnd.choice(list(active))
        if active[category] and a.rnd.random() < 0.45:
            cart = active[category].pop(a.rnd.randrange(len(active[category])))
            a.add("cart.deactivated", t, {"cart_id": cart, "category": category})
        else:
            n += 1
            active[category].append(f"c{n}")
            a.add("cart.activated", t, {"cart_id": f"c{n}", "category": category})


def _seats_storage(a: _Account) -> None:
    t0 = datetime(2025, a.rnd.choice([1, 2]), 1, tzinfo=UTC)
    a.subscribe(t0, "seats", "professional")
    with_storage = a.rnd.random() < 0.7
    if with_storage:
        a.subscribe(t0, "storage", a.rnd.choice(["professional", "business"]))
    seats = a.rnd.randint(2, 12)
    a.add("seats.changed", t0, {"full_time": seats})
    timed: list[tuple[datetime, str, dict[str, Any]]] = []
    files: list[tuple[str, int]] = []
    contract, pending = seats, None  # fewer seats than contracted: only for the renewal
    for c in a.cycles(t0):
        contract, pending = (pending or contract), None
        moments = sorted(a.moment(c) for _ in range(a.rnd.randint(0, 2)))
        for t in moments:
            seats = max(1, seats + a.rnd.choice([-2, -1, 1, 2, 3]))
            if seats >= contract:
                contract, pending = seats, None
                timed.append((t, "seats.changed", {"full_time": seats}))
            else:
                pending = seats
                timed.append((t, "seats.changed", {"full_time": seats,
                                                   "effective": "renewal"}))
        if with_storage:
            timed.append((a.moment(c), "storage.measured",
                          {"objects": {"message": a.rnd.randint(0, 30_000_000),
                                       "note": a.rnd.randint(0, 2_000_000)}}))
            for _ in range(a.rnd.randint(0, 3)):
                size = a.rnd.randint(1, 8 * int(GB))
                files.append((f"f{len(files)}", size))
                timed.append((a.moment(c), "attachment.stored",
                              {"attachment_id": files[-1][0], "bytes": size}))
    timed.sort(key=lambda x: x[0])
    stored = [i for i, (_, etype, _) in enumerate(timed) if etype == "attachment.stored"]
    for i in stored[: len(stored) // 3]:  # some files deleted a day after they came
        t, _, data = timed[i]
        timed.append((t + timedelta(days=1), "attachment.deleted", dict(data)))
    for t, etype, data in sorted(timed, key=lambda x: x[0]):
        a.add(etype, t, data)


MAKERS = {"package_plans": _package, "marketing_tiers": _email, "peak_carts": _carts,
          "seats_storage": _seats_storage}


def billing_workload(seed: int, per_book: int = 3) -> dict[str, list[Doc]]:
    """Per price book, its accounts' CloudEvents in time order."""
    rnd = random.Random(seed)
    out: dict[str, list[Doc]] = {}
    for book, make in MAKERS.items():
        docs: list[Doc] = []
        for n in range(per_book):
            account = _Account(rnd, f"s{seed}-{book.split('_')[0]}-{n}", book)
            make(account)
            docs += account.docs
        out[book] = sorted(docs, key=lambda d: d["time"])
    return out
