"""The scenarios, in report order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chaos.flow import Context
from chaos.result import Placeholder, Result
from chaos.scenarios import (
    broker_restart,
    cluster_leader_kill,
    cluster_rolling,
    late_future,
    poison,
    projector,
    rebalance,
    retry_storm,
    worker_kill,
)


@dataclass(frozen=True)
class Scenario:
    number: int
    name: str
    title: str
    run: Callable[[Context, Result], Result] | None = None
    elsewhere: str = ""

    def execute(self, ctx: Context) -> Result | Placeholder:
        if self.run is None:
            return Placeholder(self.name, self.number, self.title, self.elsewhere)
        result = Result(self.name, self.number, self.title, ctx.profile.name,
                        seed=ctx.seed * 100 + self.number)
        return self.run(ctx, result)


SCENARIOS = [
    Scenario(1, "worker_kill", worker_kill.TITLE, worker_kill.run),
    Scenario(2, "broker_restart", broker_restart.TITLE, broker_restart.run),
    Scenario(3, "rebalance", rebalance.TITLE, rebalance.run),
    Scenario(4, "retry_storm", retry_storm.TITLE, retry_storm.run),
    Scenario(5, "poison", poison.TITLE, poison.run),
    Scenario(6, "late_future", late_future.TITLE, late_future.run),
    Scenario(7, "projector", projector.TITLE, projector.run),
    Scenario(8, "cluster_leader_kill", cluster_leader_kill.TITLE, cluster_leader_kill.run),
    Scenario(9, "cluster_rolling", cluster_rolling.TITLE, cluster_rolling.run),
]

BY_NAME = {s.name: s for s in SCENARIOS}
