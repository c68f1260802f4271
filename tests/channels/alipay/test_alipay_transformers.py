"""Pure transformer tests from recorded-shape (doc example) and constructed payloads."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.channels.alipay import transformers as tx
from gateway.channels.base import CreateRequest, RefundRequest, VerificationError
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction

EXPIRES = datetime(2024, 5, 1, 4, 30, 15, tzinfo=UTC)  # 12:30:15 in Beijing


def _req(method: str = "alipay_qr", **kw: object) -> CreateRequest:
    base: dict = dict(trade_no="P1", pay_method=method, amount=Money(1234), subject="Tea",
                      expires_at=EXPIRES, notify_url="https://m.example/notify")
    base.update(kw)
    return CreateRequest(**base)


def test_create_biz_yuan_and_beijing_expiry() -> None:
    biz = tx.create_biz(_req(description="two cups"))
    assert biz == {"out_trade_no": "P1", "total_amount": "12.34", "subject": "Tea",
                   "product_code": "FACE_TO_FACE_PAYMENT", "time_expire": "2024-05-01 12:30:15", "body": "two cups"}
    wap = tx.create_biz(_req("alipay_wap", quit_url="https://m.example/back", amount=Money(1)))
    assert wap["product_code"] == "QUICK_WAP_WAY" and wap["quit_url"] == "https://m.example/back"
    assert wap["total_amount"] == "0.01"
    assert tx.create_biz(_req("alipay_page"))["product_code"] == "FAST_INSTANT_TRADE_PAY"


def test_non_cny_refused() -> None:
    with pytest.raises(ValueError):
        tx.create_biz(_req(amount=Money(100, "USD")))


def test_timeout_express_rounds_down_min_one() -> None:
    now = EXPIRES - timedelta(minutes=15, seconds=59)
    assert tx.timeout_express(EXPIRES, now) == "15m"
    assert tx.timeout_express(EXPIRES, EXPIRES - timedelta(seconds=5)) == "1m"


def test_common_params_beijing_timestamp() -> None:
    p = tx.common_params("2021", tx.QUERY, datetime(2024, 1, 1, 16, 0, 0, tzinfo=UTC), notify_url="u")
    assert p["timestamp"] == "2024-01-02 00:00:00" and p["sign_type"] == "RSA2" and p["notify_url"] == "u"
    assert "return_url" not in p


def test_refund_biz() -> None:
    req = RefundRequest(refund_no="R1", trade_no="P1", amount=Money(500), total=Money(1234), reason="dup")
    assert tx.refund_biz(req) == {"out_trade_no": "P1", "refund_amount": "5.00", "out_request_no": "R1",
                                  "refund_reason": "dup"}
    assert tx.bill_biz(date(2024, 5, 1)) == {"bill_type": "trade", "bill_date": "2024-05-01"}


def test_loads_numbers_as_decimal() -> None:
    resp = tx.loads('{"code":"10000","trade_status":"TRADE_SUCCESS","total_amount":88.88,'
                    '"send_pay_date":"2017-03-21 13:29:17","trade_no":"2017"}')
    assert resp["total_amount"] == Decimal("88.88")
    state = tx.trade_state(resp)
    assert state.amount == Money(8888)
    assert state.paid_at == datetime(2017, 3, 21, 5, 29, 17, tzinfo=UTC)


# Doc example of alipay.trade.query (python-alipay-sdk docstring / open docs)
QUERY_OK = {"trade_no": "2017032121001004070200176844", "code": "10000", "invoice_amount": "20.00",
            "buyer_logon_id": "csq***@sandbox.com", "send_pay_date": "2017-03-21 13:29:17",
            "receipt_amount": "20.00", "out_trade_no": "out_trade_no15", "buyer_pay_amount": "20.00",
            "msg": "Success", "point_amount": "0.00", "trade_status": "TRADE_SUCCESS", "total_amount": "20.00"}


@pytest.mark.parametrize(("status", "outcome"), [
    ("TRADE_SUCCESS", Outcome.SUCCESS), ("TRADE_FINISHED", Outcome.SUCCESS),
    ("WAIT_BUYER_PAY", Outcome.WAITING), ("TRADE_CLOSED", Outcome.FAIL), ("SOMETHING_NEW", Outcome.UNKNOWN),
])
def test_trade_state(status: str, outcome: Outcome) -> None:
    resp = dict(QUERY_OK, trade_status=status)
    if status in ("WAIT_BUYER_PAY", "TRADE_CLOSED", "SOMETHING_NEW"):
        resp.pop("send_pay_date")
    state = tx.trade_state(resp)
    assert state.outcome is outcome
    assert state.channel_trade_no == "2017032121001004070200176844"
    if outcome is Outcome.SUCCESS:
        assert state.amount == Money(2000) and state.paid_at is not None


def test_closed_after_full_refund_was_paid() -> None:
    state = tx.trade_state(dict(QUERY_OK, trade_status="TRADE_CLOSED"))
    assert state.outcome is Outcome.SUCCESS


@pytest.mark.parametrize(("resp", "outcome"), [
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}, Outcome.WAITING),
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"}, Outcome.UNKNOWN),
    ({"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"}, Outcome.UNKNOWN),
    ({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"}, Outcome.CHANNEL_ERROR),
])
def test_query_failures(resp: dict, outcome: Outcome) -> None:
    state = tx.trade_state(resp)
    assert state.outcome is outcome and state.error_code == resp["sub_code"]


@pytest.mark.parametrize(("resp", "outcome"), [
    ({"code": "10000", "msg": "Success", "trade_no": "1", "out_trade_no": "P1"}, Outcome.SUCCESS),
    ({"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST"}, Outcome.SUCCESS),
    ({"code": "40004", "sub_code": "ACQ.TRADE_STATUS_ERROR"}, Outcome.FAIL),
    ({"code": "40004", "sub_code": "ACQ.TRADE_HAS_SUCCESS"}, Outcome.FAIL),
    ({"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"}, Outcome.UNKNOWN),
    ({"code": "40004", "sub_code": "ACQ.INVALID_PARAMETER"}, Outcome.CHANNEL_ERROR),
])
def test_close(resp: dict, outcome: Outcome) -> None:
    assert tx.close_result(resp).outcome is outcome


@pytest.mark.parametrize(("resp", "outcome"), [
    ({"code": "10000", "fund_change": "Y", "refund_fee": "88.88"}, Outcome.SUCCESS),
    # only fund_change=Y means money moved; N or absent: confirm with the refund query
    ({"code": "10000", "fund_change": "N", "refund_fee": "88.88"}, Outcome.WAITING),
    ({"code": "10000", "refund_fee": "88.88"}, Outcome.WAITING),
    ({"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"}, Outcome.UNKNOWN),
    ({"code": "40004", "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"}, Outcome.CHANNEL_ERROR),
    ({"code": "40004", "sub_code": "ACQ.DISCORDANT_REPEAT_REQUEST"}, Outcome.CHANNEL_ERROR),
])
def test_refund(resp: dict, outcome: Outcome) -> None:
    result = tx.refund_result(resp)
    assert result.outcome is outcome
    assert result.amount is None  # refund_fee is cumulative, never reported as this refund's amount


@pytest.mark.parametrize(("resp", "outcome", "amount"), [
    ({"code": "10000", "out_request_no": "R1", "refund_amount": "12.33", "refund_status": "REFUND_SUCCESS"},
     Outcome.SUCCESS, 1233),
    ({"code": "10000", "out_request_no": "R1", "refund_amount": "12.33"}, Outcome.SUCCESS, 1233),
    ({"code": "10000", "msg": "Success"}, Outcome.WAITING, None),
    ({"code": "10000", "out_request_no": "R1", "refund_amount": "1.00", "refund_status": "REFUND_FAIL"},
     Outcome.FAIL, 100),
    ({"code": "10000", "out_request_no": "R1", "refund_amount": "1.00", "refund_status": "REFUND_PROCESSING"},
     Outcome.WAITING, 100),
    ({"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"}, Outcome.UNKNOWN, None),
])
def test_refund_query(resp: dict, outcome: Outcome, amount: int | None) -> None:
    result = tx.refund_query_result(resp)
    assert result.outcome is outcome
    assert result.amount == (Money(amount) if amount is not None else None)


def test_create_result() -> None:
    ok = tx.create_result({"code": "10000", "msg": "Success", "out_trade_no": "P1",
                           "qr_code": "https://qr.alipay.com/bax03431ljhokirwl38f00a7"})
    assert ok.outcome is Outcome.SUCCESS and ok.action == PayAction.show_qr("https://qr.alipay.com/bax03431ljhokirwl38f00a7")
    bad = tx.create_result({"msg": "Business Failed", "sub_code": "ACQ.TOTAL_FEE_EXCEED", "code": "40004",
                            "sub_msg": "订单金额超过限额"})
    assert bad.outcome is Outcome.CHANNEL_ERROR and bad.error_code == "ACQ.TOTAL_FEE_EXCEED"
    assert tx.create_result({"code": "10000"}).outcome is Outcome.UNKNOWN


def test_bill_url() -> None:
    assert tx.bill_url({"code": "10000", "bill_download_url": "http://x"}) == ("http://x", None)
    assert tx.bill_url({"code": "40004", "sub_code": "isp.bill_not_exist"}) == (None, None)
    assert tx.bill_url({"code": "40004", "sub_code": "isv.invalid_arguments"}) == (None, "isv.invalid_arguments")


NOTIFY = {"gmt_create": "2015-04-27 15:45:57", "charset": "utf-8", "seller_email": "z@a.com",
          "subject": "T", "sign": "x", "buyer_id": "2088102122524333", "invoice_amount": "10.00",
          "notify_id": "4a91b7a78a503640467525113fb7d8bg8e", "fund_bill_list": '[{"amount":"10.00","fundChannel":"ALIPAYACCOUNT"}]',
          "notify_type": "trade_status_sync", "trade_status": "TRADE_SUCCESS", "receipt_amount": "10.00",
          "app_id": "2015102700040153", "buyer_pay_amount": "10.00", "sign_type": "RSA2",
          "seller_id": "2088102119685838", "gmt_payment": "2015-04-27 15:45:57", "notify_time": "2015-04-27 15:45:57",
          "version": "1.0", "out_trade_no": "6823789339978248", "total_amount": "10.00",
          "trade_no": "2015042721001004280031415613", "auth_app_id": "2015102700040153", "buyer_logon_id": "lhh***@163.com"}


def test_payment_notification() -> None:
    note = tx.notification(NOTIFY)
    assert (note.kind, note.outcome, note.trade_no, note.amount) == ("payment", Outcome.SUCCESS, "6823789339978248",
                                                                     Money(1000))
    assert note.identities == {"app_id": "2015102700040153", "seller_id": "2088102119685838"}
    assert note.event_id == "4a91b7a78a503640467525113fb7d8bg8e"
    assert note.paid_at == datetime(2015, 4, 27, 7, 45, 57, tzinfo=UTC)
    closed = tx.notification(dict(NOTIFY, trade_status="TRADE_CLOSED"))
    assert (closed.kind, closed.outcome) == ("payment", Outcome.FAIL)


def test_refund_notification_cumulative_fee() -> None:
    note = tx.notification(dict(NOTIFY, out_biz_no="R2", refund_fee="7.50", gmt_refund="2015-04-28 15:45:57.320"))
    assert (note.kind, note.outcome, note.refund_no, note.refund_amount) == ("refund", Outcome.SUCCESS, "R2",
                                                                            Money(750))
    full = tx.notification(dict(NOTIFY, trade_status="TRADE_CLOSED", out_biz_no="R3", refund_fee="10.00"))
    assert (full.kind, full.outcome, full.refund_amount) == ("refund", Outcome.SUCCESS, Money(1000))


@pytest.mark.parametrize("change", [{"out_trade_no": ""}, {"trade_status": ""}, {"total_amount": "1.234"}])
def test_malformed_notification(change: dict) -> None:
    with pytest.raises(VerificationError):
        tx.notification(dict(NOTIFY, **change))


def test_unsupported_notification_is_data() -> None:
    assert tx.notification(dict(NOTIFY, trade_status="WHATEVER")).kind == "unsupported"


BILL = "\r\n".join([
    "#支付宝业务明细查询", "#账号：[20881234567890120156]",
    "#起始日期：[2019年09月16日 00:00:00]   终止日期：[2019年09月17日 00:00:00]",
    "#-----------------------------------------业务明细列表----------------------------------------",
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
    "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
    "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
    "2019091622001453\t,P1\t,交易,Tea,2019-09-16 10:00:00,2019-09-16 10:00:05,,,,,abc***@x.com,12.34,12.34,"
    "0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.07,0.00,",
    "2019091622001453\t,P1\t,退款,Tea,2019-09-16 10:00:00,2019-09-16 11:00:00,,,,,abc***@x.com,-2.00,-2.00,"
    "0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R1\t,0.01,0.00,",
    "#-----------------------------------------业务明细列表结束------------------------------------",
    "#交易合计：1笔，商家实收共12.34元，商家优惠共0.00元", "#退款合计：1笔，商家实收退款共-2.00元，商家优惠退款共0.00元",
    "#导出时间：[2019年09月17日 09:00:00]", ""])


def test_bill_lines() -> None:
    pay, refund = tx.bill_lines(BILL)
    assert (pay.kind, pay.trade_no, pay.channel_trade_no, pay.amount, pay.refund_no) == (
        "payment", "P1", "2019091622001453", Money(1234), None)
    assert (refund.kind, refund.amount, refund.refund_no) == ("refund", Money(200), "R1")
    assert refund.at == datetime(2019, 9, 16, 3, 0, 0, tzinfo=UTC)


def test_bill_without_header_is_malformed() -> None:
    with pytest.raises(ValueError):
        tx.bill_lines("#支付宝业务明细查询\r\n")
