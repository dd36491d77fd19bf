"""9. On a three-broker cluster: a rolling restart of all three brokers while the
generator sends, as an operator upgrades them: each is stopped (SIGTERM), started again,
and the next one waits until every replica is back in sync (else two could be out at
once). Nothing acknowledged may be lost or doubled; recovery is timed per broker."""

from __future__ import annotations

from chaos.broker import own_cluster
from chaos.flow import Context, Run, run_scenario
from chaos.generate import good_only
from chaos.result import Result
from chaos.sender import through_broker_faults

TITLE = "three brokers: a rolling restart of all three while producing"


def run(ctx: Context, result: Result) -> Result:
    truth = good_only(result.seed, ctx.profile.size)
    result.planned_faults = 3
    policy = through_broker_faults(ctx.profile.rate)

    with own_cluster(ctx.workdir / "cluster-rolling-kafka") as cluster:

        def faults(r: Run) -> None:
            for node, at in zip((1, 2, 3), r.fractions(3, 0.15, 0.85), strict=True):
                r.wait_acknowledged(at)

                def inject(node: int = node) -> str:
                    cluster.stop_node(node)
                    up = cluster.restart_node(node)
                    return f"node {node} stopped and started again in {up:.1f}s"

                r.pipeline.fault("rolling restart", r.sender.submitted, inject)
                synced = cluster.wait_replicated(r.pipeline.prefix, ctx.profile.timeout_s)
                r.pipeline.faults[-1].detail += f"; replicas in sync {synced:.1f}s later"

        return run_scenario(ctx, result, truth, faults, policy=policy, broker=cluster)
