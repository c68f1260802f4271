"""A gateway without background loops (reconciliation, not the sync task, must be what settles), on
SQLite and, when configured, MariaDB."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, USED_DATABASES
from tests.factories import Gateway, start_gateway


@pytest.fixture
async def gw(database_url: str | None, tmp_path: Path, backend: str,
             request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    async with start_gateway(tmp_path, database_url=database_url, background=False,
                             redis_url=REDIS_URL if backend == "mysql" else None) as gateway:
        request.config.stash[USED_DATABASES].add(gateway.svc.settings.effective_database_url)
        yield gateway
