"""kill -9 of workers (and the sink) mid-run: nothing lost, nothing counted twice."""

from __future__ import annotations

import signal
import time
from datetime import date

import pytest

from testkit.pipeline import Pipeline
from testkit.produce import produce
from testkit.workload import generate
from tests.integration.test_end_to_end import assert_matches_oracle

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _processed(p: Pipeline) -> int:
    return sum(p.committed(p.processor_id, p.topics.events).values())


def _wait_progress(p: Pipeline, target: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while _processed(p) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"processor stuck below {target}")
        time.sleep(0.2)


def test_kill_9_worker_twice_sigterm_once_and_sink_once(pipeline: Pipeline) -> None:
    w = generate(seed=11, accounts=200, events_per_account=500, start=date(2026, 6, 1))
    assert len(w.good) >= 100_000
    pipeline.start_sink()
    worker = pipeline.start_worker()
    placed = produce(pipeline.bootstrap, pipeline.prefix, w.records)
    total = len(w.records)
    kills = 0
    for fraction, how in ((0.25, "kill -9"), (0.45, "SIGTERM"), (0.6, "kill -9")):
        _wait_progress(pipeline, int(total * fraction))
        if how == "kill -9":
            pipeline.kill_worker(worker)
            kills += 1
        else:  # a graceful stop in the middle of a batch: the batch must end first
            worker.send_signal(signal.SIGTERM)
            worker.wait(120)
        worker = pipeline.start_worker()
    _wait_progress(pipeline, int(total * 0.8))
    assert pipeline.sink is not None
    pipeline.kill_worker(pipeline.sink)  # kill -9 the ClickHouse owner mid-write
    pipeline.start_sink()
    pipeline.wait_caught_up(timeout=600)
    assert kills == 2
    assert_matches_oracle(pipeline, w, placed)
