"""The webhook role: POST alerts and decisions to the webhook of their account.

Its own consumer group on the alerts and decisions topics, so a slow or dead endpoint
never holds back the stream. A batch is acknowledged once every delivery of it ended:
delivered, or given up after the retries (then the record goes to the
`metering.webhooks.failed` topic with the last error). A crash redelivers the batch;
receivers deduplicate on the Idempotency-Key (the record id).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import faust
import orjson
import structlog

from infra.bulk_producer import owned_by
from infra.faust_runtime import create_app, finish_batch
from infra.health import REGISTRY
from schemas.topics import Topics
from stream_processors.account_view import AccountView
from stream_processors.webhooks import Delivery, WebhookDeliverer, WebhookSettings

log = structlog.get_logger(__name__)


def build_webhooks(bootstrap: str, partitions: int, topics: Topics, app_id: str,
                   settings: WebhookSettings, view: AccountView) -> faust.App:
    app = create_app(app_id, bootstrap, partitions)
    producer = owned_by(app, bootstrap, "webhooks", REGISTRY)

    def url_for(account: str) -> str | None:
        state = view.get(account)
        return None if state is None else state.webhook_url

    async def give_up(delivery: Delivery, error: str) -> None:
        doc = {"kind": delivery.kind, "account": delivery.account, "id": delivery.record_id,
               "url": delivery.url, "attempts": delivery.attempts, "error": error[:1000],
               "record": orjson.loads(delivery.body)}
        await producer.deliver_all("webhook_failed", [
            (topics.webhooks_failed, delivery.account.encode(), orjson.dumps(doc))],
            lambda: app.should_stop)

    deliverer = WebhookDeliverer(settings, url_for, give_up)

    async def deliver(kind: str, batch: list[Any]) -> None:
        for event in batch:
            await deliverer.submit(kind, orjson.loads(event.message.value))
        while not await deliverer.drain(60.0):
            log.info("webhooks.waiting", pending=deliverer.pending)

    for kind, name in (("alert", topics.alerts), ("decision", topics.decisions)):
        topic = app.topic(name, partitions=partitions)

        async def agent(stream: Any, kind: str = kind) -> None:
            async for batch in stream.take_events(500, 0.2):
                await finish_batch(f"webhooks_{kind}", partial(deliver, kind, batch))

        app.agent(topic, name=f"webhooks_{kind}", concurrency=1)(agent)
    return app
