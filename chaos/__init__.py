"""Fault scenarios against the real broker and chdb (`make chaos`, `python -m chaos`).

Each scenario sends a seeded workload whose ground truth is known, injects its faults
(kill -9 of a worker or of the broker, rebalances, retry storms, poison, late and future
events), drains the pipeline and checks everything ClickHouse holds against the truth:
lost, duplicated, rejected by reason, unexpected, and the counters against an oracle.
"""
