"""The built-in notifier: the rules' conditions evaluated from the database, sent once when they start
firing and once when they resolve, by one process at a time, in each robot's own JSON (DingTalk signed
with its secret) or by e-mail -- received by local servers."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from gateway.config import Settings
from gateway.crypto.secrets import Secret
from gateway.domain.errors import DatabaseUnavailable
from gateway.observability.alerts import Notifier, feishu_sign, robot_request, send_email, send_robot
from gateway.store.base import utcnow
from gateway.store.tables import events
from tests.factories import Gateway, own_mysql_database, start_gateway
from tests.support.paying import pay_as_shopper
from tests.support.receiver import Hit, Receiver, receiver
from tests.support.smtp import mailbox
from tests.support.waiting import eventually, wait_status

ROBOT_SECRET = "SECdingtalk0123456789abcdef"
OK = {"dingtalk": {"errcode": 0, "errmsg": "ok"}, "wecom": {"errcode": 0, "errmsg": "ok"},
      "feishu": {"code": 0, "msg": "success"}}


def robot(rec: Receiver, kind: str) -> str:
    async def answer(hit: Hit) -> web.Response:
        return web.json_response(OK[kind])

    rec.handlers["/robot"] = answer
    return rec.endpoint("robot?access_token=tok")


def texts(rec: Receiver) -> list[str]:
    return [json.loads(h.body)["text"]["content"] for h in rec.hits if h.path == "/robot"]


def test_each_robot_gets_its_own_json_and_signature() -> None:
    url, body = robot_request("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t", ROBOT_SECRET,
                              "hello", clock=lambda: 1700000000.123)
    assert body == {"msgtype": "text", "text": {"content": "hello"}}
    query = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    assert query["access_token"] == "t" and query["timestamp"] == "1700000000123"
    expected = base64.b64encode(hmac.new(ROBOT_SECRET.encode(), f"1700000000123\n{ROBOT_SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    from urllib.parse import unquote_plus

    assert unquote_plus(query["sign"]) == expected
    assert robot_request("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", None, "hi") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", {"msgtype": "text", "text": {"content": "hi"}})
    url, body = robot_request("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/x", "fs", "hi",
                              clock=lambda: 1700000000.9)
    assert body == {"msg_type": "text", "content": {"text": "hi"}, "timestamp": "1700000000",
                    "sign": feishu_sign("fs", 1700000000)}
    assert feishu_sign("fs", 1700000000) == base64.b64encode(
        hmac.new(b"1700000000\nfs", b"", hashlib.sha256).digest()).decode()
    with pytest.raises(ValueError, match="GATEWAY_ALERT_WEBHOOK_KIND"):
        Settings.from_env({"GATEWAY_ALERT_WEBHOOK_KIND": "slack"})


@pytest.mark.parametrize("kind", ["wecom", "feishu"])
async def test_a_robot_that_refuses_the_message_is_an_error(kind: str) -> None:
    import aiohttp

    async with receiver() as rec, aiohttp.ClientSession() as http:
        settings = Settings.from_env({}, alert_webhook_url=Secret(robot(rec, kind)), alert_webhook_kind=kind)
        await send_robot(http, settings, "one line")
        hit = rec.hits[-1]
        body = json.loads(hit.body)
        assert body == ({"msgtype": "text", "text": {"content": "one line"}} if kind == "wecom"
                        else {"msg_type": "text", "content": {"text": "one line"}})

        async def refuse(hit: Hit) -> web.Response:
            return web.json_response({"errcode": 310000, "code": 19021, "errmsg": "keywords not in content"})

        rec.handlers["/robot"] = refuse
        with pytest.raises(RuntimeError, match="refused"):
            await send_robot(http, settings, "again")


async def test_email_alerts_reach_the_mailbox() -> None:
    async with mailbox() as box:
        settings = Settings.from_env({}, alert_smtp_url=Secret(f"smtp://127.0.0.1:{box.port}"),
                                     alert_email_to="ops@shop.example, oncall@shop.example",
                                     alert_email_from="gw@shop.example")
        await asyncio.to_thread(send_email, settings, "FIRING: stuck", "FIRING: stuck -- 2 payments")
    (sender, recipients, msg), = box.messages
    assert sender == "gw@shop.example" and recipients == ["ops@shop.example", "oncall@shop.example"]
    assert msg["Subject"] == "FIRING: stuck" and "2 payments" in msg.get_payload()


async def _age_events(gw: Gateway, hours: float) -> None:
    async def age() -> bool:  # the delivery loop updates the same rows: a deadlock's loser is told to retry
        try:
            async with gw.svc.db.begin() as conn:
                await conn.execute(sa.update(events).values(created_at=utcnow() - timedelta(hours=hours)))
            return True
        except DatabaseUnavailable:
            return False

    assert await eventually(age, seconds=10)


async def test_an_old_webhook_backlog_fires_once_then_resolves(database_url: str | None, tmp_path: Path) -> None:
    if database_url is None:
        await _backlog_fires_once_then_resolves(None, tmp_path)
    else:  # the backlog is every merchant's: other tests' undelivered events must not be in it
        async with own_mysql_database(database_url, "test_alerts") as url:
            await _backlog_fires_once_then_resolves(url, tmp_path)


async def _backlog_fires_once_then_resolves(database_url: str | None, tmp_path: Path) -> None:
    async with receiver() as rec:
        rec.status["/hooks"] = 500
        async with start_gateway(tmp_path, database_url=database_url, task_interval=0.05, task_time_scale=0.001,
                                 alert_webhook_url=Secret(robot(rec, "dingtalk")), alert_webhook_kind="dingtalk",
                                 alert_webhook_secret=Secret(ROBOT_SECRET), alert_interval=0.1) as gw:
            m = await gw.merchant(webhook_url=rec.endpoint("hooks"))
            p = await gw.create_payment(m, channel="alipay_qr")
            await pay_as_shopper(gw, p)
            await wait_status(gw, m, p["id"], "paid")
            await eventually(lambda: asyncio.sleep(0, rec.ids("hooks", ok_only=False)), seconds=10)
            await _age_events(gw, 1)  # the merchant's endpoint has been failing for an hour
            fired = await eventually(lambda: asyncio.sleep(0, texts(rec)), seconds=10)
            assert len(fired) == 1 and "FIRING: webhook_backlog_old" in fired[0], fired
            rec.status["/hooks"] = 200  # the endpoint is back: the retry delivers, the alert resolves
            both = await eventually(lambda: asyncio.sleep(0, texts(rec)), lambda t: len(t) >= 2, seconds=20)
            assert "RESOLVED: webhook_backlog_old" in both[1] and len(both) == 2, both
    robot_hits = [h for h in rec.hits if h.path == "/robot"]
    for hit in robot_hits:  # every message signed with the robot's secret
        ts = hit.query["timestamp"]
        digest = hmac.new(ROBOT_SECRET.encode(), f"{ts}\n{ROBOT_SECRET}".encode(), hashlib.sha256).digest()
        assert hit.query["sign"] == base64.b64encode(digest).decode() and hit.query["access_token"] == "tok"


async def test_one_sender_among_several_processes(tmp_path: Path) -> None:
    async with receiver() as rec, start_gateway(
            tmp_path, background=False, alert_webhook_url=Secret(robot(rec, "wecom")),
            alert_webhook_kind="wecom") as gw:
        m = await gw.merchant(webhook_url=rec.endpoint("hooks"))
        await gw.create_payment(m, channel="alipay_qr")
        async with gw.svc.db.begin() as conn:  # a pending payment an hour past its expiry
            from gateway.store.tables import payments

            await conn.execute(sa.update(payments).values(expires_at=utcnow() - timedelta(hours=1)))
        processes = [Notifier(gw.svc, gw.http) for _ in range(3)]
        sent = await asyncio.gather(*(n.round() for n in processes))
        assert sorted(sent) == [0, 0, 1]
        assert len(texts(rec)) == 1 and "FIRING: stuck_pending_payments" in texts(rec)[0]
        sender = processes[sent.index(1)]
        assert await sender.round() == 0  # still firing: not sent again before GATEWAY_ALERT_RENOTIFY
        assert len(texts(rec)) == 1


async def test_the_process_rates_fire_from_this_process_counts_since_the_last_round(tmp_path: Path) -> None:
    async with receiver() as rec, start_gateway(
            tmp_path, background=False, alert_webhook_url=Secret(robot(rec, "feishu")),
            alert_webhook_kind="feishu", alert_webhook_secret=Secret("fs")) as gw:
        notifier = Notifier(gw.svc, gw.http)
        metrics = gw.svc.metrics
        for _ in range(50):  # history before the first round counts for nothing
            metrics.http.add("api", "/api/v1/payments", "POST", 500, 0.01)
        assert await notifier.round() == 0
        for lag in (1, 2, 3, 40, 50):  # 2 of 5 callbacks more than 30 s late
            metrics.callback_lag.labels("wechat").observe(lag)
        for status in [200] * 90 + [502] * 10:
            metrics.http.add("api", "/api/v1/payments", "POST", status, 0.01)
        for outcome in ["ok"] * 10 + ["unknown"] * 2:
            metrics.channel_call("alipay", "query", outcome, 0.1)
        assert await notifier.round() == 3
        (hit,) = [h for h in rec.hits if h.path == "/robot"]
        body = json.loads(hit.body)
        assert body["sign"] == feishu_sign("fs", int(body["timestamp"]))
        text = body["content"]["text"]
        assert "FIRING: callback_lag -- 2 of 5 payment callbacks" in text
        assert "FIRING: high_5xx_rate -- 10 of 100 requests" in text
        assert "FIRING: channel_errors -- more than 5 % of calls fail at: alipay" in text
        assert await notifier.round() == 3  # nothing new since: all three resolve
        assert "RESOLVED: callback_lag" in json.loads(rec.hits[-1].body)["content"]["text"]
