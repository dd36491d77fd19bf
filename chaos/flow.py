"""The course of every scenario: start the pipeline, send the truth's records at the
profile's rate while the scenario injects its faults, drain, stop the sink, check."""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from chaos.broker import Broker
from chaos.check import check
from chaos.harness import ChaosPipeline
from chaos.profile import Profile
from chaos.result import Result
from chaos.sender import Sender, SendPolicy
from chaos.truth import Truth

log = structlog.get_logger(__name__)

JOIN_S = 20.0
"""At most this long for the first worker and the sink to join before sending starts."""


@dataclass
class Context:
    profile: Profile
    seed: int
    workdir: Path
    broker: Broker
    """The shared broker (a scenario that kills its broker starts its own)."""
    keep: bool = False
    """Keep each scenario's directory (chdb, logs, ground truth) even when it passed."""


@dataclass
class Run:
    """What a scenario's fault script gets: the pipeline, the sender and a seeded rng."""

    pipeline: ChaosPipeline
    sender: Sender
    rng: random.Random
    timeout_s: float

    def wait_submitted(self, n: int) -> None:
        """Wait (supervising) until the sender handed `n` records to the producer."""
        deadline = time.monotonic() + self.timeout_s
        while self.sender.submitted < n and not self.sender.done.is_set():
            self.pipeline.supervise()
            if time.monotonic() > deadline:
                raise TimeoutError(f"sender stuck at {self.sender.submitted} of {n}")
            time.sleep(0.05)

    def wait_acknowledged(self, n: int) -> None:
        """Wait (supervising) until `n` records have been acknowledged by Kafka."""
        deadline = time.monotonic() + self.timeout_s
        while self.sender.acknowledged < n and not self.sender.done.is_set():
            self.pipeline.supervise()
            if time.monotonic() > deadline:
                raise TimeoutError(f"sender stuck at {self.sender.acknowledged} "
                                   f"acknowledged of {n}")
            time.sleep(0.05)

    def fractions(self, n: int, low: float = 0.1, high: float = 0.85) -> list[int]:
        """`n` random moments of the send, as record counts, at least 4% apart."""
        total = len(self.sender.records)
        points: list[float] = []
        while len(points) < n:
            x = self.rng.uniform(low, high)
            if all(abs(x - p) >= 0.04 for p in points) or len(points) * 0.04 > high - low:
                points.append(x)
        return [int(total * p) for p in sorted(points)]


FaultScript = Callable[[Run], None]


def run_scenario(ctx: Context, result: Result, truth: Truth, faults: FaultScript, *,
                 policy: SendPolicy | None = None, env: dict[str, str] | None = None,
                 broker: Broker | None = None) -> Result:
    """Send `truth` through a fresh pipeline while `faults` runs; fill `result`."""
    started = time.monotonic()
    workdir = ctx.workdir / result.scenario
    if workdir.exists():
        shutil.rmtree(workdir)
    result.workdir = str(workdir)
    result.labels = truth.label_counts()
    cp = ChaosPipeline(broker or ctx.broker, workdir, env or {},
                       recovery_timeout_s=ctx.profile.timeout_s)
    sender = Sender(cp.pipeline.bootstrap, cp.prefix, truth.records,
                    policy or SendPolicy(rate=ctx.profile.rate))
    try:
        cp.start()
        cp.wait_joined(JOIN_S)
        cp.t0 = time.monotonic()
        sender.start()
        run = Run(cp, sender, random.Random(result.seed), ctx.profile.timeout_s)
        faults(run)
        run.wait_submitted(len(truth.records))
        while not sender.done.wait(0.25):
            cp.supervise()
        if sender.error is not None:
            raise RuntimeError(f"sender failed: {sender.error!r}")
        result.drain_s = round(cp.drain(ctx.profile.timeout_s), 2)
        log.info("chaos.drained", scenario=result.scenario, seconds=result.drain_s)
        client = cp.clickhouse()
        try:
            result.check = check(client, cp.pipeline.ch.database, truth, sender.deliveries)
        finally:
            client.close()
    except Exception as exc:  # reported as the scenario's failure, with the trace in the log
        log.exception("chaos.scenario_error", scenario=result.scenario)
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        sender.abort.set()
        result.faults, result.exits = cp.faults, cp.exits
        result.max_stall_s = round(cp.max_stall_s, 2)
        result.producer_resets = sender.producer_resets
        cp.stop()
        truth.write_jsonl(workdir / "ground_truth.jsonl", sender.deliveries)
        result.duration_s = round(time.monotonic() - started, 1)
    if result.passed and not ctx.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result
