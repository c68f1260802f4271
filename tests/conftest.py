"""Shared test plumbing: the database backends, a real gateway server, factories.

Store and API tests run on SQLite always, and on MariaDB/MySQL (with Redis) when
``GATEWAY_TEST_MYSQL_URL`` / ``GATEWAY_TEST_REDIS_URL`` are set -- and then they fail, never skip, if
the server is unreachable.
"""
from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Gateway, shared_sandbox_keys, start_gateway

# The sandboxes publish bills on the channels' schedule (next day, after 09:00); tests want today's at once.
os.environ.setdefault("GATEWAY_SANDBOX_BILLS_IMMEDIATE", "1")

MYSQL_URL = os.environ.get("GATEWAY_TEST_MYSQL_URL")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL")

BACKENDS = ["sqlite"] + (["mysql"] if MYSQL_URL else [])
# Every database a gateway fixture used; the ledger checker runs over each after the whole suite.
USED_DATABASES = pytest.StashKey[set[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[USED_DATABASES] = set()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """``check-ledger`` over every database the suite used: any violation fails the run."""
    from sqlalchemy.engine import make_url

    from gateway.store.db import Database
    from gateway.store.ledger_check import check_database

    async def check(url: str) -> list[str]:
        db = Database(url)
        try:
            shown = make_url(url).render_as_string(hide_password=True)
            return [f"{shown}: {v.check} {v.subject}: {v.detail}" for v in (await check_database(db)).violations]
        finally:
            await db.dispose()

    urls = sorted(session.config.stash.get(USED_DATABASES, set()))
    problems = [line for url in urls for line in asyncio.run(check(url))]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and urls:
        reporter.write_sep("-", f"ledger check: {len(urls)} database(s), {len(problems)} violation(s)")
        for line in problems:
            reporter.write_line(f"  {line}", red=True)
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# A gateway whose background schedules run a thousand times faster (a day of webhook retries in about
# 90 s, the first channel sync after 60 ms), polling every 20 ms.
FAST = {"task_time_scale": 0.001, "task_interval": 0.02, "webhook_timeout": 1.0}


@pytest.fixture
def alipay_keys() -> dict[str, Any]:
    """The Alipay sandbox's key material (generated once per session; a fresh copy per test)."""
    return dict(json.loads(shared_sandbox_keys())["alipay"])


@pytest.fixture
def wechat_keys() -> dict[str, Any]:
    """The WeChat sandbox's key material (generated once per session; a fresh copy per test)."""
    return dict(json.loads(shared_sandbox_keys())["wechat"])


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
async def gateway(database_url: str | None, tmp_path: Path, backend: str,
                  request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    """A real gateway server on a free port, with the channel sandboxes mounted and compressed time."""
    async with start_gateway(tmp_path, database_url=database_url,
                             redis_url=REDIS_URL if backend == "mysql" else None) as gw:
        request.config.stash[USED_DATABASES].add(gw.svc.settings.effective_database_url)
        yield gw


@pytest.fixture
async def sqlite_gateway(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    async with start_gateway(tmp_path) as gw:
        request.config.stash[USED_DATABASES].add(gw.svc.settings.effective_database_url)
        yield gw


@pytest.fixture
async def fast_gateway(database_url: str | None, tmp_path: Path, backend: str) -> AsyncIterator[Gateway]:
    """A gateway whose background tasks run with :data:`FAST` schedules."""
    async with start_gateway(tmp_path, database_url=database_url,
                             redis_url=REDIS_URL if backend == "mysql" else None, **FAST) as gw:
        yield gw
