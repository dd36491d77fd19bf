"""Open a clickhouse-connect client for the embedded (chdb) or server target."""

from __future__ import annotations

from typing import Any

import clickhouse_connect
import structlog

from projections.settings import ClickHouseSettings

log = structlog.get_logger(__name__)

INSERT_SETTINGS: dict[str, Any] = {
    "async_insert": 0,
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}
"""Explicit insert settings: 26.x defaults async_insert=1, which would defeat the token."""


def open_client(settings: ClickHouseSettings) -> Any:
    """A client bound to the caller's thread (chdb: one per thread, one process per path)."""
    if settings.embedded:
        client = clickhouse_connect.get_client(dsn=settings.dsn)
    else:
        client = clickhouse_connect.get_client(
            dsn=settings.dsn, username=settings.username,
            password=settings.password.get_secret_value())
    log.debug("clickhouse.open", dsn=settings.dsn.split("@")[-1])
    return client
