"""Pure request/response conversions, from documented payload shapes."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.channels.base import CreateRequest, CreateResult, RefundRequest
from gateway.channels.wechat import transformers as tf
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome

EXPIRES = datetime(2018, 6, 8, 2, 34, 56, 789, tzinfo=UTC)


def req(method: str, **kw: object) -> CreateRequest:
    return CreateRequest(trade_no="1217752501201407033233368018", pay_method=method, amount=Money(100),
                         subject="Image形象店-深圳腾大-QQ公仔", expires_at=EXPIRES, notify_url="https://x.example/n",
                         **kw)  # type: ignore[arg-type]


def test_create_bodies() -> None:
    native = tf.create_body(req("wechat_native"), appid="wxd678efh567hg6787", mchid="1230000109")
    assert native == {"appid": "wxd678efh567hg6787", "mchid": "1230000109",
                      "description": "Image形象店-深圳腾大-QQ公仔", "out_trade_no": "1217752501201407033233368018",
                      "time_expire": "2018-06-08T10:34:56+08:00", "notify_url": "https://x.example/n",
                      "amount": {"total": 100, "currency": "CNY"}}
    h5 = tf.create_body(req("wechat_h5", client_ip="1.2.3.4"), appid="a", mchid="m")
    assert h5["scene_info"] == {"payer_client_ip": "1.2.3.4", "h5_info": {"type": "Wap"}}
    jsapi = tf.create_body(req("wechat_jsapi", payer_id="oUp"), appid="a", mchid="m")
    assert jsapi["payer"] == {"openid": "oUp"}
    with pytest.raises(ValueError):
        tf.create_body(req("wechat_h5"), appid="a", mchid="m")
    with pytest.raises(ValueError):
        tf.create_body(req("wechat_jsapi"), appid="a", mchid="m")


def test_description_trimmed_by_character() -> None:
    assert tf.trim_description("商" * 200) == "商" * 127
    assert tf.trim_description("a\nb\x00c") == "a b c"
    assert tf.trim_description("   ") == "-"


def test_parse_create() -> None:
    native = tf.parse_create("wechat_native", {"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"})
    assert isinstance(native, CreateResult) and native.action is not None
    assert native.action.to_json() == {"type": "qr", "qr": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}
    h5 = tf.parse_create("wechat_h5", {"h5_url": "https://wx.tenpay.com/x"})
    assert isinstance(h5, CreateResult) and h5.outcome is Outcome.SUCCESS and h5.action is not None
    assert h5.action.with_return("https://gw/pay/1") == "https://wx.tenpay.com/x?redirect_url=https%3A%2F%2Fgw%2Fpay%2F1"
    assert tf.parse_create("wechat_jsapi", {"prepay_id": "wx1"}) == "wx1"  # the client signs the bridge params
    with pytest.raises(tf.Malformed):
        tf.parse_create("wechat_jsapi", {})


PAID = {"appid": "wx", "mchid": "1", "out_trade_no": "T1", "transaction_id": "4200000001", "trade_state": "SUCCESS",
        "success_time": "2018-06-08T10:34:56+08:00", "amount": {"total": 100, "payer_total": 100, "currency": "CNY"}}


@pytest.mark.parametrize(("state", "outcome"), [
    ("SUCCESS", Outcome.SUCCESS), ("REFUND", Outcome.SUCCESS), ("NOTPAY", Outcome.WAITING),
    ("USERPAYING", Outcome.WAITING), ("CLOSED", Outcome.FAIL), ("REVOKED", Outcome.FAIL), ("PAYERROR", Outcome.FAIL)])
def test_trade_states(state: str, outcome: Outcome) -> None:
    assert tf.parse_trade({**PAID, "trade_state": state}, "T1").outcome is outcome


def test_paid_trade_details_and_bad_amounts() -> None:
    state = tf.parse_trade(PAID, "T1")
    assert (state.amount, state.channel_trade_no) == (Money(100), "4200000001")
    assert state.paid_at == datetime(2018, 6, 8, 2, 34, 56, tzinfo=UTC)
    for amount in (Decimal("1.5"), "100", True, None):
        with pytest.raises(tf.Malformed):
            tf.parse_trade({**PAID, "amount": {"total": amount}}, "T1")
    with pytest.raises(tf.Malformed):
        tf.parse_trade(PAID, "T2")


def test_error_mapping() -> None:
    assert tf.query_error(404, "ORDER_NOT_EXIST", "").outcome is Outcome.FAIL
    assert tf.query_error(500, "SYSTEM_ERROR", "").outcome is Outcome.UNKNOWN
    assert tf.query_error(429, "FREQUENCY_LIMITED", "").outcome is Outcome.UNKNOWN
    assert tf.query_error(400, "PARAM_ERROR", "").outcome is Outcome.CHANNEL_ERROR
    assert tf.close_result(204, None, None).outcome is Outcome.SUCCESS
    assert tf.close_result(400, "ORDERPAID", None).outcome is Outcome.FAIL
    assert tf.close_result(404, "ORDER_NOT_EXIST", None).outcome is Outcome.SUCCESS
    assert tf.close_result(500, "SYSTEM_ERROR", None).outcome is Outcome.UNKNOWN
    assert tf.refund_error(403, "NOT_ENOUGH", None).outcome is Outcome.CHANNEL_ERROR
    assert tf.refund_error(400, "SYSTEM_ERROR", None).outcome is Outcome.UNKNOWN


def test_refunds() -> None:
    body = tf.refund_body(RefundRequest("R1", "T1", Money(30), Money(100), reason="x", notify_url="https://n"))
    assert body == {"out_refund_no": "R1", "out_trade_no": "T1", "reason": "x", "notify_url": "https://n",
                    "amount": {"refund": 30, "total": 100, "currency": "CNY"}}
    assert "transaction_id" in tf.refund_body(RefundRequest("R1", "T1", Money(1), Money(2), channel_trade_no="42"))
    answer = {"out_refund_no": "R1", "refund_id": "50", "amount": {"refund": 30, "total": 100, "currency": "CNY"}}
    for status, outcome in (("SUCCESS", Outcome.SUCCESS), ("PROCESSING", Outcome.WAITING),
                            ("CLOSED", Outcome.FAIL), ("ABNORMAL", Outcome.FAIL)):
        assert tf.parse_refund({**answer, "status": status}, "R1").outcome is outcome


def test_notifications() -> None:
    envelope = {"id": "EV-1", "event_type": "TRANSACTION.SUCCESS"}
    note = tf.parse_notification(envelope, PAID)
    assert (note.kind, note.outcome, note.amount, note.event_id) == ("payment", Outcome.SUCCESS, Money(100), "EV-1")
    assert note.identities == {"mchid": "1", "appid": "wx"}
    refund = {"mchid": "1", "out_trade_no": "T1", "transaction_id": "42", "refund_id": "50", "out_refund_no": "R1",
              "refund_status": "SUCCESS", "amount": {"total": 100, "refund": 30, "payer_total": 100,
                                                      "payer_refund": 30}}
    for event, outcome in (("REFUND.SUCCESS", Outcome.SUCCESS), ("REFUND.ABNORMAL", Outcome.FAIL),
                           ("REFUND.CLOSED", Outcome.FAIL)):
        note = tf.parse_notification({"event_type": event}, refund)
        assert (note.kind, note.outcome, note.refund_amount, note.refund_no) == ("refund", outcome, Money(30), "R1")
        assert note.channel_refund_no == "50"
    # a genuine event we do not act on is data, not an error: acknowledged and ignored by the core
    other = tf.parse_notification({"event_type": "MARKETING.X"}, {"mchid": "1"})
    assert (other.kind, other.trade_no) == ("unsupported", "")


# The shape of the wechatpay-go fixture (protocols.md §2.8), one payment and one refund.
BILL = (
    "\ufeff交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,"
    "订单金额,申请退款金额,费率备注\r\n"
    "`2021-01-28 17:07:11,`wx81be,`1601959334,`0,`,`4200000900,`S2021,`ofyak,`NATIVE,`SUCCESS,`OTHERS,`CNY,"
    "`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for, testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`\r\n"
    "`2021-01-29 10:00:00,`wx81be,`1601959334,`0,`,`4200000900,`S2021,`ofyak,`NATIVE,`REFUND,`OTHERS,`CNY,"
    "`0.00,`0.00,`50300,`R1,`0.01,`0.00,`ORIGINAL,`SUCCESS,`for testing,`,`-0.00000,`1.00%,`0.01,`0.01,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`2,`0.01,`0.01,`0.00,`0.00000,`0.01,`0.01\r\n")


def test_bill_parsing() -> None:
    payment, refund = tf.parse_bill(BILL)
    assert (payment.kind, payment.trade_no, payment.channel_trade_no, payment.amount) == (
        "payment", "S2021", "4200000900", Money(1))
    assert payment.at == datetime(2021, 1, 28, 17, 7, 11, tzinfo=tf.CHINA)
    assert (refund.kind, refund.refund_no, refund.amount) == ("refund", "R1", Money(1))
    assert tf.parse_bill("") == []
    with pytest.raises(tf.Malformed):
        tf.parse_bill(BILL.replace("`1.00%,`0.01,", "`1.00%,`0.011,", 1))


def test_bill_commas_in_attach_and_product_name_keep_the_row() -> None:
    """Fields are backtick-prefixed, not CSV-quoted: a comma in 商户数据包 (attach) or 商品名称 is text."""
    row = BILL.split("\r\n")[1]
    cells = row[1:].split(",`")
    cells[20], cells[21] = "tea, green", "order=42,shop=7,note=a,b"
    text = BILL.replace(row, "`" + ",`".join(cells))
    payment, refund = tf.parse_bill(text)
    assert (payment.trade_no, payment.channel_trade_no, payment.amount, payment.fee) == (
        "S2021", "4200000900", Money(1), 0)
    assert (refund.refund_no, refund.amount) == ("R1", Money(1))


def test_a_trade_asked_by_transaction_id_is_checked_by_it() -> None:
    state = tf.parse_trade(PAID, None, transaction_id=PAID["transaction_id"])
    assert (state.outcome, state.channel_trade_no) == (Outcome.SUCCESS, PAID["transaction_id"])
    with pytest.raises(tf.Malformed):
        tf.parse_trade(PAID, None, transaction_id="4200999")
