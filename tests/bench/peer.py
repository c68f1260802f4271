"""The peer: what a shop would write instead of running a gateway -- a callback handler built on the
channels' official SDKs, and one UPDATE of its own order row. ``python -m tests.bench.peer --port N
--keys sandbox-keys.json --database URL [--driver D]``.

* ``POST /notify/alipay``: the form decoded, its RSA2 signature checked with python-alipay-sdk
  (``AliPay(...).verify(data, sign)``, the Alipay sandbox's public key), ``TRADE_SUCCESS`` /
  ``TRADE_FINISHED`` only, then one UPDATE; answers ``success``.
* ``POST /notify/wechat``: signature headers verified and the resource decrypted by wechatpayv3
  (``WeChatPay(...).callback(headers, body)``), ``TRANSACTION.SUCCESS`` only, then one UPDATE; answers
  204 with no body, as WeChat Pay v3 expects.

The SDK objects are made once at start-up, offline: wechatpayv3 is given the sandbox's platform public key
and its id (public-key mode), or -- in certificate mode -- a directory holding the platform certificate,
so its constructor never downloads certificates.

The UPDATE (``peer_orders``: out_trade_no primary key, amount in fen, status, paid_at, transaction_id)
sets the row paid only if it was pending and the amount matches, in the database the gateway of the run
uses. Drivers (``--driver``), each a plausible shop's choice:

* ``sqlite3``: the stdlib driver, blocking, on the event loop, one connection (the gateway's pragmas);
* ``pymysql``: PyMySQL, blocking, on the event loop, one connection;
* ``pymysql-threads``: PyMySQL in a pool of threads (``--pool``), each with its own connection;
* ``aiomysql``: an aiomysql pool (``--pool``).

The runner starts it with the fastest measured on the bench machine for the database and channel
(``DEFAULT_DRIVER``; BENCHMARKS.md), since the peer is a bar.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from alipay import AliPay
from sqlalchemy.engine import make_url
from wechatpayv3 import WeChatPay, WeChatPayType

from tests.bench.ceiling import pymysql_params, sqlite_connect

TABLE = "peer_orders"
DRIVERS = ("sqlite3", "pymysql", "pymysql-threads", "aiomysql")
# the fastest of the drivers measured on the bench machine, per database and channel (BENCHMARKS.md): on
# MariaDB, PyMySQL threads contend for the GIL with python-alipay-sdk's verify, so Alipay goes with aiomysql
DEFAULT_DRIVER = {("sqlite", "alipay"): "sqlite3", ("sqlite", "wechat"): "sqlite3",
                  ("mysql", "alipay"): "aiomysql", ("mysql", "wechat"): "pymysql-threads"}


class Store(Protocol):
    async def mark_paid(self, out_trade_no: str, amount: int, transaction_id: str, paid_at: datetime) -> int: ...

    async def close(self) -> None: ...


def _mark_sql(paramstyle: str) -> str:
    p = "?" if paramstyle == "qmark" else "%s"
    return (f"UPDATE {TABLE} SET status = 'paid', paid_at = {p}, transaction_id = {p} "
            f"WHERE out_trade_no = {p} AND amount = {p} AND status = 'pending'")


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.conn = sqlite_connect(path)
        self.sql = _mark_sql("qmark")

    async def mark_paid(self, out_trade_no: str, amount: int, transaction_id: str, paid_at: datetime) -> int:
        # blocking, on the loop: one writer, and a WAL commit without fsync is shorter than a thread hop
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = conn.execute(self.sql, (paid_at.isoformat(), transaction_id, out_trade_no, amount)).rowcount
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return n

    async def close(self) -> None:
        self.conn.close()


class PyMySQLStore:
    """Blocking PyMySQL: on the loop (``threads=0``), or in a thread pool with a connection per thread."""

    def __init__(self, url: str, threads: int) -> None:
        import pymysql

        self.params = pymysql_params(url)
        self.sql = _mark_sql("format")
        self.local = threading.local()
        self.conns: list[Any] = []
        self.lock = threading.Lock()
        self.pool = concurrent.futures.ThreadPoolExecutor(threads) if threads else None
        self._connect: Callable[[], Any] = lambda: pymysql.connect(**self.params)
        # connected at start-up, every thread at once (as a pool's minimum size would be), not by the
        # first callbacks
        if self.pool:
            everyone = threading.Barrier(threads)
            list(self.pool.map(lambda _: (self._conn(), everyone.wait()), range(threads)))
        else:
            self._conn()

    def _conn(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self._connect()
            with self.lock:
                self.conns.append(conn)
        return conn

    def _mark(self, out_trade_no: str, amount: int, transaction_id: str, paid_at: datetime) -> int:
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                n = cur.execute(self.sql, (paid_at.replace(tzinfo=None), transaction_id, out_trade_no, amount))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return int(n)

    async def mark_paid(self, out_trade_no: str, amount: int, transaction_id: str, paid_at: datetime) -> int:
        if self.pool is None:
            return self._mark(out_trade_no, amount, transaction_id, paid_at)
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, self._mark, out_trade_no, amount, transaction_id, paid_at)

    async def close(self) -> None:
        if self.pool:
            self.pool.shutdown()
        for conn in self.conns:
            conn.close()


class AiomysqlStore:
    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.sql = _mark_sql("format")

    @classmethod
    async def open(cls, url: str, size: int) -> AiomysqlStore:
        import aiomysql

        p = pymysql_params(url)
        pool = await aiomysql.create_pool(host=p["host"], port=p["port"], user=p["user"], password=p["password"],
                                          db=p["database"], autocommit=False, minsize=size, maxsize=size)
        return cls(pool)

    async def mark_paid(self, out_trade_no: str, amount: int, transaction_id: str, paid_at: datetime) -> int:
        async with self.pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    n = await cur.execute(self.sql, (paid_at.replace(tzinfo=None), transaction_id, out_trade_no,
                                                     amount))
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
        return int(n)

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


async def open_store(database: str, driver: str, pool: int) -> Store:
    if driver == "sqlite3":
        path = make_url(database).database
        if not path:
            raise ValueError("a SQLite database file is needed")
        return SqliteStore(path)
    if driver == "pymysql":
        return PyMySQLStore(database, 0)
    if driver == "pymysql-threads":
        return PyMySQLStore(database, pool)
    if driver == "aiomysql":
        return await AiomysqlStore.open(database, pool)
    raise ValueError(f"unknown driver {driver}")


def _db(database: str) -> tuple[Any, str]:
    """A plain DB-API connection to the run's database (set-up and checks, not timed) and its paramstyle."""
    u = make_url(database)
    if u.get_backend_name() == "sqlite":
        assert u.database
        return sqlite_connect(u.database), "?"
    import pymysql

    return pymysql.connect(**{**pymysql_params(database), "autocommit": True}), "%s"


