"""Run the Alembic migrations in ``migrations/`` -- on start for the embedded default, or by
``python run.py migrate``."""
from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.db import Database

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    # Alembic drives its own event loop for async engines: keep it off ours.
    await asyncio.to_thread(upgrade, url)


async def upgrade_if_behind(db: Database) -> None:
    """Migrate unless the database is already at this code's head: a restart of the embedded default
    skips loading Alembic's environment (a quarter of a second)."""
    async with db.read() as conn:
        here, needed = await migration_state(conn)
    if here != needed:
        await upgrade_async(db.url)


async def current_revision(conn: AsyncConnection) -> str | None:
    """The migration the database is at (``alembic_version``)."""
    head = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    return None if head is None else str(head)


@functools.cache
def head_revision() -> str:
    """The migration this code needs (the scripts' head, which does not change under a running process)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return str(head)


async def migration_state(conn: AsyncConnection) -> tuple[str | None, str]:
    """``(where the database is, where this code needs it)``; a database never migrated is at None."""
    if not await conn.run_sync(lambda c: sa.inspect(c).has_table("alembic_version")):
        return None, head_revision()
    return await current_revision(conn), head_revision()
