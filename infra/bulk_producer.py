"""Outputs of a batch produced with aiokafka directly and awaited as a whole.

faust's `topic.send` builds a FutureMessage, a PendingMessage and callbacks per message;
a worker batch writes hundreds of account states besides its metered batches. Here each
output is one `AIOKafkaProducer.send` (acks=all, idempotent), all of them are awaited
together, and the ones that failed are sent again (outputs are idempotent downstream) until
Kafka acknowledged every one; a process asked to stop while sends keep failing exits
unacked (`faust_runtime.exit_unacked`), so its input batch is read again after restart.

One refused record (say, a record time outside the broker's window) leaves aiokafka's
idempotent producer refusing every later record of that partition
(`OutOfOrderSequenceNumber`), for every account: so after any failed delivery the
producer is rebuilt (a new producer id) before the failed outputs are sent again. Each
failure is reported to the role's health (`infra.health`: not ready while failing, not
live past the stall limit) and counted. Every role's outputs go through here (the
worker's, the sink's projector and ledger, the webhook deliverer's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
import structlog
from aiokafka import AIOKafkaProducer

from infra.faust_runtime import exit_unacked, retry_forever
from infra.health import ClientHealth, Health

log = structlog.get_logger(__name__)

Output = tuple[str, bytes | None, bytes]
"""(topic, key, value)."""


class BulkProducer:
    def __init__(self, bootstrap: str, *, linger_ms: int = 5,
                 max_request_size: int = 4_000_000, health: ClientHealth | None = None,
                 record_time_ms: Callable[[], int | None] | None = None) -> None:
        """`record_time_ms`: each record's time (None: the client stamps it now)."""
        self.bootstrap, self.linger_ms, self.max_request_size = (
            bootstrap, linger_ms, max_request_size)
        self.health, self.record_time_ms = health, record_time_ms
        self.rebuilds = 0
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        async with self._starting:  # tasks sharing the producer start one, not several
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                    linger_ms=self.linger_ms, max_request_size=self.max_request_size,
                    max_batch_size=1_048_576)
                await producer.start()
                self._producer = producer
                if self.health is not None and not self.health.started:
                    self.health.progressed()  # connected: ready (a failure stays one)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def deliver_all(self, what: str, outputs: list[Output],
                          stopping: Callable[[], bool]) -> None:
        """Send every output and wait until Kafka acknowledged each; resend failures."""
        pending, delay = outputs, 0.2
        stamp = self.record_time_ms or (lambda: None)
        while pending:
            producer: AIOKafkaProducer | None = None
            try:
                await self.start()
                producer = self._producer  # the same one for the whole attempt
                assert producer is not None
                futures = [await producer.send(topic, value=value, key=key,
                                               timestamp_ms=stamp())
                           for topic, key, value in pending]
                results = await asyncio.gather(*futures, return_exceptions=True)
                failed = [o for o, r in zip(pending, results, strict=True)
                          if isinstance(r, BaseException)]
                error: BaseException | None = next(
                    (r for r in results if isinstance(r, BaseException)), None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the producer itself failed
                failed, error = pending, exc
            if not failed:
                if self.health is not None:
                    self.health.progressed()
                return
            log.error("delivery_failed", what=what, failed=len(failed), error=repr(error))
            if self.health is not None:
                self.health.failed(error or "delivery failed")
            await self._rebuild(producer)  # a refused record leaves the idempotent one stuck
            if stopping():
                exit_unacked(what)
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)
            pending = failed

    async def _rebuild(self, used: AIOKafkaProducer | None) -> None:
        """A new producer in place of `used` (unless another task already replaced it)."""
        if used is not None and used is not self._producer:
            return
        producer, self._producer = self._producer, None
        if producer is not None:
            self.rebuilds += 1
            try:
                await producer.stop()
            except Exception as exc:  # already broken: nothing more to release
                log.warning("producer_stop_failed", error=repr(exc)[:300])


def owned_by(app: faust.App, bootstrap: str, role: str, health: Health) -> BulkProducer:
    """The producer of a faust role (`<role>.producer` in `health`), started with the app
    (retried until the broker answers) and stopped before it shuts down; the role's
    consumer (`<role>.consumer`) is ready once the group assigned its partitions."""
    producer = BulkProducer(bootstrap, health=health.client(f"{role}.producer"))
    consumer = health.client(f"{role}.consumer")

    @app.task  # type: ignore[untyped-decorator]
    async def start_producer() -> None:
        await retry_forever(f"{role}_producer_start", producer.start,
                            lambda: app.should_stop, health=producer.health)

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def assigned(sender: Any, **_: Any) -> None:
        consumer.progressed()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_producer(sender: Any, **_: Any) -> None:
        await producer.stop()

    return producer
