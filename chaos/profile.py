"""How big and how long: the full run (`make chaos`) and the short one (CI, a few minutes
for every scenario together on 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.generate import Size


@dataclass(frozen=True)
class Profile:
    name: str
    size: Size
    """Accounts x usage events per account of each scenario's workload."""
    rate: float
    """Records per second the generator sends (faults happen while it does)."""
    kill_rate: float
    """The send rate of the worker-kill scenario (each kill costs the worker's session
    timeout: the send lasts long enough for all of them to hit while it runs)."""
    worker_kills: int
    broker_restarts: int
    churn: int
    """Times a second worker joins and leaves."""
    fast_rate: float
    """The send rate of the scenarios whose faults are in the data (retry storm, poison,
    late and future)."""
    churn_rate: float
    """The send rate of the churn scenario (its joins and leaves take longer)."""
    dedup_window: int
    """The worker's in-memory dedup window in the retry storm (the tail is beyond it)."""
    broker_down_s: tuple[float, float]
    """How long the broker stays dead before it is started again (uniform range)."""
    timeout_s: float
    """Per wait for a recovery or the final drain."""
    projector_kills: int = 2
    """Waves of accounts in scenario 7, each ending with a kill -9 of the sink mid-close."""
    projector_accounts: int = 20
    """Accounts per wave (one of them grows past its contacts: a plan change)."""
    cluster_kills: int = 1
    """kill -9 of the busiest leader of a three-broker cluster (scenario 8)."""


FULL = Profile("full", Size(accounts=400, events_per_account=500),
               rate=2200.0, kill_rate=1100.0, fast_rate=2200.0,
               worker_kills=5, broker_restarts=2, churn=10, churn_rate=950.0,
               dedup_window=20_000, broker_down_s=(3.0, 10.0), timeout_s=900.0,
               projector_kills=4, projector_accounts=100, cluster_kills=2)

SHORT = Profile("short", Size(accounts=30, events_per_account=120),
                rate=260.0, kill_rate=260.0, fast_rate=900.0,
                worker_kills=2, broker_restarts=2, churn=3, churn_rate=110.0,
                dedup_window=500, broker_down_s=(1.0, 3.0), timeout_s=180.0,
                projector_kills=2, projector_accounts=20, cluster_kills=1)

PROFILES = {p.name: p for p in (FULL, SHORT)}
