"""Shared test plumbing: the database backends, a real gateway server, factories.

Store and API tests run on SQLite always, and on MariaDB/MySQL (with Redis) when
``GATEWAY_TEST_MYSQL_URL`` / ``GATEWAY_TEST_REDIS_URL`` are set -- and then they fail, never skip, if
the server is unreachable.
"""
from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.factories import Gateway, start_gateway

MYSQL_URL = os.environ.get("GATEWAY_TEST_MYSQL_URL")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL")

BACKENDS = ["sqlite"] + (["mysql"] if MYSQL_URL else [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mysql_schema() -> str:
    """Reset the MariaDB test database once per session and migrate it. Unreachable = an error."""
    assert MYSQL_URL
    from tests.factories import reset_mysql

    reset_mysql(MYSQL_URL)
    return MYSQL_URL


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    """None = the embedded SQLite default (migrated on start); else the MariaDB test database."""
    if backend == "mysql":
        return request.getfixturevalue("mysql_schema")
    return None


@pytest.fixture
async def gateway(database_url: str | None, tmp_path: Path, backend: str) -> AsyncIterator[Gateway]:
    """A real gateway server on a free port, with the channel sandboxes mounted and compressed time."""
    async with start_gateway(tmp_path, database_url=database_url,
                             redis_url=REDIS_URL if backend == "mysql" else None) as gw:
        yield gw


@pytest.fixture
async def sqlite_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with start_gateway(tmp_path) as gw:
        yield gw