def seed(database: str, trades: list[tuple[str, int]]) -> None:
    """The peer's table (made on first use) holding ``trades`` -- (out_trade_no, amount in fen) -- pending."""
    conn, p = _db(database)
    try:
        cur = conn.cursor()
        if p == "?":
            cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (out_trade_no TEXT PRIMARY KEY, amount INTEGER NOT NULL, "
                        "status TEXT NOT NULL, paid_at TEXT, transaction_id TEXT)")
        else:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (out_trade_no VARCHAR(64) PRIMARY KEY, "
                        "amount BIGINT NOT NULL, status VARCHAR(16) NOT NULL, paid_at DATETIME(6) NULL, "
                        "transaction_id VARCHAR(64) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
        if p == "?":
            cur.execute("BEGIN IMMEDIATE")
        cur.executemany(f"INSERT INTO {TABLE} (out_trade_no, amount, status) VALUES ({p}, {p}, 'pending')", trades)
        if p == "?":
            cur.execute("COMMIT")
        cur.close()
    finally:
        conn.close()


def paid(database: str, trades: list[tuple[str, int]]) -> int:
    """How many of ``trades`` the peer has marked paid."""
    conn, p = _db(database)
    try:
        cur = conn.cursor()
        marks = ", ".join([p] * len(trades))
        cur.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE status = 'paid' AND transaction_id IS NOT NULL "
                    f"AND out_trade_no IN ({marks})", [t for t, _ in trades])
        (n,) = cur.fetchone()
        cur.close()
        return int(n)
    finally:
        conn.close()


