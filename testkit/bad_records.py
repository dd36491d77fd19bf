"""Bad input records of every rejection reason, for the workload generator."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from testkit.records import Record, as_bytes, event_doc

BAD_REASONS = [
    "malformed_json", "not_utf8", "unknown_type", "missing_account", "unknown_account",
    "negative_quantity", "non_finite_quantity", "quantity_too_large", "future_timestamp",
    "too_late", "invalid_data", "invalid_envelope", "key_mismatch",
]


def bad_record(reason: str, account: str, t: datetime, c1_end: datetime, eid: str,
         rng: random.Random) -> Record:
    key: bytes | None = account.encode()
    arrival = t + timedelta(seconds=5)
    doc = event_doc("email.sent", account, t, {"count": 2}, eid, source="urn:test:bad")
    value: bytes
    if reason == "malformed_json":
        value = as_bytes(doc)[:-7]
    elif reason == "not_utf8":
        value = b'{"specversion": "1.0", "id": "\xff\xfe\xfd"}'
    elif reason == "unknown_type":
        doc["type"] = "teleport.used"
        value = as_bytes(doc)
    elif reason == "missing_account":
        del doc["subject"]
        key = None
        value = as_bytes(doc)
    elif reason == "unknown_account":
        doc["subject"] = f"ghost-{eid}"
        key = doc["subject"].encode()
        value = as_bytes(doc)
    elif reason == "negative_quantity":
        doc["data"] = {"count": -rng.randint(1, 9)}
        value = as_bytes(doc)
    elif reason == "non_finite_quantity":
        doc["type"], doc["data"] = "bandwidth.used", {"bytes": float("nan"), "kind": "hosting"}
        value = json.dumps(doc).encode()  # json.dumps writes NaN, as a careless producer would
    elif reason == "quantity_too_large":
        doc["type"], doc["data"] = "bandwidth.used", {"bytes": 10**18, "kind": "hosting"}
        value = as_bytes(doc)
    elif reason == "future_timestamp":
        doc["time"] = (arrival + timedelta(hours=2)).isoformat()
        value = as_bytes(doc)
    elif reason == "too_late":
        arrival = c1_end + timedelta(hours=25)
        value = as_bytes(doc)
    elif reason == "invalid_data":
        doc["type"], doc["data"] = "cart.activated", {"category": "standard"}
        value = as_bytes(doc)
    elif reason == "invalid_envelope":
        doc["specversion"] = "0.3"
        value = as_bytes(doc)
    elif reason == "key_mismatch":
        key = b"someone-else"
        value = as_bytes(doc)
    else:
        raise ValueError(reason)
    return Record(key, value, arrival, reason)
