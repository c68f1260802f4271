"""The sandbox kit: one fault vocabulary, one notifier, one /_control/ shape for every channel."""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.sandbox import alipay, kit, unionpay, wechat
from gateway.sandbox.app import create_sandbox_app
from gateway.sandbox.kit.faults import Fault, FaultBook

CHANNELS = ("alipay", "wechat", "unionpay")


def test_one_vocabulary_reads_both_old_dialects() -> None:
    assert Fault.parse("api", {"method": "alipay.trade.query", "mode": "badsign"}) == \
        Fault(mode="bad_signature", operation="alipay.trade.query")
    assert Fault.parse("api", {"path_contains": "/v3/refund/", "mode": "http500", "after": True}).operation == "/v3/refund/"
    assert Fault.parse("refunds", {"status": "ABNORMAL"}).mode == "ABNORMAL"
    assert Fault.parse("callbacks", {"mode": "reorder"}).seconds == 5.0
    for group, item in (("api", {"mode": "drop"}), ("callbacks", {"mode": "delay", "secnods": 1}),
                        ("api", ["timeout"]), ("api", {"mode": "timeout", "seconds": "soon"})):
        with pytest.raises(ValueError):
            Fault.parse(group, item)


def test_faults_match_by_operation_and_are_consumed_count_times() -> None:
    book = FaultBook()
    book.add("api", [{"operation": "refund", "mode": "http500", "count": 2}, {"mode": "timeout", "count": 0}])
    assert book.take("api", "/v3/refund/domestic/refunds").mode == "http500"  # type: ignore[union-attr]
    assert book.take("api", "alipay.trade.refund").mode == "http500"  # type: ignore[union-attr]
    for _ in range(3):  # count 0: until reset
        assert book.take("api", "alipay.trade.refund").mode == "timeout"  # type: ignore[union-attr]
    book.clear()
    assert book.take("api", "anything") is None


async def test_notifier_retries_on_schedule_and_reset_cancels(aiohttp_server: Any) -> None:
    posts: list[bytes] = []

    async def merchant(request: web.Request) -> web.Response:
        posts.append(await request.read())
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/notify", merchant)
    server = await aiohttp_server(app)
    book = FaultBook()
    book.add("callbacks", [{"mode": "drop"}])
    notifier = kit.Notifier(book, kit.Schedule(retry_delays=(1.0,) * 50), time_scale=0.02)
    async with aiohttp.ClientSession() as http:
        notifier.http = http
        message = kit.Message(b"hello", headers=dict, acked=lambda status, _: status == 200)
        delivery = notifier.send(kit.Delivery("T1", "payment", "PAID", str(server.make_url("/notify"))), message)
        await asyncio.sleep(0.1)
        assert delivery.answers[0] == "dropped" and posts and not delivery.acked
        await notifier.close()
        sent = len(posts)
        await asyncio.sleep(0.1)
        assert len(posts) == sent  # nothing is retried after close


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {"alipay": alipay.generate_keys(), "wechat": wechat.generate_keys(), "unionpay": unionpay.generate_keys()}


@pytest.fixture
async def sandbox(aiohttp_server: Any, keys: dict[str, Any]) -> Any:
    root = web.Application()
    root.add_subapp("/sandbox", create_sandbox_app(keys, public_url="http://127.0.0.1/sandbox", time_scale=0.01))
    server = await aiohttp_server(root)
    async with aiohttp.ClientSession(base_url=str(server.make_url("/sandbox/"))) as http:
        yield http


async def _call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, path, json=body) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("channel", CHANNELS)
async def test_control_api_has_one_shape(sandbox: aiohttp.ClientSession, channel: str) -> None:
    c = f"{channel}/_control"
    status, added = await _call(sandbox, "POST", f"{c}/faults", {
        "api": {"operation": "query", "mode": "not_json"}, "callbacks": [{"mode": "drop"}, {"mode": "delay"}],
        "refunds": {"mode": "CLOSED"}})
    assert status == 200 and added["added"] == 4
    assert [f["mode"] for f in added["callbacks"]] == ["drop", "delay"] and added["api"][0]["operation"] == "query"
    assert (await _call(sandbox, "POST", f"{c}/faults", {"api": {"mode": "sideways"}}))[0] == 400
    assert (await _call(sandbox, "GET", f"{c}/faults"))[1] == {k: v for k, v in added.items() if k != "added"}
    assert await _call(sandbox, "GET", f"{c}/trades/NOPE") == (404, {"error": "no such trade"})
    assert await _call(sandbox, "POST", f"{c}/pay/NOPE") == (404, {"error": "no such trade"})
    assert await _call(sandbox, "GET", f"{c}/notifies") == (200, [])
    assert "notifications_sent" in (await _call(sandbox, "GET", f"{c}/stats"))[1]
    status, rotated = await _call(sandbox, "POST", f"{c}/rotate-keys")
    assert status == 200 and rotated
    assert await _call(sandbox, "POST", f"{c}/reset") == (200, {"ok": True})
    assert (await _call(sandbox, "GET", f"{c}/faults"))[1] == {"api": [], "callbacks": [], "refunds": []}


async def test_refund_timing_control(aiohttp_server: Any) -> None:
    """Delayed by default (times the time scale), immediate on request, refused when malformed; kept by reset."""
    from gateway.sandbox.kit import REFUND_TIMING

    app = web.Application()
    kit.install(app, public_url="http://sandbox.test", time_scale=0.01, schedule=kit.Schedule(retry_delays=()))
    assert app[REFUND_TIMING].delay() == pytest.approx(0.03)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        async with http.post(server.make_url("/_control/refund-timing"), json={"mode": "immediate"}) as resp:
            assert (await resp.json())["mode"] == "immediate"
        assert app[REFUND_TIMING].delay() is None
        async with http.post(server.make_url("/_control/refund-timing"), json={"mode": "soon"}) as resp:
            assert resp.status == 400
        async with http.post(server.make_url("/_control/refund-timing"),
                             json={"mode": "delayed", "seconds": 10}) as resp:
            assert (await resp.json()) == {"mode": "delayed", "seconds": 10.0, "time_scale": 0.01}
        assert app[REFUND_TIMING].delay() == pytest.approx(0.1)
