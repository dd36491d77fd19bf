"""2. kill -9 of the broker while the generator sends, then a restart on the same data
(twice). The generator's producer gives up on a send after a short delivery timeout and
the generator sends the record again (up to 5 attempts): an attempt that failed may still
be in the log, so the retried events test the deduplication; acknowledged events must be
there exactly once, and events no attempt got acknowledged may be absent (not lost).
If the producer stops answering altogether (kafka-python's idempotent producer does after
a broker kill -9), the generator replaces it (see chaos/sender.py) and counts it.
This scenario starts a broker of its own (the shared one keeps serving the others)."""

from __future__ import annotations

import time

from chaos.broker import own_broker
from chaos.flow import Context, Run, run_scenario
from chaos.generate import good_only
from chaos.result import Result
from chaos.sender import through_broker_faults

TITLE = "broker kill -9 and restart while producing (producer retries)"


def run(ctx: Context, result: Result) -> Result:
    truth = good_only(result.seed, ctx.profile.size)
    result.planned_faults = ctx.profile.broker_restarts
    policy = through_broker_faults(ctx.profile.rate)
    low, high = ctx.profile.broker_down_s

    with own_broker(ctx.workdir / "broker-restart-kafka") as broker:

        def faults(r: Run) -> None:
            for at in r.fractions(ctx.profile.broker_restarts, 0.2, 0.8):
                r.wait_acknowledged(at)  # while producing: not before it delivers again

                def inject() -> str:
                    down = r.rng.uniform(low, high)
                    broker.kill()
                    time.sleep(down)
                    up = broker.restart()
                    return f"down {down:.1f}s, restart took {up:.1f}s"

                r.pipeline.fault("broker kill -9 + restart", r.sender.submitted, inject)

        return run_scenario(ctx, result, truth, faults, policy=policy, broker=broker)
