"""The short version of every chaos scenario (`python -m chaos --short`), on the real
broker and chdb: each fails on any lost, duplicated or unexpected event, any counter or
peak that differs from the oracle, any rejection with another reason than expected, and
any fault the pipeline did not recover from."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.broker import Broker
from chaos.flow import Context
from chaos.poison import KINDS
from chaos.profile import SHORT
from chaos.result import Result
from chaos.scenarios import BY_NAME

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 1


def _run(name: str, broker: Broker, tmp_path: Path) -> Result:
    result = BY_NAME[name].execute(Context(SHORT, SEED, tmp_path, broker))
    assert isinstance(result, Result)
    assert result.error is None, result.error
    c = result.check
    assert c is not None
    assert (c.lost, c.duplicated, c.unexpected) == (0, 0, 0), result.failures()
    assert c.oracle_mismatches == 0, c.examples
    assert c.expected_accepted > 1000
    assert c.accepted == c.expected_accepted + c.unacked_present
    assert c.rejected == c.expected_rejected
    assert len(result.faults) == result.planned_faults
    assert all(f.recovery_s is not None for f in result.faults)
    assert result.passed
    return result


def test_worker_kill_9(chaos_broker: Broker, tmp_path: Path) -> None:
    r = _run("worker_kill", chaos_broker, tmp_path)
    assert r.check is not None
    assert len(r.faults) == SHORT.worker_kills
    assert r.check.acknowledged == r.check.produced  # the broker was never down
    assert sum(r.check.rejected.values()) >= 13  # bad records of every shared reason


def test_broker_kill_9_and_restart(chaos_broker: Broker, tmp_path: Path) -> None:
    r = _run("broker_restart", chaos_broker, tmp_path)
    c = r.check
    assert c is not None
    assert len(r.faults) == SHORT.broker_restarts
    assert c.rejected == {}  # good events only
    assert c.expected_accepted == c.acknowledged
    assert c.acknowledged + c.unacked_present + c.unacked_absent == c.produced


def test_rebalance_churn(chaos_broker: Broker, tmp_path: Path) -> None:
    r = _run("rebalance", chaos_broker, tmp_path)
    assert [f.kind for f in r.faults] == ["second worker joins", "second worker leaves"] \
        * SHORT.churn


def test_retry_storm(chaos_broker: Broker, tmp_path: Path) -> None:
    r = _run("retry_storm", chaos_broker, tmp_path)
    c = r.check
    assert c is not None
    copies = sum(n for label, n in r.labels.items() if label.startswith("copy:"))
    assert copies >= 0.09 * c.produced
    assert r.labels["copy:tail"] > 0
    assert r.labels["copy:immediate"] > 0 and r.labels["copy:later"] > 0
    assert c.accepted == c.produced - copies - sum(c.expected_rejected.values())


def test_poison(chaos_broker: Broker, tmp_path: Path) -> None:
    r = _run("poison", chaos_broker, tmp_path)
    c = r.check
    assert c is not None
    assert set(c.rejected) == set(KINDS.values())
    for kind in KINDS:
        assert r.labels[f"bad:{kind}"] >= 0.009 * c.expected_accepted
    assert r.max_stall_s < 30


def test_late_and_future(chaos_broker: Broker, tmp_path: Path) -> None:
    r = _run("late_future", chaos_broker, tmp_path)
    c = r.check
    assert c is not None
    labels = r.labels
    assert min(labels["late:inside"], labels["late:after"], labels["future"]) > 50
    assert c.expected_rejected["too_late"] >= labels["late:after"] + labels["edge:late-at-close"]
    assert c.expected_rejected["future_timestamp"] >= (labels["future"]
                                                       + labels["edge:future-301s"])
    assert min(labels[f"edge:{e}"] for e in ("late-last-second", "late-at-close", "future-300s",
                                              "future-301s", "on-time")) >= 2


def test_projector_double_run_and_sink_kill_mid_close(chaos_broker: Broker,
                                                       tmp_path: Path) -> None:
    r = BY_NAME["projector"].execute(Context(SHORT, SEED, tmp_path, chaos_broker))
    assert isinstance(r, Result) and r.error is None, r
    i = r.invoices
    assert i is not None
    # per account a first fee and 8 closed cycles (a growing account's April invoice
    # carries its upgrade to silver)
    assert i.expected == SHORT.projector_kills * SHORT.projector_accounts * 9
    assert (i.recorded_rows, i.recorded) == (i.expected, i.expected)
    assert (i.lost, i.duplicated, i.unexpected, i.number_faults, i.second_run) == \
        (0, 0, 0, 0, 0)
    assert len(r.faults) == SHORT.projector_kills
    assert all(f.recovery_s is not None for f in r.faults)
    assert any(f.lag for f in r.faults), "no kill hit before the ledger had issued all"
    assert r.passed


def test_cluster_leader_kill_9(chaos_broker: Broker, tmp_path: Path) -> None:
    """Issue 17 item 3: a three-broker cluster of our own; the broker leading the most
    partitions is killed -9 while producing and processing, then restarted."""
    r = _run("cluster_leader_kill", chaos_broker, tmp_path)
    c = r.check
    assert c is not None
    assert [f.kind for f in r.faults] == ["leader broker kill -9 + restart"] * \
        SHORT.cluster_kills
    assert all("leader of" in f.detail for f in r.faults)
    assert c.rejected == {}  # good events only
    assert c.expected_accepted == c.acknowledged


def test_cluster_rolling_restart(chaos_broker: Broker, tmp_path: Path) -> None:
    r = _run("cluster_rolling", chaos_broker, tmp_path)
    c = r.check
    assert c is not None
    assert [f.detail.split()[1] for f in r.faults] == ["1", "2", "3"]
    assert all("replicas in sync" in f.detail for f in r.faults)
    assert c.expected_accepted == c.acknowledged
