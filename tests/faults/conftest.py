"""Fixtures of the fault tests: their own MariaDB (one per session, a fresh database per test) and
their own Redis (one per test), so stopping, freezing, flushing or killing them touches nobody else."""
from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import FAST
from tests.factories import Gateway, start_gateway
from tests.faults import servers

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def own_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = servers.mariadb_server(tmp_path_factory.mktemp("faults-mariadb"))
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[servers.Server]:
    server = servers.redis_server(tmp_path)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def own_database(own_mariadb: servers.Server) -> Iterator[str]:
    """A fresh migrated database on our MariaDB; the server is running again after the test."""
    url = servers.create_database(own_mariadb, f"faults_{next(_databases)}")
    try:
        yield url
    finally:
        if own_mariadb.proc is None or own_mariadb.proc.poll() is not None:
            own_mariadb.start()
        own_mariadb.thaw()


@pytest.fixture
async def faulty_gateway(tmp_path: Path, own_database: str, own_redis: servers.Server) -> AsyncIterator[Gateway]:
    """A gateway on our own MariaDB and Redis, background tasks on fast schedules."""
    async with start_gateway(tmp_path, database_url=own_database, redis_url=servers.redis_url(own_redis),
                             **FAST) as gw:
        yield gw