def alipay_sdk(keys: dict[str, Any]) -> AliPay:
    # python-alipay-sdk reads PEM keys (PKCS#1 or SPKI/PKCS#8) as the sandbox writes them: no conversion
    return AliPay(appid=keys["app_id"], app_notify_url=None, app_private_key_string=keys["app_private_key"],
                  alipay_public_key_string=keys["alipay_public_key"], sign_type="RSA2")


def wechat_sdk(keys: dict[str, Any], cert_dir: Path) -> WeChatPay:
    """Offline: given the platform public key (public-key mode) or the platform certificate on disk
    (certificate mode), wechatpayv3 never fetches ``/v3/certificates``."""
    common = {"wechatpay_type": WeChatPayType.NATIVE, "mchid": keys["mchid"],
              "private_key": keys["merchant_private_key"], "cert_serial_no": keys["merchant_serial"],
              "appid": keys["appid"], "apiv3_key": keys["apiv3_key"]}
    if keys.get("mode", "public_key") == "public_key":
        return WeChatPay(**common, public_key=keys["public_key"], public_key_id=keys["public_key_id"])
    (cert_dir / f"{keys['platform_serial']}.pem").write_text(keys["platform_certificate"])
    return WeChatPay(**common, cert_dir=str(cert_dir))


def make_app(keys: dict[str, Any], store: Store, cert_dir: Path) -> web.Application:
    alipay = alipay_sdk(keys["alipay"])
    wechat = wechat_sdk(keys["wechat"], cert_dir)
    stats = {"paid": 0, "refused": 0}

    async def notify_alipay(request: web.Request) -> web.Response:
        data = dict(await request.post())
        sign = str(data.pop("sign", ""))
        fields = {k: str(v) for k, v in data.items()}
        if not sign or not alipay.verify(fields, sign):
            stats["refused"] += 1
            return web.Response(status=400, text="fail")
        if fields.get("trade_status") in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            fen = int(Decimal(fields["total_amount"]) * 100)
            paid_at = datetime.fromisoformat(fields["gmt_payment"]) if fields.get("gmt_payment") \
                else datetime.now(UTC)
            stats["paid"] += await store.mark_paid(fields["out_trade_no"], fen, fields["trade_no"], paid_at)
        return web.Response(text="success")

    async def notify_wechat(request: web.Request) -> web.Response:
        body = await request.text()
        try:
            result = wechat.callback(request.headers, body)
        except Exception:  # the SDK raises on an unknown signature type or algorithm
            result = None
        if not result:
            stats["refused"] += 1
            return web.json_response({"code": "FAIL", "message": "signature"}, status=401)
        resource = result["resource"]
        if result.get("event_type") == "TRANSACTION.SUCCESS" and resource.get("trade_state") == "SUCCESS":
            paid_at = datetime.fromisoformat(resource["success_time"])
            stats["paid"] += await store.mark_paid(resource["out_trade_no"], int(resource["amount"]["total"]),
                                                   resource["transaction_id"], paid_at)
        return web.Response(status=204)

    async def ready(_: web.Request) -> web.Response:
        return web.json_response(stats)

    async def closing(_: web.Application) -> None:
        await store.close()

    app = web.Application()
    app.router.add_post("/notify/alipay", notify_alipay)
    app.router.add_post("/notify/wechat", notify_wechat)
    app.router.add_get("/ready", ready)
    app.on_cleanup.append(closing)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--keys", required=True, help="the gateway's sandbox-keys.json")
    p.add_argument("--database", required=True, help="SQLAlchemy URL of the run's database")
    p.add_argument("--driver", choices=DRIVERS)
    p.add_argument("--pool", type=int, default=8, help="threads / connections of the pooled drivers")
    args = p.parse_args(argv)
    keys = json.loads(Path(args.keys).read_text())
    driver = args.driver or DEFAULT_DRIVER[make_url(args.database).get_backend_name(), "alipay"]

    async def app() -> web.Application:
        store = await open_store(args.database, driver, args.pool)
        return make_app(keys, store, Path(cert_dir))

    with tempfile.TemporaryDirectory(prefix="peer-certs-") as cert_dir:
        web.run_app(app(), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
