"""3. Rebalance churn: a second worker joins the group and leaves it again (SIGTERM, a
graceful leave) many times while the generator sends; every join and every leave moves
partitions between the two workers mid-stream."""

from __future__ import annotations

import time
from functools import partial

from chaos.flow import Context, Run, run_scenario
from chaos.generate import base
from chaos.result import Result
from chaos.sender import SendPolicy

TITLE = "rebalance churn: a second worker joins and leaves"


def run(ctx: Context, result: Result) -> Result:
    truth = base(result.seed, ctx.profile.size)
    result.planned_faults = 2 * ctx.profile.churn

    def faults(r: Run) -> None:
        n = ctx.profile.churn
        total = len(r.sender.records)
        for k in range(n):
            r.wait_submitted(int(total * (0.05 + 0.85 * k / n)))
            r.pipeline.fault("second worker joins", r.sender.submitted, partial(_join, r))
            r.wait_submitted(int(total * (0.05 + 0.85 * (k + 0.5) / n)))
            r.pipeline.fault("second worker leaves", r.sender.submitted, partial(_leave, r))

    return run_scenario(ctx, result, truth, faults,
                        policy=SendPolicy(rate=ctx.profile.churn_rate))


def _join(r: Run) -> str:
    return f"in the group {r.pipeline.add_worker():.1f}s after its start"


def _leave(r: Run) -> str:
    t0 = time.monotonic()
    for proc in list(r.pipeline.extra):
        r.pipeline.remove_worker(proc)
    return f"SIGTERM, exited in {time.monotonic() - t0:.1f}s"
