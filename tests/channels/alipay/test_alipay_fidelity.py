"""Deviations from Alipay's published behaviour, fixed, each pinned by a documented payload: the refund's
``fund_change``, unsigned gateway refusals, the ``\\/`` verification fallback and the bill's refund column.
Answers are served by a small real server (a fake Alipay gateway.do) to the real AlipayChannel."""
from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.channels.alipay import AlipayChannel, AlipayFactory, signing
from gateway.channels.alipay import transformers as tx
from gateway.channels.base import BillTotals, RefundRequest, TradeRef
from gateway.crypto import rsa
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.sandbox.alipay import merchant_credentials
from tests.support.net import free_port

Answer = Callable[[dict[str, str]], str]


@pytest.fixture
async def fake_alipay(alipay_keys: dict[str, Any]) -> AsyncIterator[tuple[list[Answer], AlipayChannel]]:
    """``answers.append(fn)``: the next gateway.do call is answered with ``fn(params)`` (raw body text)."""
    answers: list[Answer] = []

    async def gateway_do(request: web.Request) -> web.Response:
        params = dict(request.query)
        params.update(await request.post())  # type: ignore[arg-type]
        return web.Response(text=answers.pop(0)(params), content_type="application/json")

    app = web.Application()
    app.router.add_post("/gateway.do", gateway_do)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            channel = AlipayFactory(timeout=2).open(merchant_credentials(alipay_keys), http,
                                                    f"http://127.0.0.1:{port}/gateway.do")
            yield answers, channel
    finally:
        await runner.cleanup()


def signed(keys: dict[str, Any], key: str, inner_text: str, *, signed_text: str | None = None) -> str:
    """``{"<key>":<inner_text>,"sign":…}``, the signature over ``signed_text`` (default: the text itself)."""
    alipay_key = rsa.load_private_key(keys["alipay_private_key"])
    return signing.signed_response_body(key, inner_text, signing.sign(alipay_key, signed_text or inner_text))


def refund_request() -> RefundRequest:
    return RefundRequest(refund_no="R1", trade_no="P1", amount=Money(1000), total=Money(1000))


# The alipay.trade.refund answer of the docs' example, with and without money moved.
REFUND_ANSWER = ('{"code":"10000","msg":"Success","trade_no":"2014112611001004680073956707",'
                 '"out_trade_no":"P1","buyer_logon_id":"159****5620","fund_change":"%s","refund_fee":"10.00",'
                 '"gmt_refund_pay":"2014-11-27 15:45:57","buyer_user_id":"2088101117955611"}')


async def test_refund_with_fund_change_n_waits_for_the_refund_query(
        fake_alipay: tuple[list[Answer], AlipayChannel], alipay_keys: dict[str, Any]) -> None:
    answers, channel = fake_alipay
    answers.append(lambda p: signed(alipay_keys, "alipay_trade_refund_response", REFUND_ANSWER % "N"))
    waiting = await channel.refund(refund_request())
    assert waiting.outcome is Outcome.WAITING, waiting
    # the refund query settles it: REFUND_SUCCESS (the fastpay.refund.query docs' example)
    answers.append(lambda p: signed(alipay_keys, "alipay_trade_fastpay_refund_query_response",
                                    '{"code":"10000","msg":"Success","trade_no":"2014112611001004680073956707",'
                                    '"out_trade_no":"P1","out_request_no":"R1","total_amount":"10.00",'
                                    '"refund_amount":"10.00","refund_status":"REFUND_SUCCESS"}'))
    done = await channel.query_refund(refund_request())
    assert done.outcome is Outcome.SUCCESS and done.amount == Money(1000), done
    answers.append(lambda p: signed(alipay_keys, "alipay_trade_refund_response", REFUND_ANSWER % "Y"))
    assert (await channel.refund(refund_request())).outcome is Outcome.SUCCESS


# Unsigned gateway refusals as Alipay sends them (python-alipay-sdk's _verify_and_return_sync_response
# documents both shapes: an isv.* refusal without sign, and error_response with an empty sign).
WRONG_APP = ('{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments",'
             '"sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}')
ERROR_RESPONSE = ('{"error_response":{"code":"40001","msg":"Missing Required Arguments",'
                  '"sub_code":"isv.missing-method","sub_msg":"缺少方法名参数"},"sign":""}')


