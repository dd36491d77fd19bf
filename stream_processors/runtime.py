"""Shared faust plumbing: the app factory and the never-let-it-escape retry.

faust acks (and later commits) the events of a batch even when the agent raises, so an
exception escaping an agent silently skips data (DESIGN.md section 3). Every side effect
therefore runs under `retry_forever`; if the process is asked to stop while a write keeps
failing, it exits hard without acking, and the batch is read again after restart.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import faust
import structlog
from faust.sensors import Monitor

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
        topic_replication_factor=1,
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


async def retry_forever(what: str, action: Callable[[], Awaitable[T]],
                        stopping: Callable[[], bool], first_delay: float = 0.2,
                        max_delay: float = 10.0) -> T:
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("retry", what=what, attempt=attempt, error=repr(exc)[:500])
            if stopping():
                log.error("exit_unacked", what=what)
                os._exit(EXIT_UNACKED)
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)
