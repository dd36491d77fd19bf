"""A single thread that owns the ClickHouse client (chdb: one client per thread).

Blocking ClickHouse calls run here, off the asyncio loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from projections.client import open_client
from projections.settings import ClickHouseSettings

T = TypeVar("T")


class ClickHouseThread:
    def __init__(self, settings: ClickHouseSettings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="clickhouse")
        self._local = threading.local()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = open_client(self.settings)
        return client

    def call_sync(self, fn: Callable[[Any], T]) -> T:
        return self._pool.submit(lambda: fn(self._client())).result()

    async def call(self, fn: Callable[[Any], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self._client()))

    def close(self) -> None:
        def _close() -> None:
            client = getattr(self._local, "client", None)
            if client is not None:
                client.close()
                self._local.client = None

        self._pool.submit(_close).result()
        self._pool.shutdown(wait=True)
