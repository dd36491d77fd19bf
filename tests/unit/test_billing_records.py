"""Typed billing records (issue 15, item 5): what the rater, the projector and the ledger
emit matches the exported JSON Schemas, and the ledger refuses, with a reason, what does
not.

The oracle is the committed `schemas/json/billing.*.v1.json` files read by the
`jsonschema` library (not pydantic): the records of every example log of pricing/examples
rated as `metering rate` rates them, their candidates, and a published document of each.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import orjson
import pytest
from pydantic import ValidationError

from pricing.pricebook_loader import load_pricebook
from projections.billing_app import _candidate
from projections.invoicing import candidates
from projections.offline_log import read_log
from projections.offline_rating import MemorySource, rate_log
from projections.rerating import rerate
from schemas.billing import CANDIDATE, RATING_RECORD

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "json"
EXAMPLES = [("carts_peak.jsonl", "peak_carts", "2025-04-11T00:00:00Z"),
            ("flex_1000.jsonl", "marketing_tiers", "2025-05-02T00:00:00Z"),
            ("seasonal_window.jsonl", "seats_storage", "2025-05-01T00:00:00Z"),
            ("seat_annual_term.jsonl", "seats_storage", "2026-03-01T00:00:00Z"),
            ("seat_plan_change.jsonl", "seats_storage", "2025-05-01T00:00:00Z"),
            ("seat_proration.jsonl", "seats_storage", "2025-04-01T00:00:00Z"),
            ("storage_overage.jsonl", "seats_storage", "2025-04-02T00:00:00Z")]
RECORD_SCHEMA = {"invoice": "billing.invoice", "plan_change": "billing.plan_change",
                 "limit_decision": "billing.limit_decision"}
CANDIDATE_SCHEMA = {"invoice": "billing.invoice_candidate",
                    "plan_change": "billing.plan_change_candidate"}


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.v1.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _rated(example: str, book_name: str, until: str) -> list[dict[str, Any]]:
    book = load_pricebook(book_name)
    lines = (ROOT / "pricing" / "examples" / example).read_bytes().splitlines()
    aggregator, _ = read_log(lines, book, fallback=datetime.fromisoformat(until))
    records, _ = rate_log(book, aggregator, datetime.fromisoformat(until))
    return records


@pytest.mark.parametrize(("example", "book", "until"), EXAMPLES)
def test_rated_records_and_candidates_match_the_exported_schemas(example: str, book: str,
                                                                 until: str) -> None:
    records = _rated(example, book, until)
    assert records
    for record in records:
        _validator(RECORD_SCHEMA[record["record"]]).validate(record)
    proposed = candidates(records)
    assert {c["record"] for c in proposed} >= {"invoice"}
    for number, candidate in enumerate(proposed, start=1):
        _validator(CANDIDATE_SCHEMA[candidate["record"]]).validate(candidate)
        if candidate["record"] == "invoice":
            kind = "invoice.issued" if candidate["revision"] == 0 else "invoice.revised"
            published = {**candidate, "type": kind,
                         "number": f"{candidate['series']}-{number:06d}"}
            _validator("billing.invoice_document").validate(published)
            stored = {k: v for k, v in published.items() if k != "type"}  # invoices.doc
            _validator("billing.numbered_invoice").validate(stored)
        else:
            _validator("billing.plan_changed_document").validate(
                {**candidate, "type": "plan.changed"})


def _an_invoice() -> dict[str, Any]:
    records = _rated(*EXAMPLES[1])
    return next(c for c in candidates(records) if c["record"] == "invoice")


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(total=7000.0),  # a float amount: money travels as text
    lambda d: d.update(cycle_start="2025-03-01"),  # not a time
    lambda d: d.pop("cycle_end"),
    lambda d: d.update(period_start=d["cycle_start"]),  # the other name: one naming only
    lambda d: d["lines"][0].update(amount="ten"),
    lambda d: d["lines"][0].update(kind="discount"),
    lambda d: d.update(revision=-1),
    lambda d: d.update(series="X-2025"),
])
def test_a_record_off_the_contract_is_refused_by_both(mutate: Any) -> None:
    doc = json.loads(json.dumps(_an_invoice()))
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        _validator("billing.invoice_candidate").validate(doc)
    with pytest.raises(ValidationError):
        CANDIDATE.validate_python(doc)


def test_the_ledger_refuses_a_bad_candidate_with_a_reason() -> None:
    """Logged and counted, never numbered; a good one passes as it came."""
    good = _an_invoice()
    assert _candidate(SimpleNamespace(value=orjson.dumps(good), offset=1)) == good
    assert _candidate(SimpleNamespace(value=b"not json", offset=2)) is None
    bad = {**good, "lines": "none"}
    assert _candidate(SimpleNamespace(value=orjson.dumps(bad), offset=3)) is None


def test_rating_records_of_each_kind_are_typed() -> None:
    kinds = {RATING_RECORD.validate_python(r).record
             for example in EXAMPLES for r in _rated(*example)}
    assert kinds == {"invoice", "plan_change", "limit_decision"}


def test_a_revision_matches_its_exported_schema() -> None:
    """`metering rerate`'s revision of a cycle invoice issued with a wrong amount: the
    difference as lines, the re-rated invoice, the totals and the id it replaces."""
    example, book_name, until = EXAMPLES[1]
    book = load_pricebook(book_name)
    lines = (ROOT / "pricing" / "examples" / example).read_bytes().splitlines()
    aggregator, _ = read_log(lines, book, fallback=datetime.fromisoformat(until))
    records, _ = rate_log(book, aggregator, datetime.fromisoformat(until))
    issued = {c["invoice_id"]: json.loads(json.dumps(c)) for c in candidates(records)}
    wrong = next(c for c in issued.values() if c["kind"] == "cycle")
    wrong["lines"][0]["amount"], wrong["total"] = "1.00", "1.00"
    result = rerate(MemorySource(aggregator), issued, {book.name: book}, book.name,
                    datetime.fromisoformat(until))
    revision, = result.revisions
    assert revision["replaces"] == wrong["invoice_id"] and revision["revision"] == 1
    for name in ("billing.invoice_revision", "billing.invoice_candidate"):
        _validator(name).validate(revision)
    _validator("billing.invoice_document").validate(
        {**revision, "type": "invoice.revised", "number": f"{revision['series']}-000001"})
    with pytest.raises(jsonschema.ValidationError):  # an original is no revision
        _validator("billing.invoice_revision").validate(wrong)
