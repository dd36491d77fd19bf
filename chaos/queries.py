"""The checker's read queries beyond projections.queries (which it uses for the accepted
keys, the rejections, counters and peaks). Only the database name is formatted in."""

from __future__ import annotations

from projections.queries import Query


def raw_copies(db: str) -> Query:
    """Physical usage_log rows beyond one per event: copies the deduplication absorbs
    (those a background merge has not collapsed yet)."""
    return Query(f"SELECT count() - uniqExact(account, source, id) FROM {db}.usage_log")


def rejected_copies(db: str) -> Query:
    """Rejected records that are copies of an accepted event (e.g. a retry that arrived
    after its cycle closed), by reason; the `rejections` view leaves them out."""
    return Query(
        f"SELECT reason, count() FROM {db}.rejected_events FINAL WHERE id != '' AND "
        f"(account, source, id) IN (SELECT account, source, id FROM {db}.usage_log FINAL) "
        "GROUP BY reason ORDER BY reason")


def invoice_rows(db: str) -> Query:
    """(invoice_id, number, doc) of every stored invoice row: no FINAL, a copy counts."""
    return Query(f"SELECT invoice_id, number, doc FROM {db}.invoices")
