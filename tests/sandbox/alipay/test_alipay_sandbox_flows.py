"""End to end over HTTP: the real AlipayChannel against the sandbox, notifies to a merchant app."""
from __future__ import annotations

import asyncio
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from gateway.channels.alipay import transformers as tx
from gateway.channels.base import RefundRequest
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from tests.sandbox.alipay.alipay_env import Env


async def test_qr_precreate_scan_pay_notify_query(env: Env) -> None:
    created = await env.channel.create(env.request("Q1", fen=1234))
    assert created.outcome is Outcome.SUCCESS
    qr = created.action.qr
    assert qr.startswith(f"{env.sandbox_url}/qr/")
    before = await env.channel.query("Q1")  # not scanned: does not exist at Alipay, still payable
    assert (before.outcome, before.error_code) == (Outcome.WAITING, "ACQ.TRADE_NOT_EXIST")
    async with env.http.get(qr) as resp:  # scan
        page = await resp.text()
    assert "茶 Tea" in page and "12.34" in page and 'value="pay"' in page
    scanned = await env.channel.query("Q1")
    assert (scanned.outcome, scanned.error_code) == (Outcome.WAITING, None)
    await env.pay_page(qr)
    note = await env.note()
    assert (note.kind, note.outcome, note.trade_no, note.amount) == ("payment", Outcome.SUCCESS, "Q1", Money(1234))
    assert note.identities == env.channel.identities
    paid = await env.channel.query("Q1")
    assert (paid.outcome, paid.amount, paid.channel_trade_no) == (Outcome.SUCCESS, Money(1234), note.channel_trade_no)
    assert paid.paid_at is not None
    again = await env.channel.create(env.request("Q1", fen=1234))  # same out_trade_no, already paid
    assert (again.outcome, again.error_code) == (Outcome.CHANNEL_ERROR, "ACQ.TRADE_HAS_SUCCESS")


@pytest.mark.parametrize(("method", "api_method"), [("alipay_wap", tx.WAP_PAY), ("alipay_page", tx.PAGE_PAY)])
async def test_browser_pay_redirects_back_signed(env: Env, method: str, api_method: str) -> None:
    created = await env.channel.create(env.request(f"W-{method}", method, fen=1, quit_url="https://shop/quit"))
    url = created.action.url
    assert url.startswith(f"{env.sandbox_url}/gateway.do?")
    async with env.http.get(url) as resp:
        page = await resp.text()
    assert resp.status == 200 and 'data-status="WAIT_BUYER_PAY"' in page
    form_url = unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    resp = await env.pay_page(form_url)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith(f"{env.receiver_url}/return?")
    async with env.http.get(location) as back:
        assert back.status == 200
    ret = env.merchant.returns[-1]
    assert ret["method"] == f"{api_method}.return" and ret["out_trade_no"] == f"W-{method}"
    note = await env.note()
    assert (note.outcome, note.amount) == (Outcome.SUCCESS, Money(1))
    assert (await env.channel.query(f"W-{method}")).outcome is Outcome.SUCCESS


@pytest.mark.parametrize("method", ["alipay_page", "alipay_wap"])
async def test_cancel_on_page_leaves_the_trade_open(env: Env, method: str) -> None:
    """Leaving the cashier does not close the trade: it waits until it times out or the merchant closes it."""
    url = (await env.channel.create(env.request("C1", method))).action.url
    async with env.http.get(url) as resp:
        await resp.read()
    resp = await env.pay_page(url, "cancel")
    assert resp.status == 200
    assert (await env.channel.query("C1")).outcome is Outcome.WAITING
    assert (await env.control("GET", "trades/C1"))["trade_status"] == "WAIT_BUYER_PAY"
    assert env.merchant.notes.empty()
    assert (await env.control("POST", "pay/C1"))["trade_status"] == "TRADE_SUCCESS"  # still payable
    assert ((await env.note()).kind, (await env.channel.query("C1")).outcome) == ("payment", Outcome.SUCCESS)


