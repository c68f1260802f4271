"""Anonymous paths bounded: link opens and pay-method switches per IP and per link/payment; notify bodies
capped with an excerpt logged; refused callbacks purged on the runner's schedule, applied ones kept."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from gateway.store import notify_log as notify_repo
from gateway.store.base import utcnow
from gateway.store.tables import notify_log
from tests.factories import Gateway, start_gateway
from tests.risk.helpers import create
from tests.risk.test_hooks import _open
from tests.support.waiting import eventually


async def test_link_opens_are_limited_per_link_and_per_ip(proxied: Gateway) -> None:
    gw = proxied
    m = await gw.merchant()
    link = (await gw.api(m, "POST", "/links", json_body={"subject": "Tea", "amount": 100})).body
    for n in range(4):  # the link's limit: 4 payments a minute, whoever presses its pay button
        assert (await _open(gw, f"/l/{link['slug']}", f"198.19.0.{n + 1}", data={}))[0] == 303
    status, text, _ = await _open(gw, f"/l/{link['slug']}", "198.19.0.9", data={})
    assert status == 429 and "wait a moment" in text
    # One address over several links: its limit is 6 a minute.
    links = [(await gw.api(m, "POST", "/links", json_body={"subject": "Tea", "amount": 100})).body for _ in range(7)]
    answers = [(await _open(gw, f"/l/{x['slug']}", "198.19.1.1", data={}))[0] for x in links]
    assert answers == [303] * 6 + [429]
    # Opening a link (its page) writes nothing and is not counted; its POST is.
    free = (await gw.api(m, "POST", "/links", json_body={"subject": "Gift", "min_amount": 100})).body
    assert (await _open(gw, f"/l/{free['slug']}", "198.19.1.1"))[0] == 200
    assert (await _open(gw, f"/l/{free['slug']}", "198.19.1.1", data={"amount": "2.00"}))[0] == 429


async def test_method_switches_are_limited_per_payment(proxied: Gateway) -> None:
    gw = proxied
    m = await gw.merchant()
    payment = (await create(gw, m)).body
    methods = ["alipay_qr", "wechat_native", "unionpay_qr", "alipay_qr"]
    answers = [(await _open(gw, f"/pay/{payment['id']}/method", f"198.19.2.{n}", data={"method": method}))[0]
               for n, method in enumerate(methods)]
    assert answers == [303, 303, 303, 429]  # 3 switches a minute per payment, from any address
    assert len(await gw.attempts(payment["id"])) == 3


async def _rows(gw: Gateway, *where: sa.ColumnElement[bool]) -> list[dict]:
    async with gw.svc.db.read() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(notify_log).where(*where))).mappings()]


async def test_oversized_and_junk_callbacks_are_refused_and_logged_as_an_excerpt(gateway: Gateway) -> None:
    big = b"x" * (64 * 1024 + 1)
    async with gateway.http.post(f"{gateway.url}/notify/alipay", data=big,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(70):
            yield b"y" * 1024

    async with gateway.http.post(f"{gateway.url}/notify/wechat", data=chunks()) as r:  # no Content-Length
        assert r.status == 413
    junk = b"sign=forged&" + b"z" * 10_000
    async with gateway.http.post(f"{gateway.url}/notify/alipay", data=junk,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status in (200, 400) and await r.read() != b"success"
    refused = await _rows(gateway, notify_log.c.result == "rejected")
    too_large = [r for r in refused if (r["error"] or "").startswith("too_large")]
    assert {r["channel"] for r in too_large} == {"alipay", "wechat"}
    assert all(0 < len(r["body"]) <= 2048 for r in refused), [len(r["body"]) for r in refused]
    assert any(r["body"].startswith("sign=forged") for r in refused)


async def test_refused_callbacks_are_purged_on_schedule_applied_ones_kept(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, task_time_scale=0.001, task_interval=0.02, notify_log_keep_days=7) as gw:
        old = utcnow() - timedelta(days=8)
        async with gw.svc.db.begin() as conn:
            for result in ("rejected", "applied", "rejected", "duplicate", "error"):
                await notify_repo.record(conn, channel="alipay", headers={}, body=b"old", remote="192.0.2.1",
                                         result=result)
            await notify_repo.record(conn, channel="alipay", headers={}, body=b"new", remote="192.0.2.1",
                                     result="rejected")
            await conn.execute(sa.update(notify_log).where(notify_log.c.body == "old").values(created_at=old))
        left = await eventually(lambda: _rows(gw), lambda rows: len(rows) == 3, seconds=15)
        assert sorted((r["result"], r["body"]) for r in left) == [
            ("applied", "old"), ("duplicate", "old"), ("rejected", "new")]
