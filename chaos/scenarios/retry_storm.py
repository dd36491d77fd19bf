"""4. Retry storm: 10% of the events sent again with the same id and bytes, some at once,
some thousands of records later, a tail at the very end: after a kill -9 and restart of
the worker and far beyond its in-memory dedup window (made small here), so that only
the usage log's deduplication by (source, id) can catch them."""

from __future__ import annotations

from chaos.flow import Context, Run, run_scenario
from chaos.generate import retry_storm
from chaos.result import Result
from chaos.sender import SendPolicy

TITLE = "retry storm: 10% re-sent with the same id, a tail after a restart"


def run(ctx: Context, result: Result) -> Result:
    truth, tail = retry_storm(result.seed, ctx.profile.size)
    result.planned_faults = 1
    result.notes.append(f"dedup window {ctx.profile.dedup_window} ids; tail of "
                        f"{len(truth.records) - tail} late copies after the restart")

    def faults(r: Run) -> None:
        r.wait_submitted(tail)
        r.pipeline.fault("worker kill -9 before the tail of copies", r.sender.submitted,
                         lambda: r.pipeline.kill_worker(mid_batch=False))

    return run_scenario(ctx, result, truth, faults,
                        policy=SendPolicy(rate=ctx.profile.fast_rate),
                        env={"METERING_DEDUP_WINDOW": str(ctx.profile.dedup_window)})
