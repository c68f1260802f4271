"""Factories: a running gateway, merchants, payments -- built through the real code paths."""
from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import itertools
import json
import socket
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from gateway import keys
from gateway.app import create_app
from gateway.config import Settings
from gateway.services.context import Services
from gateway.services.merchants import create_merchant
from tests.support.net import free_port
from tests.support.urls import sync_mysql

_counter = itertools.count(1)


def unique(prefix: str = "o") -> str:
    return f"{prefix}{next(_counter)}x{socket.gethostname()[:4]}{id(object()) % 100000}"


def reset_mysql(url: str) -> None:
    """Drop every table in the test database and migrate it from scratch."""
    from sqlalchemy import create_engine

    from gateway.store.migrate import upgrade

    engine = create_engine(sync_mysql(url))
    with engine.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for (name,) in conn.execute(sa.text("SHOW TABLES")).all():
            conn.execute(sa.text(f"DROP TABLE `{name}`"))
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()
    upgrade(url)


@asynccontextmanager
async def own_mysql_database(url: str, name: str) -> AsyncIterator[str]:
    """A MariaDB database of its own beside the test database (created, migrated, dropped after): for a
    test whose subject is global -- a figure over every row -- and that other tests' rows would skew."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = create_engine(sync_mysql(url, database=""))

    def run(sql: str) -> None:
        with server.begin() as conn:
            conn.execute(sa.text(sql))

    own_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(run, f"CREATE DATABASE IF NOT EXISTS `{name}`")
    await asyncio.to_thread(reset_mysql, own_url)
    try:
        yield own_url
    finally:
        await asyncio.to_thread(run, f"DROP DATABASE IF EXISTS `{name}`")
        server.dispose()


@dataclass
class Merchant:
    id: str
    api_key: str
    webhook_secret: str
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


@dataclass
class Gateway:
    url: str
    app: web.Application
    http: aiohttp.ClientSession
    tmp: Path

    @property
    def svc(self) -> Services:
        return self.app[keys.SERVICES]

    async def merchant(self, *, name: str = "Test Shop", webhook_url: str | None = None,
                       return_domains: list[str] | None = None, sandbox_accounts: bool = True) -> Merchant:
        from gateway.cli import sandbox_accounts as creds

        registry = self.svc.registry
        created = await create_merchant(
            self.svc.db, self.svc.settings, name=name, webhook_url=webhook_url,
            return_domains=return_domains or ["127.0.0.1", "shop.example"],
            channel_credentials=creds(self.svc.settings) if sandbox_accounts else None,
            registry_methods={c: sorted(registry.channel(c).pay_methods) for c in registry.channels})
        return Merchant(created["merchant_id"], created["api_key"], created["webhook_secret"], created)

    async def api(self, merchant: Merchant | None, method: str, path: str, *, json_body: Any = None,
                  data: bytes | str | None = None, headers: dict[str, str] | None = None) -> Answer:
        hdrs = dict(merchant.auth if merchant else {})
        hdrs.update(headers or {})
        if json_body is not None:
            data = json.dumps(json_body)
            hdrs.setdefault("Content-Type", "application/json")
        async with self.http.request(method, f"{self.url}/api/v1{path}", data=data, headers=hdrs) as resp:
            text = await resp.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = None
            return Answer(resp.status, body, dict(resp.headers), text)

    async def create_payment(self, merchant: Merchant, **overrides: Any) -> dict[str, Any]:
        body = {"amount": 1999, "currency": "CNY", "subject": "Test order", "out_trade_no": unique("ord")}
        body.update(overrides)
        answer = await self.api(merchant, "POST", "/payments", json_body=body)
        assert answer.status == 201, answer.text
        return answer.body

    async def fault(self, channel: str, spec: dict[str, Any]) -> None:
        """Inject a fault into a sandbox (see gateway/sandbox/*/control.py)."""
        async with self.http.post(f"{self.url}/sandbox/{channel}/_control/faults", json=spec) as r:
            assert r.status == 200, await r.text()

    async def refund_timing(self, channel: str, spec: dict[str, Any]) -> None:
        """When the sandbox's refunds become final: ``{"mode": "immediate"}`` or ``{"mode": "delayed",
        "seconds": …}`` (see gateway/sandbox/kit/refunds.py)."""
        async with self.http.post(f"{self.url}/sandbox/{channel}/_control/refund-timing", json=spec) as r:
            assert r.status == 200, await r.text()

    async def attempts(self, payment_id: str) -> list[dict[str, Any]]:
        """The payment's attempts, oldest first (each one's ``id`` is the trade number at the channel)."""
        from gateway.store.payments import attempts_of

        async with self.svc.db.read() as conn:
            return [dict(row) for row in await attempts_of(conn, payment_id)]

    async def count(self, table: sa.Table, *where: Any) -> int:
        async with self.svc.db.read() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)))
                       .scalar_one())


@functools.cache
def shared_sandbox_keys() -> str:
    """RSA key generation is slow: one set of sandbox keys per test session, copied into each data dir."""
    from gateway.sandbox import alipay, unionpay, wechat

    return json.dumps({"alipay": alipay.generate_keys(), "wechat": wechat.generate_keys(),
                       "unionpay": unionpay.generate_keys()})


@functools.cache
def migrated_sqlite() -> bytes:
    """Migrating a new SQLite file takes a quarter of a second: one migrated file per test session, copied
    into each data dir, where the gateway finds it at the head and does not migrate it again."""
    from gateway.store.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gateway.sqlite3"
        upgrade(f"sqlite+aiosqlite:///{path}")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file
        return path.read_bytes()


def sqlite_at_head(path: Path) -> str:
    """A migrated SQLite file at ``path`` (a copy of the session's), its URL. In a thread of its own when
    called from a test: the first call migrates, and Alembic runs an event loop of its own."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(migrated_sqlite())
    return f"sqlite+aiosqlite:///{path}"


def seed_sandbox_keys(data_dir: Path) -> None:
    from gateway.sandbox.key_material import FILENAME

    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / FILENAME).exists():
        (data_dir / FILENAME).write_text(shared_sandbox_keys())


@asynccontextmanager
async def start_gateway(tmp: Path, *, database_url: str | None = None, redis_url: str | None = None,
                        registry: Any = None, **overrides: Any) -> AsyncIterator[Gateway]:
    seed_sandbox_keys(tmp / "data")
    if database_url is None:
        await asyncio.to_thread(sqlite_at_head, tmp / "data" / "gateway.sqlite3")
    # The sandboxes finish refunds a little later by default, as the channels do. An Alipay refund still
    # processing (fund_change=N) waits for the refund sync when no notify comes, which would slow the
    # general suite: it takes Alipay's final in the answer (the delayed path has tests of its own, and
    # sandbox_refunds="delayed" keeps it). WeChat's PROCESSING is settled by its notify within ms.
    refunds = overrides.pop("sandbox_refunds", "immediate")
    overrides.setdefault("sandbox_time_scale", 0.001)
    overrides.setdefault("channel_timeout", 3.0)
    for tries_left in reversed(range(5)):
        # A free port may be taken by another process before we bind it: then another one.
        port = free_port()
        settings = Settings.from_env({}, host="127.0.0.1", port=port, data_dir=str(tmp / "data"),
                                     database_url=database_url, sandbox=True,
                                     secret_key=_secret("one-deployment-one-master-key"),
                                     **({"redis_url": _secret(redis_url)} if redis_url else {}), **overrides)
        app = create_app(settings, registry=registry)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            break
        except OSError as exc:
            await runner.cleanup()
            if exc.errno != errno.EADDRINUSE or not tries_left:
                raise
    try:
        async with aiohttp.ClientSession() as http:
            gw = Gateway(settings.public_url or "", app, http, tmp)
            if refunds != "delayed":
                await gw.refund_timing("alipay", {"mode": refunds})
            yield gw
    finally:
        await runner.cleanup()
        await asyncio.sleep(0)


def _secret(value: str) -> Any:
    from gateway.crypto.secrets import Secret

    return Secret(value)
