from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store.migrate import upgrade_async


@pytest.fixture
async def db_url(database_url: str | None, tmp_path: Path) -> str:
    """A migrated database: a fresh SQLite file, or the shared MariaDB test database."""
    if database_url is not None:
        return database_url
    url = f"sqlite+aiosqlite:///{tmp_path / 'web.db'}"
    await upgrade_async(url)
    return url