async def test_close(env: Env) -> None:
    qr = (await env.channel.create(env.request("K1"))).action.qr
    unscanned = await env.channel.close("K1")
    assert (unscanned.outcome, unscanned.error_code) == (Outcome.SUCCESS, "ACQ.TRADE_NOT_EXIST")
    async with env.http.get(qr) as resp:
        await resp.read()
    assert (await env.channel.close("K1")).outcome is Outcome.SUCCESS
    assert (await env.channel.query("K1")).outcome is Outcome.FAIL
    twice = await env.channel.close("K1")  # closed already: the close is done (issue 15), read with a query
    assert (twice.outcome, twice.error_code) == (Outcome.SUCCESS, "ACQ.TRADE_STATUS_ERROR")
    await env.channel.create(env.request("K2"))
    await env.control("POST", "pay/K2")
    paid = await env.channel.close("K2")
    assert (paid.outcome, paid.error_code) == (Outcome.FAIL, "ACQ.TRADE_STATUS_ERROR")


async def test_refunds(env: Env) -> None:
    await env.channel.create(env.request("R", fen=1000))
    unpaid = await env.channel.refund(RefundRequest("r0", "R", Money(100), Money(1000)))
    assert (unpaid.outcome, unpaid.error_code) == (Outcome.CHANNEL_ERROR, "ACQ.TRADE_NOT_EXIST")
    await env.control("POST", "pay/R")
    assert (await env.note()).kind == "payment"
    r1 = RefundRequest("r1", "R", Money(300), Money(1000), reason="broken cup")
    assert (await env.channel.refund(r1)).outcome is Outcome.SUCCESS
    note = await env.note()
    assert (note.kind, note.outcome, note.refund_no, note.refund_amount) == ("refund", Outcome.SUCCESS, "r1",
                                                                            Money(300))
    again = await env.channel.refund(r1)  # same out_request_no: fund_change N -- confirmed by the query
    assert (again.outcome, again.error_code) == (Outcome.WAITING, "fund_change:N")
    other = await env.channel.refund(RefundRequest("r1", "R", Money(400), Money(1000)))
    assert (other.outcome, other.error_code) == (Outcome.CHANNEL_ERROR, "ACQ.DISCORDANT_REPEAT_REQUEST")
    over = await env.channel.refund(RefundRequest("r2", "R", Money(800), Money(1000)))
    assert (over.outcome, over.error_code) == (Outcome.CHANNEL_ERROR, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    assert (await env.channel.refund(RefundRequest("r2", "R", Money(700), Money(1000)))).outcome is Outcome.SUCCESS
    with pytest.raises(TimeoutError):  # a QR trade closed by a full refund: no TRADE_CLOSED notify
        await env.note(within=0.3)
    q1 = await env.channel.query_refund(r1)
    assert (q1.outcome, q1.amount) == (Outcome.SUCCESS, Money(300))
    missing = await env.channel.query_refund(RefundRequest("r9", "R", Money(1), Money(1000)))
    assert (missing.outcome, missing.error_code) == (Outcome.WAITING, "REFUND_NOT_FOUND")
    assert (await env.channel.query("R")).outcome is Outcome.SUCCESS  # closed by full refund, but was paid
    trade = await env.control("GET", "trades/R")
    assert trade["refunded_fen"] == 1000 and len(trade["refunds"]) == 2


async def test_a_refund_is_processing_then_done(env: Env) -> None:
    """By default a refund is accepted with fund_change=N, then done a little later: the refund query
    finds nothing until then, REFUND_SUCCESS after, and the refund notify comes when money moved."""
    await env.control("POST", "refund-timing", {"mode": "delayed", "seconds": 200})  # × 0.001: 0.2 s
    await env.channel.create(env.request("RD", fen=1000))
    await env.control("POST", "pay/RD")
    assert (await env.note()).kind == "payment"
    req = RefundRequest("rd1", "RD", Money(400), Money(1000))
    accepted = await env.channel.refund(req)
    assert (accepted.outcome, accepted.error_code) == (Outcome.WAITING, "fund_change:N")
    pending = await env.channel.query_refund(req)
    assert (pending.outcome, pending.not_found) == (Outcome.WAITING, True)
    note = await env.note()
    assert (note.kind, note.refund_no, note.refund_amount) == ("refund", "rd1", Money(400))
    done = await env.channel.query_refund(req)
    assert (done.outcome, done.amount) == (Outcome.SUCCESS, Money(400))


async def test_trade_closed_is_notified_for_wap_only(env: Env) -> None:
    """当面付 and 电脑网站 notify TRADE_SUCCESS only; 手机网站 also TRADE_CLOSED (close, full refund)."""
    for no, method in (("N-qr", "alipay_qr"), ("N-page", "alipay_page"), ("N-wap", "alipay_wap")):
        created = await env.channel.create(env.request(no, method))
        async with env.http.get(created.action.qr or created.action.url) as resp:  # scanned / opened
            await resp.read()
        await env.control("POST", f"pay/{no}")
        assert (await env.note()).trade_no == no
        assert (await env.channel.refund(RefundRequest(f"{no}-r", no, Money(1000), Money(1000)))).outcome \
            is Outcome.SUCCESS
    note = await env.note()
    assert (note.trade_no, note.kind, note.raw["trade_status"]) == ("N-wap", "refund", "TRADE_CLOSED")
    for no, method in (("X-qr", "alipay_qr"), ("X-page", "alipay_page"), ("X-wap", "alipay_wap")):
        created = await env.channel.create(env.request(no, method))
        async with env.http.get(created.action.qr or created.action.url) as resp:  # scanned / opened
            await resp.read()
        assert (await env.channel.close(no)).outcome is Outcome.SUCCESS
    note = await env.note()
    assert (note.trade_no, note.outcome) == ("X-wap", Outcome.FAIL)
    with pytest.raises(TimeoutError):
        await env.note(within=0.3)


async def test_expiry_closes_unpaid_trade(env: Env) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)  # 2-3 s to create, open, query
    url = (await env.channel.create(env.request("E1", "alipay_wap", expires_at=expires))).action.url
    async with env.http.get(url) as resp:
        await resp.read()
    assert (await env.channel.query("E1")).outcome is Outcome.WAITING
    await asyncio.sleep((expires - datetime.now(UTC)).total_seconds() + 0.7)
    note = await env.note()  # the sweeper closed it and told the merchant
    assert (note.outcome, note.trade_no) == (Outcome.FAIL, "E1")
    assert (await env.channel.query("E1")).outcome is Outcome.FAIL
    assert "TRADE_CLOSED" in (await env.control("POST", "pay/E1"))["error"]


