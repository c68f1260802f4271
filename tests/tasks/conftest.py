"""A gateway whose background schedules run a thousand times faster (a day of webhook retries in about
90 s, the first channel sync after 60 ms), polling every 20 ms; and a local webhook receiver."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from tests.factories import Gateway, start_gateway
from tests.tasks.receiver import Receiver, receiver

FAST = {"task_time_scale": 0.001, "task_interval": 0.02, "webhook_timeout": 1.0}


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        yield rec


@pytest.fixture
async def fast_gateway(database_url: str | None, tmp_path: Path, backend: str) -> AsyncIterator[Gateway]:
    async with start_gateway(tmp_path, database_url=database_url,
                             redis_url=REDIS_URL if backend == "mysql" else None, **FAST) as gw:
        yield gw
