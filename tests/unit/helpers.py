from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from core.accounts import AccountState
from core.batch import Core, DictStore
from core.derive import rules_for
from core.limits import LimitsContext
from core.process import Deduplicator, Outcome, Policy
from core.validate import RecordMeta
from pricing.aggregates import CycleAggregates
from pricing.cycles import cycle_containing
from pricing.pricebook_loader import load_pricebook
from pricing.rating import rate_cycle
from pricing.timeline import PlanInterval, PlanTimeline

BOOK = load_pricebook("marketing_tiers")
RULES = rules_for(BOOK)


def event(etype: str, data: dict[str, Any], *, account: str = "acc", eid: str = "e1",
          time: str = "2026-03-10T12:00:00Z", **extra: Any) -> bytes:
    doc = {"specversion": "1.0", "id": eid, "source": "urn:s", "type": etype,
           "subject": account, "time": time, "data": data, **extra}
    return json.dumps(doc).encode()


def meta(offset: int = 0, received: str = "2026-03-10T12:00:01Z") -> RecordMeta:
    return RecordMeta("events", 0, offset, datetime.fromisoformat(received).astimezone(UTC))


class Harness:
    """Feeds records through the decision core (`core.batch.Core`) with a dict store."""

    def __init__(self, policy: Policy | None = None, dedup: bool = True,
                 limits: LimitsContext | None = None) -> None:
        self.store = DictStore()
        self.states: dict[str, AccountState] = self.store.states
        self.policy = policy or Policy()
        self.dedup = Deduplicator() if dedup else None
        self.core = Core(self.store, RULES, self.policy, self.dedup, limits)
        self.offset = 0

    @property
    def limits(self) -> LimitsContext | None:
        return self.core.limits

    @limits.setter
    def limits(self, value: LimitsContext | None) -> None:
        self.core.limits = value

    def feed(self, raw: bytes, received: str = "2026-03-10T12:00:01Z",
             key: bytes | None = None, offset: int | None = None) -> Outcome:
        if offset is None:
            offset = self.offset
            self.offset += 1
        doc_key = key if key is not None else _subject(raw)
        return self.core.decide(raw, meta(offset, received), doc_key)

    def subscribe(self, account: str = "acc", time: str = "2026-01-31T00:00:00Z",
                  anchor: str | None = None) -> Outcome:
        data: dict[str, Any] = {"product": "email", "plan": "p"}
        if anchor:
            data["anchor"] = anchor
        return self.feed(event("account.subscribed", data, account=account,
                               eid=f"sub-{account}", time=time), received=time)


def _subject(raw: bytes) -> bytes | None:
    try:
        s = json.loads(raw).get("subject")
    except Exception:
        return None
    return s.encode() if isinstance(s, str) else None


def invoice_doc(account: str = "acme", number: str = "INV-2026-000007") -> dict[str, Any]:
    """A rated cycle invoice as `billing.invoices` carries it."""
    book = load_pricebook("package_plans")
    cycle = cycle_containing(date(2026, 2, 1), datetime(2026, 2, 15, tzinfo=UTC))
    timeline = PlanTimeline(account, date(2026, 2, 1),
                            (PlanInterval("package", "starter", cycle.start),))
    values = {"package": {"contacts.peak": Decimal(100), "email.sent": Decimal(16_001)}}
    invoice = rate_cycle(book, timeline, cycle,
                         CycleAggregates(account, cycle, values, {})).invoice
    doc = invoice.to_json_dict()
    return {"record": "invoice", **doc, "type": "invoice.issued", "invoice_id": f"inv-{number}",
            "number": number, "series": "INV-2026"}
