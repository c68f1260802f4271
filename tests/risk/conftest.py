"""A gateway behind a trusted proxy (each test's shopper comes from its own address through
X-Forwarded-For) with small anonymous limits -- so per-IP counts in a shared Redis are the test's own."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.admin.conftest import consoles  # noqa: F401  (the console tests sign operators in)
from tests.conftest import REDIS_URL, USED_DATABASES
from tests.factories import Gateway, start_gateway

LIMITS = {"anon_ip_limit": 6, "anon_link_limit": 4, "anon_switch_limit": 3}


@pytest.fixture
async def proxied(database_url: str | None, tmp_path: Path, backend: str,
                  request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    async with start_gateway(tmp_path, database_url=database_url, redis_url=REDIS_URL if backend == "mysql" else None,
                             trusted_proxies="127.0.0.1/32", **LIMITS) as gw:
        request.config.stash[USED_DATABASES].add(gw.svc.settings.effective_database_url)
        yield gw
