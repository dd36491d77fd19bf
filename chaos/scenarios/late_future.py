"""6. Late and future events, on record time (the Kafka timestamp is "now" for the
pipeline, so a replay decides the same): events of a closed cycle received inside the
allowed lateness (accepted) and after it (too_late), events more than 5 minutes ahead of
their receipt (future_timestamp), and the exact edges: the last second before the close
and the close itself, exactly 300 s ahead and 301 s."""

from __future__ import annotations

from chaos.flow import Context, Run, run_scenario
from chaos.generate import late_future
from chaos.result import Result
from chaos.sender import SendPolicy

TITLE = "late and future events, edges included"


def run(ctx: Context, result: Result) -> Result:
    truth = late_future(result.seed, ctx.profile.size)

    def faults(r: Run) -> None:
        return None

    return run_scenario(ctx, result, truth, faults,
                        policy=SendPolicy(rate=ctx.profile.fast_rate))