async def test_bill(env: Env) -> None:
    for no in ("B1", "B2"):
        await env.channel.create(env.request(no, fen=250))
        await env.control("POST", f"pay/{no}")
    await env.channel.refund(RefundRequest("B1-r", "B1", Money(50), Money(250)))
    today = datetime.now(tx.BEIJING).date()
    lines = await env.channel.bill(today)
    assert sorted((line.kind, line.trade_no, line.amount.minor, line.refund_no) for line in lines) == [
        ("payment", "B1", 250, None), ("payment", "B2", 250, None), ("refund", "B1", 50, "B1-r")]
    assert await env.channel.bill(today - timedelta(days=3)) == []  # isp.bill_not_exist


async def test_bill_zip_is_gbk_without_utf8_flag(env: Env) -> None:
    await env.channel.create(env.request("Z1", fen=100))
    await env.control("POST", "pay/Z1")
    answer = await env.channel.call(tx.BILL_URL_QUERY, tx.bill_biz(datetime.now(tx.BEIJING).date()))
    async with env.http.get(answer.response["bill_download_url"]) as resp:
        data = await resp.read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        assert all(not info.flag_bits & 0x800 for info in infos)
        names = [info.filename.encode("cp437").decode("gbk") for info in infos]
        assert any(n.endswith("_业务明细.csv") for n in names) and any(n.endswith("_业务明细(汇总).csv") for n in names)
        detail = zf.read(infos[0]).decode("gbk")
    assert detail.startswith("#支付宝业务明细查询\r\n#账号：[") and "#导出时间：[" in detail
