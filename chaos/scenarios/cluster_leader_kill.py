"""8. On a three-broker cluster (topics replicated 3 times, 2 in sync): kill -9 of the
broker that leads the most partitions of the pipeline's topics while the generator sends
and the worker and the sink run; it stays dead a few seconds (the others take over the
leadership) and is started again on its data. Acknowledged events must be in ClickHouse
exactly once: an acknowledged write is on two brokers, so no leader's death loses it.
Recovery: from the kill until everything sent by its restart is processed and written."""

from __future__ import annotations

import time

from chaos.broker import own_cluster
from chaos.flow import Context, Run, run_scenario
from chaos.generate import good_only
from chaos.result import Result
from chaos.sender import through_broker_faults

TITLE = "three brokers: kill -9 of the busiest leader while producing, then a restart"


def run(ctx: Context, result: Result) -> Result:
    truth = good_only(result.seed, ctx.profile.size)
    result.planned_faults = ctx.profile.cluster_kills
    policy = through_broker_faults(ctx.profile.rate)
    low, high = ctx.profile.broker_down_s

    with own_cluster(ctx.workdir / "cluster-kill-kafka") as cluster:

        def faults(r: Run) -> None:
            for at in r.fractions(ctx.profile.cluster_kills, 0.2, 0.8):
                r.wait_acknowledged(at)

                def inject() -> str:
                    leads = cluster.leaders(r.pipeline.prefix)
                    node = max(leads, key=lambda n: (leads[n], -n))
                    down = r.rng.uniform(low, high)
                    cluster.kill_node(node)
                    time.sleep(down)
                    up = cluster.restart_node(node)
                    return (f"node {node} (leader of {leads[node]} of "
                            f"{sum(leads.values())} partitions) down {down:.1f}s, "
                            f"restart took {up:.1f}s")

                r.pipeline.fault("leader broker kill -9 + restart", r.sender.submitted, inject)
                cluster.wait_replicated(r.pipeline.prefix, ctx.profile.timeout_s)

        return run_scenario(ctx, result, truth, faults, policy=policy, broker=cluster)
