"""Alerts, decisions and invoices per account, in memory, from their Kafka topics.

One background thread (`api.topic_tail.TopicTail`) tails `metering.alerts`, `metering.decisions` and
`billing.invoices` from the beginning (no consumer group: every API process has its
own copy) and keeps, per account:
- the newest `keep` alerts and decisions, deduplicated by id (a replay after a crash
  publishes copies with the same id);
- every `invoice.issued` / `invoice.revised` document, by invoice id.
The API reads Kafka only: in embedded mode ClickHouse belongs to the sink process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import orjson
import structlog
from pydantic import BaseModel, ValidationError

from api.topic_tail import TopicTail
from schemas.records import Alert, Decision
from schemas.topics import Topics

log = structlog.get_logger(__name__)
INVOICE_TYPES = ("invoice.issued", "invoice.revised")


class _Latest:
    """The newest `keep` records per account, by id, in arrival order."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.by_account: dict[str, OrderedDict[str, BaseModel]] = {}

    def add(self, account: str, rid: str, record: BaseModel) -> None:
        kept = self.by_account.setdefault(account, OrderedDict())
        kept[rid] = record
        while len(kept) > self.keep:
            kept.popitem(last=False)

    def newest(self, account: str, limit: int) -> list[BaseModel]:
        kept = self.by_account.get(account)
        return [] if kept is None else list(reversed(kept.values()))[:limit]


class Feeds:
    def __init__(self, bootstrap: str, topics: Topics, keep: int = 100) -> None:
        self._bootstrap, self._topics = bootstrap, topics
        self._alerts, self._decisions = _Latest(keep), _Latest(keep)
        self._invoices: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._tail = TopicTail(bootstrap, [topics.alerts, topics.decisions, topics.invoices],
                               self.apply, name="api-feeds")

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    @property
    def topics(self) -> Topics:
        return self._topics

    # ---- reading ---------------------------------------------------------------------
    def alerts(self, account: str, limit: int) -> list[Alert]:
        with self._lock:
            return [a for a in self._alerts.newest(account, limit) if isinstance(a, Alert)]

    def decisions(self, account: str, limit: int) -> list[Decision]:
        with self._lock:
            return [d for d in self._decisions.newest(account, limit)
                    if isinstance(d, Decision)]

    def invoices(self, account: str) -> list[dict[str, Any]]:
        """The account's invoice documents, oldest first (revisions are their own)."""
        with self._lock:
            docs = list(self._invoices.get(account, {}).values())
        return sorted(docs, key=lambda d: (str(d.get("issued_at") or d.get("cycle_end")),
                                           str(d.get("number", ""))))

    # ---- applying records ------------------------------------------------------------
    def apply(self, topic: str, value: bytes | None) -> None:
        """One record of one of the tailed topics; a bad record is logged and skipped."""
        if value is None:
            return
        try:
            if topic == self._topics.alerts:
                alert = Alert.model_validate_json(value)
                with self._lock:
                    self._alerts.add(alert.account, alert.id, alert)
            elif topic == self._topics.decisions:
                decision = Decision.model_validate_json(value)
                with self._lock:
                    self._decisions.add(decision.account, decision.id, decision)
            elif topic == self._topics.invoices:
                doc = orjson.loads(value)
                if isinstance(doc, dict) and doc.get("type") in INVOICE_TYPES:
                    with self._lock:
                        self._invoices.setdefault(str(doc["account"]), {})[
                            str(doc["invoice_id"])] = doc
        except (ValidationError, orjson.JSONDecodeError, KeyError) as exc:
            log.warning("api.feeds.bad_record", topic=topic, error=repr(exc)[:300])

    # ---- the tail --------------------------------------------------------------------
    def start(self) -> Feeds:
        self._tail.start()
        return self

    def close(self) -> None:
        self._tail.close()
