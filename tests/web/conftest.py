from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.factories import sqlite_at_head


@pytest.fixture
async def db_url(database_url: str | None, tmp_path: Path) -> str:
    """A migrated database: a fresh SQLite file, or the shared MariaDB test database."""
    if database_url is not None:
        return database_url
    return await asyncio.to_thread(sqlite_at_head, tmp_path / "web.db")
