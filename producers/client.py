"""HTTP client of the metering API for product services: ask before sending."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class MeteringClient:
    """`can_send` answers: {"action": allow|block|upgrade|flex, "allowed": bool, "reason",
    "plan", "target_plan", "limit", "used", "remaining", "cost", ...}."""

    def __init__(self, base_url: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def can_send(self, account: str, product: str, count: int = 1) -> dict[str, Any]:
        r = self._http.get(f"/v1/accounts/{_quote(account)}/can-send",
                           params={"product": product, "count": count})
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def schedule_send(self, account: str, product: str, count: int, *,
                      send_id: str | None = None, wait: bool = True) -> dict[str, Any]:
        """Announce a send planned in this cycle; with `wait`, the answer once processed."""
        r = self._http.post(f"/v1/accounts/{_quote(account)}/scheduled-sends",
                            params={"wait": str(wait).lower()},
                            json={"product": product, "count": count, "id": send_id})
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def close(self) -> None:
        self._http.close()


def _quote(account: str) -> str:
    return quote(account, safe="")
