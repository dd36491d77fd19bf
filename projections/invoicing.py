"""Invoice identity, series and the candidate records the projector proposes. Pure.

Identity (what makes "exactly one invoice per (account, cycle, revision)" checkable):
- a cycle invoice: (account, period start, period end, revision);
- an immediate invoice (flex, upgrade difference, seat proration, a first fee): (account,
  issue time, period, its lines' kinds and products);
- a plan change: (account, product, effective time, target plan).
Ids are uuid5 of that identity, so two projector runs, a crash and a re-run, or two
instances that both believe they lead propose the same id; the ledger numbers an id once.
Series: `INV-<year of issue>` for invoices (revision 0), `REV-<year>` for revisions;
numbers are `<series>-<6 digits>`, consecutive in the order the ledger first sees ids.
"""

from __future__ import annotations

import uuid
from typing import Any

NAMESPACE = uuid.UUID("0b3f5a4e-2f6c-4b7e-9a51-6d2c8e4f7a90")
PROJECTOR_SOURCE = "metering/projector"
"""The source of the account events the ledger writes back to the log: rating skips it."""
Record = dict[str, Any]


def invoice_id(record: Record) -> str:
    parts = [record["account"], record["kind"], record["cycle_start"], record["cycle_end"],
             str(record.get("revision", 0))]
    if record["kind"] == "immediate":
        parts += [record.get("issued_at") or "",
                  ",".join(f"{ln['kind']}:{ln['product']}" for ln in record["lines"])]
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def plan_change_id(record: Record) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(
        ["plan", record["account"], record["product"], record["effective"],
         record["to_plan"]])))


def series_of(record: Record) -> str:
    issued = str(record.get("issued_at") or record["cycle_end"])
    return f"{'INV' if int(record.get('revision', 0)) == 0 else 'REV'}-{issued[:4]}"


def number_of(series: str, seq: int) -> str:
    return f"{series}-{seq:06d}"


def candidates(records: list[Record]) -> list[Record]:
    """Invoice and plan-change records of a rating, with ids (limit decisions are the
    stream's; they are not re-proposed)."""
    out = []
    for r in records:
        if r["record"] == "invoice":
            out.append({**r, "invoice_id": invoice_id(r), "series": series_of(r)})
        elif r["record"] == "plan_change":
            out.append({**r, "id": plan_change_id(r)})
    return out


def plan_change_event(change: Record) -> Record:
    """A recorded plan change as the account event the stream applies (CloudEvents)."""
    return {"specversion": "1.0", "id": change["id"], "source": PROJECTOR_SOURCE,
            "type": "account.plan_change_requested", "subject": change["account"],
            "time": change["effective"],
            "data": {"product": change["product"], "plan": change["to_plan"],
                     "effective": "now"}}
