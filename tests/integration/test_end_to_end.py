"""Producer -> real Kafka -> faust workers -> real chdb, checked against an oracle."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from projections import queries
from testkit.pipeline import Pipeline
from testkit.produce import produce
from testkit.workload import BAD_REASONS, Workload, generate

pytestmark = pytest.mark.integration


def assert_matches_oracle(p: Pipeline, w: Workload, placed: list[tuple[int, int]]) -> None:
    client = p.clickhouse()
    db = p.ch.database
    # nothing lost, nothing twice: the usage log holds exactly the good events
    accepted = queries.accepted_keys(db).rows(client)
    assert len(accepted) == len(set(accepted)), "an event is in the usage log twice"
    assert {(s, i) for _, s, i in accepted} == set(w.good), "accepted set differs from oracle"
    # every bad record rejected, with its reason, at its offset; no good one rejected
    expected = {placed[n]: r.expect for n, r in enumerate(w.records)
                if r.expect not in ("accept", "duplicate")}
    got = {(p_, o): reason for p_, o, reason in queries.rejections(db).rows(client)}
    assert got == expected
    assert len(accepted) + len(got) == len(w.good) + len(expected)
    # counters and peaks equal the oracle's
    counters = {(a, c.replace(tzinfo=None), m): Decimal(v)
                for a, c, m, v, _ in queries.counters(db).rows(client)}
    oracle = {(a, c.replace(tzinfo=None), m): v for (a, c, m), v in w.counters().items()
              if v != 0 or m == "email.sent"}
    assert {k: v for k, v in counters.items() if v != 0 or k[2] == "email.sent"} == oracle
    peaks = {(a, c.replace(tzinfo=None), m): (Decimal(op), Decimal(pk), Decimal(end))
             for a, c, m, op, pk, end in queries.peaks(db).rows(client)}
    assert peaks == {(a, c.replace(tzinfo=None), m): v for (a, c, m), v in w.peaks().items()}
    client.close()


def test_end_to_end_exact_with_duplicates_reordering_and_bad_input(pipeline: Pipeline) -> None:
    w = generate(seed=7, accounts=60, events_per_account=60, start=date(2026, 7, 1))
    kinds = Counter(r.expect for r in w.records)
    assert kinds["duplicate"] >= 0.08 * len(w.good)
    assert all(kinds[reason] >= 1 for reason in BAD_REASONS)
    pipeline.start_sink()
    pipeline.start_worker()
    placed = produce(pipeline.bootstrap, pipeline.prefix, w.records)
    pipeline.wait_caught_up(timeout=240)
    assert_matches_oracle(pipeline, w, placed)
