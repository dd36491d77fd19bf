"""How a validation failure is told: `field.path: why` per error (rejection details, the
ledger's log, the API's and CLI's refusals of an off-contract record)."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError, limit: int = 5) -> str:
    """The first `limit` errors as `field.path: why`, `; `-separated (`<root>`: the
    record itself)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
