"""1. kill -9 of the worker at random moments of a long run, every other one while it is
writing a batch (its output topic growing); it is started again at once."""

from __future__ import annotations

from functools import partial

from chaos.flow import Context, Run, run_scenario
from chaos.generate import base
from chaos.result import Result
from chaos.sender import SendPolicy

TITLE = "worker kill -9 at random moments (half of them mid-batch write)"


def run(ctx: Context, result: Result) -> Result:
    truth = base(result.seed, ctx.profile.size)
    result.planned_faults = ctx.profile.worker_kills

    def faults(r: Run) -> None:
        for n, at in enumerate(r.fractions(ctx.profile.worker_kills)):
            r.wait_submitted(at)
            r.pipeline.fault("worker kill -9", r.sender.submitted,
                             partial(r.pipeline.kill_worker, mid_batch=n % 2 == 0))

    return run_scenario(ctx, result, truth, faults,
                        policy=SendPolicy(rate=ctx.profile.kill_rate))
