"""Poison records the shared generator (testkit/bad_records.py) does not make:
non-finite quantities written as Infinity / -Infinity, and records of more than 1 MB.

Every kind of the poison scenario and the reason it must be rejected with is in `KINDS`.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from testkit.bad_records import BAD_REASONS
from testkit.records import Record, as_bytes, event_doc

OVERSIZE_BYTES = 1_000_000 + 4_096
"""More than the pipeline's 1 MB limit per event (and less than the broker's 2 MB)."""

EXTRA_KINDS = {"infinity": "non_finite_quantity", "over_1mb": "too_large"}
"""Kind -> the rejection reason it must get."""

KINDS: dict[str, str] = {**{r: r for r in BAD_REASONS}, **EXTRA_KINDS}
"""Every poison kind (the shared generator's reasons are their own kind) -> reason."""

_OVERSIZE: bytes | None = None


def _oversize_value() -> bytes:
    """One shared payload: thousands of 1 MB records must not cost gigabytes of memory
    (rejections are matched by position, so identical bytes are fine)."""
    global _OVERSIZE
    if _OVERSIZE is None:
        doc = event_doc("email.sent", "oversize", datetime(2026, 1, 1), {"count": 1},
                        "oversize", source="urn:test:bad")
        doc["data"]["padding"] = ""
        pad = OVERSIZE_BYTES - len(as_bytes(doc))
        doc["data"]["padding"] = "x" * pad
        _OVERSIZE = as_bytes(doc)
    return _OVERSIZE


def extra_record(kind: str, account: str, t: datetime, eid: str,
                 rng: random.Random) -> Record:
    """A record of one of EXTRA_KINDS for `account` at event time `t`, sent 5 s later."""
    arrival = t + timedelta(seconds=5)
    if kind == "infinity":
        doc = event_doc("bandwidth.used", account, t,
                        {"bytes": rng.choice([float("inf"), float("-inf")]),
                         "kind": "transfer"}, eid, source="urn:test:bad")
        value = json.dumps(doc).encode()  # json.dumps writes Infinity, as a careless one would
    elif kind == "over_1mb":
        value = _oversize_value()
    else:
        raise ValueError(kind)
    return Record(account.encode(), value, arrival, EXTRA_KINDS[kind])
