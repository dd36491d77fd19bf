"""The short chaos run: one broker for the session (the broker scenario starts its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaos.broker import Broker, shared_broker


@pytest.fixture(scope="session")
def chaos_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with shared_broker(tmp_path_factory.mktemp("chaos-kafka")) as broker:
        yield broker
