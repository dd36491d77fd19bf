"""5. Poison: 1% bad records of every kind (bad JSON, non-UTF-8, unknown type, missing or
unknown account, negative, NaN, Infinity, too large a quantity, over 1 MB, bad envelope
or data, key mismatch, future, too late) among good ones. No partition may stall, and
each bad record must be rejected with its expected reason at its position."""

from __future__ import annotations

from chaos.flow import Context, Run, run_scenario
from chaos.generate import poison
from chaos.result import Result
from chaos.sender import SendPolicy

TITLE = "poison: 1% bad records of every kind"
STALL_LIMIT_S = 30.0
"""No partition of the events topic may wait longer than this with records pending."""


def run(ctx: Context, result: Result) -> Result:
    truth = poison(result.seed, ctx.profile.size)

    def faults(r: Run) -> None:
        return None

    run_scenario(ctx, result, truth, faults,
                        policy=SendPolicy(rate=ctx.profile.fast_rate))
    if result.max_stall_s > STALL_LIMIT_S and result.error is None:
        result.error = (f"a partition stalled {result.max_stall_s}s "
                        f"(limit {STALL_LIMIT_S}s)")
    return result
