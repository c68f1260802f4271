"""Scale-out as deployed: the repository's nginx.conf (served by a real nginx) in front of two gateway
processes on one MariaDB and Redis, with the channel sandboxes in a process of their own.

* create → pay (the shopper on the sandbox page) → the channel's callback through nginx (https) → the
  checkout's status long-poll through nginx wakes → the merchant's webhook arrives;
* ``X-Forwarded-For`` is honoured from nginx (a trusted proxy) and from nobody else;
* a rolling restart (SIGTERM one process, start it again, then the other) under a small load of creates
  and reads drops no request;
* creates/s through nginx with 2 processes, then 1, measured in one run and printed (not asserted).

Needs MariaDB + Redis (``GATEWAY_TEST_MYSQL_URL`` / ``GATEWAY_TEST_REDIS_URL``); where they are set (CI),
a missing nginx fails the test instead of skipping it.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from gateway.store.db import Database
from gateway.store.tables import notify_log
from tests.conftest import MYSQL_URL, REDIS_URL
from tests.factories import own_mysql_database, seed_sandbox_keys
from tests.ops.nginx import nginx, nginx_binary, self_signed
from tests.processes import ROOT, clean_env, run_cli, run_py, wait_healthy
from tests.support.net import free_port
from tests.support.paying import phone_page, press
from tests.support.receiver import receiver

pytestmark = pytest.mark.slow
CLIENT_IP = "127.0.0.3"  # the test's own source address: not a trusted proxy
_orders = itertools.count()


@pytest.fixture
def stack_ready() -> str:
    if not MYSQL_URL or not REDIS_URL:
        pytest.skip("needs GATEWAY_TEST_MYSQL_URL and GATEWAY_TEST_REDIS_URL (MariaDB + Redis)")
    if nginx_binary() is None:
        pytest.fail("nginx is not installed: .ci/run installs Debian's nginx")
    return MYSQL_URL


@contextmanager
def gateway_process(port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python run.py serve`` we can SIGTERM and restart ourselves (run_py's exit stops it only once)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


async def create(http: aiohttp.ClientSession, base: str, auth: dict[str, str], **extra: Any) -> aiohttp.ClientResponse:
    order = f"ngx-{time.time_ns()}-{next(_orders)}"
    body = {"amount": 100, "subject": "Through nginx", "out_trade_no": order, "channel": "alipay_qr", **extra}
    return await http.post(f"{base}/api/v1/payments", json=body, headers={**auth, "Idempotency-Key": order})


async def load(tmp: Path, plan: dict[str, Any], cert: Path) -> dict[str, Any]:
    """``tests/bench/load.py`` in its own process (trusting our certificate); its JSON result."""
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.bench.load", str(path), cwd=ROOT,
                                                env=clean_env(SSL_CERT_FILE=str(cert)),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return dict(json.loads(out))


async def remote_of(db: Database, marker: str) -> str | None:
    async with db.read() as conn:
        return (await conn.execute(sa.select(notify_log.c.remote)
                                   .where(notify_log.c.body.contains(marker)))).scalar()


async def test_two_gateways_behind_the_shipped_nginx(stack_ready: str, tmp_path: Path) -> None:
    # A database of its own: these processes seal credentials with their own master key, which the
    # suite's other gateways (on the shared test database) could not open.
    async with own_mysql_database(stack_ready, "test_nginx") as url:
        await _behind_nginx(url, tmp_path)


async def _behind_nginx(mysql_schema: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_sandbox_keys(data)
    cert, key = self_signed(tmp_path)
    ports = [free_port(), free_port()]
    sandbox_port, http_port, https_port = free_port(), free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}"
    sandbox_url = f"http://127.0.0.1:{sandbox_port}/sandbox"
    env = clean_env(GATEWAY_DATA_DIR=str(data), GATEWAY_DATABASE_URL=mysql_schema, GATEWAY_REDIS_URL=REDIS_URL or "",
                    GATEWAY_SECRET_KEY="nginx-test-master-key-0123456789", GATEWAY_PUBLIC_URL=public,
                    GATEWAY_SANDBOX_URL=sandbox_url, GATEWAY_SANDBOX_TIME_SCALE="0.001",
                    GATEWAY_TRUSTED_PROXIES="127.0.0.1/32", GATEWAY_RATE_LIMIT="0", GATEWAY_TASK_INTERVAL="0.1",
                    SSL_CERT_FILE=str(cert))  # the sandbox posts callbacks to nginx's https, trusting our cert
    logs = [tmp_path / "gateway-a.log", tmp_path / "gateway-b.log"]
    db = Database(mysql_schema)
    with ExitStack() as stack:
        stack.enter_context(run_py("sandbox", port=sandbox_port, log=tmp_path / "sandbox.log",
                                   env={**env, "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{sandbox_port}"}))
        procs = [stack.enter_context(gateway_process(p, env, log)) for p, log in zip(ports, logs, strict=True)]
        proxy = stack.enter_context(nginx(tmp_path, ports, http_port, https_port, cert, key))
        async with receiver() as rec:
            merchant = json.loads(await run_cli("create-merchant", "--name", "Nginx Shop", "--webhook-url",
                                                rec.endpoint("hook"), env=env))
            auth = {"Authorization": f"Bearer {merchant['api_key']}"}
            connector = aiohttp.TCPConnector(local_addr=(CLIENT_IP, 0), ssl=False, limit=50)
            async with aiohttp.ClientSession(connector=connector) as http:
                # -- the payment flow, every shopper and merchant request through nginx
                r = await create(http, public, auth)
                payment = await r.json()
                assert r.status == 201, payment
                assert payment["checkout_url"].startswith(f"{public}/pay/")
                async with http.get(f"{public}/pay/{payment['id']}/status") as s:
                    assert s.status == 200
                    etag = s.headers["ETag"]
                poll = asyncio.create_task(http.get(f"{public}/pay/{payment['id']}/status",
                                                    params={"wait": "25"}, headers={"If-None-Match": etag}))
                await asyncio.sleep(0.3)
                await press(http, phone_page(sandbox_url, "alipay_qr", payment))
                woken = await asyncio.wait_for(poll, 20)
                assert woken.status == 200 and (await woken.json())["status"] == "paid"
                hook = await rec.next(within=20)
                assert json.loads(hook.body)["type"] == "payment.succeeded"
                async with http.get(f"{public}/api/v1/payments/{payment['id']}", headers=auth) as r:
                    assert (await r.json())["status"] == "paid"

                # -- the shipped file's other promises: http → https, no sandbox, static from disk
                async with http.get(f"{proxy.http_url}/healthz", allow_redirects=False) as r:
                    assert r.status == 301 and r.headers["Location"].startswith("https://")
                async with http.get(f"{public}/sandbox/alipay/gateway.do") as r:
                    assert r.status == 404
                async with http.get(f"{public}/healthz") as r:
                    assert r.status == 200

                # -- X-Forwarded-For: from nginx yes, from anyone else no
                spoof = {"X-Forwarded-For": "203.0.113.9"}
                for marker, url, headers in (("via-nginx", public, {}), ("via-nginx-spoofed", public, spoof),
                                             ("direct-spoofed", f"http://127.0.0.1:{ports[0]}", spoof)):
                    async with http.post(f"{url}/notify/alipay", data=f"sign=x&marker={marker}",
                                         headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}):
                        pass
                    assert await remote_of(db, f"marker={marker}") == CLIENT_IP, marker

                # -- rolling restart under load: no request dropped
                outcomes: Counter[str] = Counter()
                running = True

                async def worker() -> None:
                    while running:
                        try:
                            r = await create(http, public, auth)
                            created = await r.json()
                            outcomes[f"create {r.status}"] += 1
                            if r.status == 201:
                                async with http.get(f"{public}/api/v1/payments/{created['id']}", headers=auth) as g:
                                    outcomes[f"read {g.status}"] += 1
                        except aiohttp.ClientError as exc:
                            outcomes[f"error {type(exc).__name__}"] += 1
                            await asyncio.sleep(0.05)

                workers = [asyncio.create_task(worker()) for _ in range(4)]
                try:
                    for i in range(2):
                        # nginx left the restarted process out for fail_timeout (2 s in nginx.conf) after
                        # its refused connects: wait that out, as the rolling restart in docs/deploy.md does
                        await asyncio.sleep(0.5 if i == 0 else 3)
                        before = sum(outcomes.values())
                        assert await asyncio.to_thread(stop, procs[i]) == 0
                        assert sum(outcomes.values()) > before  # the load went on while it drained
                        procs[i] = stack.enter_context(gateway_process(ports[i], env, logs[i]))
                    await asyncio.sleep(0.5)
                finally:
                    running = False
                    await asyncio.gather(*workers)
                assert set(outcomes) == {"create 201", "read 200"}, outcomes

                # -- requests/s through nginx with 2 processes, then 1 (the other stopped), then 2 again (so an
                # order effect shows), in one run, from the load generator in a process of its own. Creates
                # are bound by the channel (here the one sandbox process: RSA signing on both sides); reads
                # show the gateway processes' own share.
                plans = {
                    "creates": {"method": "POST", "path": "/api/v1/payments", "headers": {
                        **auth, "Content-Type": "application/json"}, "body": json.dumps({
                            "amount": 100, "subject": "Load", "out_trade_no": "ld-@N@", "channel": "alipay_qr"})},
                    "reads": {"method": "GET", "path": f"/api/v1/payments/{payment['id']}", "headers": auth}}
                rates: dict[str, list[float]] = {kind: [] for kind in plans}
                for n in (2, 1, 2):
                    if n == 1:
                        assert await asyncio.to_thread(stop, procs[1]) == 0
                    elif rates["reads"]:  # back to 2: start the second again, wait out nginx's fail_timeout
                        procs[1] = stack.enter_context(gateway_process(ports[1], env, logs[1]))
                        await asyncio.sleep(3)
                    for kind, request in plans.items():
                        result = await load(tmp_path, {"base": public, "concurrency": 16, "warmup": 1,
                                                       "duration": 4, "mode": "cycle", "driver": "python",
                                                       "requests": [request]}, cert)
                        assert result["errors"] == 0 and set(result["statuses"]) <= {"200", "201"}, result
                        rates[kind].append(result["rps"])
                print("\nthrough nginx, 16 concurrent clients, processes 2 / 1 / 2: " + "; ".join(
                    f"{kind}/s {a:.0f} / {b:.0f} / {c:.0f}" for kind, (a, b, c) in rates.items())
                    + f"; rolling-restart load {dict(outcomes)}")
        assert merchant["api_key"] not in "".join(log.read_text() for log in logs)
    await db.dispose()
