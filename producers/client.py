"""HTTP client of the metering API for product services: send events, ask before sending,
read an account's usage, limits, alerts, decisions and invoices (api/README.md).

Every call carries the API key (`Authorization: Bearer <key>`); an error answer raises
`httpx.HTTPStatusError`, whose response body is `{"error", "reason", ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from schemas.envelope import CloudEvent

BATCH = "application/cloudevents-batch+json"


class MeteringClient:
    """`can_send` answers: {"action": allow|block|upgrade|flex, "allowed": bool, "reason",
    "plan", "target_plan", "limit", "used", "remaining", "cost", ...}."""

    def __init__(self, base_url: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, *,
                 api_key: str | None = None) -> None:
        headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport,
                                  headers=headers)

    def send_events(self, events: Iterable[CloudEvent | dict[str, Any]]) -> dict[str, Any]:
        """Ingest a batch (all or nothing); the answer comes after Kafka acknowledged
        every event: {"accepted": n, "events": [{"index", "id", "partition", "offset",
        ...}]}. Sending a batch again after an error is safe (deduplicated by id)."""
        docs = [e.model_dump(mode="json", exclude_none=True) if isinstance(e, CloudEvent)
                else e for e in events]
        r = self._http.post("/v1/events", content=json.dumps(docs).encode(),
                            headers={"Content-Type": BATCH})
        return _json(r)

    def can_send(self, account: str, product: str, count: int = 1) -> dict[str, Any]:
        return self._get(account, "can-send", product=product, count=count)

    def schedule_send(self, account: str, product: str, count: int, *,
                      send_id: str | None = None, wait: bool = True) -> dict[str, Any]:
        """Announce a send planned in this cycle; with `wait`, the answer once processed."""
        r = self._http.post(f"/v1/accounts/{_quote(account)}/scheduled-sends",
                            params={"wait": str(wait).lower()},
                            json={"product": product, "count": count, "id": send_id})
        return _json(r)

    def usage(self, account: str) -> dict[str, Any]:
        """The current cycle's meters against the plan's allotments."""
        return self._get(account, "usage")

    def limits(self, account: str) -> dict[str, Any]:
        return self._get(account, "limits")

    def alerts(self, account: str, limit: int = 100) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self._get(account, "alerts", limit=limit)["alerts"]
        return alerts

    def decisions(self, account: str, limit: int = 100) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get(account, "decisions", limit=limit)["decisions"]
        return found

    def invoices(self, account: str) -> list[dict[str, Any]]:
        invoices: list[dict[str, Any]] = self._get(account, "invoices")["invoices"]
        return invoices

    def close(self) -> None:
        self._http.close()

    def _get(self, account: str, what: str, **params: Any) -> dict[str, Any]:
        return _json(self._http.get(f"/v1/accounts/{_quote(account)}/{what}", params=params))


def _json(r: httpx.Response) -> dict[str, Any]:
    r.raise_for_status()
    result: dict[str, Any] = r.json()
    return result


def _quote(account: str) -> str:
    return quote(account, safe="")
