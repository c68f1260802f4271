"""The embedded default migrates itself on start -- a new database and one an older version left behind --
and a database already at the head is left as it is (no Alembic run at each restart)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from gateway.store import migrate
from gateway.store.migrate import alembic_config, head_revision, migration_state
from tests.factories import start_gateway


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_revision(head_revision())
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


@pytest.mark.parametrize("left_at", ["empty file", "previous revision"])
async def test_a_database_behind_is_migrated_on_start(tmp_path: Path, left_at: str) -> None:
    database = tmp_path / "data" / "gateway.sqlite3"
    database.parent.mkdir(parents=True)
    database.touch()
    if left_at == "previous revision":
        await asyncio.to_thread(migrate.upgrade, f"sqlite+aiosqlite:///{database}", _previous_revision())
    async with start_gateway(tmp_path) as gw:
        async with gw.svc.db.read() as conn:
            here, needed = await migration_state(conn)
        assert here == needed == head_revision()
        assert (await gw.merchant()).id  # the tables of the head are there


async def test_a_database_at_the_head_is_not_migrated_again(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    async with start_gateway(tmp_path):
        pass
    runs: list[str] = []
    monkeypatch.setattr(migrate, "upgrade", lambda url, revision="head": runs.append(url))
    async with start_gateway(tmp_path) as gw:
        assert (await gw.merchant()).id
    assert runs == []
