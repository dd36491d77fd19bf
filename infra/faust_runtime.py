"""Shared faust plumbing: the app factory, whole batches, delivered sends, retries.

faust acks (and later commits) the events of a batch when the agent leaves the batch,
whether it finished it, raised, or was cancelled by a stop (DESIGN.md section 3). So:
- `finish_batch` runs a batch body to its end even when faust cancels the agent, and
  exits the process without acking when the body fails in a way it cannot retry;
- outputs are delivered by `infra.bulk_producer.BulkProducer` (each acknowledged, the
  failed ones resent on a rebuilt producer);
- `retry_forever` retries a side effect; when the process is asked to stop while it keeps
  failing, it exits hard, unacked, and the batch is read again after restart.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import faust
import structlog
from faust.sensors import Monitor

from infra.health import ClientHealth
from infra.topics import replication_for

log = structlog.get_logger(__name__)
T = TypeVar("T")

EXIT_UNACKED = 75


class QuietMonitor(Monitor):
    """faust's default Monitor keeps per-message statistics (several dict updates and
    timestamps per event on the hot path). We do not read them: per-message hooks are
    no-ops here; commit, send and rebalance statistics are kept."""

    def on_message_in(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_stream_event_in(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_message_out(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_send_initiated(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_send_completed(self, *args: Any, **kwargs: Any) -> None:
        return None


def create_app(app_id: str, bootstrap: str, partitions: int, session_timeout_s: float = 10.0,
               **extra: Any) -> faust.App:
    """A faust app with at-least-once settings; a short session timeout lets a restarted
    worker take its partitions back quickly after a kill -9."""
    return faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=partitions,
        topic_replication_factor=replication_for(bootstrap),
        topic_allow_declare=True,
        table_standby_replicas=0,
        web_enabled=False,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_request_size=4_000_000,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=20_000,
        stream_wait_empty=False,
        broker_session_timeout=session_timeout_s,
        Monitor=QuietMonitor,
        broker_heartbeat_interval=max(1.0, session_timeout_s / 4),
        **extra,
    )


def exit_unacked(what: str) -> NoReturn:
    log.error("exit_unacked", what=what)
    os._exit(EXIT_UNACKED)


async def finish_batch(what: str, body: Callable[[], Awaitable[None]]) -> None:
    """Run one batch body to its end. A cancellation of the agent (faust's stop) waits for
    the body and is re-raised after it; any error in the body stops the process unacked."""
    task = asyncio.ensure_future(body())
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            cancelled = True  # faust stops us: let the batch end before it is acked
            if not task.done():
                continue
            if task.cancelled():  # the body itself was cancelled: it did not finish
                exit_unacked(what)
            if task.exception() is not None:
                log.error("batch_failed", what=what, error=repr(task.exception()))
                exit_unacked(what)
            break  # the body finished just as the cancellation arrived
        except Exception:
            log.exception("batch_failed", what=what)
            exit_unacked(what)
    if cancelled:
        raise asyncio.CancelledError


async def retry_forever(what: str, action: Callable[[], Awaitable[T]],
                        stopping: Callable[[], bool], first_delay: float = 0.2,
                        max_delay: float = 10.0, health: ClientHealth | None = None) -> T:
    """`health`: told of each failure and of the success (`infra.health`)."""
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await action()
            if health is not None:
                health.progressed()
            return result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("retry", what=what, attempt=attempt, error=repr(exc)[:500])
            if health is not None:
                health.failed(exc)
            if stopping():
                exit_unacked(what)
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)