@pytest.mark.parametrize(("body", "code"), [(WRONG_APP, "isv.invalid-app-id"), (ERROR_RESPONSE, "isv.missing-method")])
async def test_unsigned_gateway_refusals_are_declines_with_their_code(
        fake_alipay: tuple[list[Answer], AlipayChannel], body: str, code: str) -> None:
    answers, channel = fake_alipay
    answers.append(lambda p: body)
    state = await channel.query(TradeRef("P1"))
    assert (state.outcome, state.error_code) == (Outcome.CHANNEL_ERROR, code), state
    answers.append(lambda p: body.replace("alipay_trade_query", "alipay_trade_refund"))
    refused = await channel.refund(refund_request())
    assert (refused.outcome, refused.error_code) == (Outcome.CHANNEL_ERROR, code), refused


@pytest.mark.parametrize("body", [
    # a success without sign, and a business answer without sign: never believed
    '{"alipay_trade_refund_response":{"code":"10000","msg":"Success","fund_change":"Y","refund_fee":"10.00"}}',
    '{"alipay_trade_refund_response":{"code":"40004","msg":"Business Failed",'
    '"sub_code":"ACQ.TRADE_STATUS_ERROR","sub_msg":"交易状态不合法"}}',
])
async def test_other_unsigned_answers_stay_unknown(fake_alipay: tuple[list[Answer], AlipayChannel], body: str) -> None:
    answers, channel = fake_alipay
    answers.append(lambda p: body)
    result = await channel.refund(refund_request())
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "UNSIGNED"), result


async def test_an_answer_escaping_slashes_verifies_with_the_fallback(
        fake_alipay: tuple[list[Answer], AlipayChannel], alipay_keys: dict[str, Any]) -> None:
    """Alipay signs the URL as ``https://…``; the body may carry it JSON-escaped as ``https:\\/\\/…``."""
    plain = ('{"code":"10000","msg":"Success","bill_download_url":'
             '"http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip"}')
    escaped = plain.replace("/", "\\/")
    assert json.loads(escaped) == json.loads(plain)
    answers, channel = fake_alipay
    answers.append(lambda p: signed(alipay_keys, "alipay_data_dataservice_bill_downloadurl_query_response",
                                    escaped, signed_text=plain))
    answer = await channel.call(tx.BILL_URL_QUERY, tx.bill_biz(date(2024, 5, 1)))
    assert answer.response is not None and answer.response["bill_download_url"].startswith("http://dwbillcenter")
    # the fallback is only the /-unescaping: another text still fails
    answers.append(lambda p: signed(alipay_keys, "alipay_data_dataservice_bill_downloadurl_query_response",
                                    escaped, signed_text=plain.replace("csv.zip", "csv")))
    failed = await channel.call(tx.BILL_URL_QUERY, tx.bill_biz(date(2024, 5, 1)))
    assert (failed.response, failed.error_code) == (None, "SIGNATURE_INVALID")


def test_a_partial_refund_row_is_read_from_the_received_column() -> None:
    """A refund row whose 订单金额 holds the order's total (100.00) and 商家实收 the refund (-30.00)."""
    bill = "\r\n".join([
        "#支付宝业务明细查询", "#账号：[20881234567890120156]",
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
        "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
        "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
        "2019091622001453\t,P1\t,交易,Tea,2019-09-16 10:00:00,2019-09-16 10:00:05,,,,,abc***@x.com,100.00,100.00,"
        "0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.60,0.00,",
        "2019091622001453\t,P1\t,退款,Tea,2019-09-16 10:00:00,2019-09-16 11:00:00,,,,,abc***@x.com,100.00,-30.00,"
        "0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R1\t,0.18,0.00,",
        "#交易合计：1笔，商家实收共100.00元，商家优惠共0.00元", "#退款合计：1笔，商家实收退款共-30.00元，商家优惠退款共0.00元", ""])
    stated = BillTotals()
    pay, refund = list(tx.iter_bill(io.StringIO(bill), stated))
    assert (pay.amount, refund.kind, refund.amount, refund.refund_no) == (Money(10000), "refund", Money(3000), "R1")
    assert (stated.refund_count, stated.refund_amount) == (1, 3000)
