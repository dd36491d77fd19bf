"""Outputs of a batch produced with aiokafka directly and awaited as a whole.

faust's `topic.send` builds a FutureMessage, a PendingMessage and callbacks per message;
a worker batch writes hundreds of account states besides its metered batches. Here each
output is one `AIOKafkaProducer.send` (acks=all, idempotent), all of them are awaited
together, and the ones that failed are sent again (outputs are idempotent downstream) until
Kafka acknowledged every one; a process asked to stop while sends keep failing exits
unacked (`faust_runtime.exit_unacked`), so its input batch is read again after restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaProducer

from infra.faust_runtime import exit_unacked

log = structlog.get_logger(__name__)

Output = tuple[str, bytes | None, bytes]
"""(topic, key, value)."""


class BulkProducer:
    def __init__(self, bootstrap: str, *, linger_ms: int = 5,
                 max_request_size: int = 4_000_000) -> None:
        self.bootstrap, self.linger_ms, self.max_request_size = (
            bootstrap, linger_ms, max_request_size)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                        enable_idempotence=True, linger_ms=self.linger_ms,
                                        max_request_size=self.max_request_size,
                                        max_batch_size=1_048_576)
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def deliver_all(self, what: str, outputs: list[Output],
                          stopping: Callable[[], bool]) -> None:
        """Send every output and wait until Kafka acknowledged each; resend failures."""
        pending, delay = outputs, 0.2
        while pending:
            try:
                await self.start()
                assert self._producer is not None
                futures = [await self._producer.send(topic, value=value, key=key)
                           for topic, key, value in pending]
                results = await asyncio.gather(*futures, return_exceptions=True)
                failed = [o for o, r in zip(pending, results, strict=True)
                          if isinstance(r, BaseException)]
                error: BaseException | None = next(
                    (r for r in results if isinstance(r, BaseException)), None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the producer itself failed: rebuild it
                failed, error = pending, exc
                await self._rebuild()
            if not failed:
                return
            log.error("delivery_failed", what=what, failed=len(failed), error=repr(error))
            if stopping():
                exit_unacked(what)
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)
            pending = failed

    async def _rebuild(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception as exc:  # already broken: nothing more to release
                log.warning("producer_stop_failed", error=repr(exc)[:300])
