"""UnionPay transformers from recorded and protocol-shaped payloads: ids and times, request fields,
answers, notifies and the ZM reconciliation file."""
from __future__ import annotations

import base64
import zlib
from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.channels.base import CreateRequest, RefundRequest, VerificationError
from gateway.channels.unionpay import protocol as wire
from gateway.channels.unionpay import transformers as tx
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.sandbox.unionpay.service import zm_zip
from gateway.sandbox.unionpay.state import PAID, SUCCESS, Txn
from tests.channels.unionpay.recorded import TEST_ENV_NOTIFY

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 11:00 Beijing


def test_our_ids_become_order_ids_and_back() -> None:
    att = new_id("att")
    order = tx.order_id(att)
    assert wire.valid_order_id(order) and "_" not in order and len(order) == 27
    assert tx.our_id(order) == att
    assert tx.order_id("yansongda20220908132206") == "yansongda20220908132206"  # already valid: as is
    with pytest.raises(ValueError):
        tx.order_id("no-dashes")


def test_txn_time_is_read_from_the_id() -> None:
    att = new_id("att")
    sent = tx.id_time(att)
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 2
    assert tx.txn_time(att) == sent.astimezone(wire.BEIJING).strftime("%Y%m%d%H%M%S")
    assert tx.txn_time(att) == tx.txn_time(att)  # the same at create, query and refund time
    assert tx.txn_time("legacyorder1", NOW) == "20261130110000"


def test_parse_answer_splits_outside_braces() -> None:
    text = "respCode=00&reqReserved={a=1&b=[x&y]}&signPubKeyCert=-----BEGIN==\r\nabc&respMsg=成功"
    assert wire.parse_answer(text) == {"respCode": "00", "reqReserved": "{a=1&b=[x&y]}",
                                       "signPubKeyCert": "-----BEGIN==\r\nabc", "respMsg": "成功"}
    with pytest.raises(ValueError):
        wire.parse_answer("respCode=00&respCode=01")
    with pytest.raises(ValueError):
        wire.parse_answer("garbage")


def _create(method: str) -> CreateRequest:
    return CreateRequest(trade_no=new_id("att"), pay_method=method, amount=Money(2345), subject="Tea",
                         expires_at=NOW + timedelta(minutes=15), notify_url="https://gw.example/notify/x",
                         return_url="https://gw.example/pay/p/return")


def test_create_fields_per_pay_method() -> None:
    qr = tx.create_fields(_create("unionpay_qr"), "777290058110097")
    assert (qr["txnType"], qr["txnSubType"], qr["bizType"], qr["channelType"]) == ("01", "07", "000000", "08")
    assert "frontUrl" not in qr and qr["payTimeout"] == "20261130111500" and qr["txnAmt"] == "2345"
    wap = tx.create_fields(_create("unionpay_wap"), "777290058110097")
    page = tx.create_fields(_create("unionpay_page"), "777290058110097")
    assert (wap["txnSubType"], wap["bizType"], wap["channelType"]) == ("01", "000201", "08")
    assert page["channelType"] == "07" and page["frontUrl"] == "https://gw.example/pay/p/return"
    assert wap["currencyCode"] == "156" and wap["accessType"] == "0" and wap["version"] == "5.1.0"


def test_qr_answer() -> None:
    ok = tx.create_result({"respCode": "00", "qrCode": "https://qr.95516.com/00010000/01234"})
    assert ok.outcome is Outcome.SUCCESS and ok.action is not None and str(ok.action.qr).startswith("https://qr.")
    assert tx.create_result({"respCode": "03"}).outcome is Outcome.UNKNOWN
    assert tx.create_result({"respCode": "32", "respMsg": "商户无此交易权限"}).error_code == "32"


def test_query_answers() -> None:
    paid = {"respCode": "00", "origRespCode": "00", "txnAmt": "2345", "currencyCode": "156",
            "queryId": "782209081322060674028", "traceTime": "1130105959"}
    state = tx.trade_state(paid, NOW)
    assert (state.outcome, state.amount, state.channel_trade_no) == (Outcome.SUCCESS, Money(2345), paid["queryId"])
    assert state.paid_at == datetime(2026, 11, 30, 10, 59, 59, tzinfo=wire.BEIJING)
    assert tx.trade_state(paid | {"origRespCode": "A6"}, NOW).outcome is Outcome.SUCCESS
    assert tx.trade_state(paid | {"origRespCode": "05"}, NOW).outcome is Outcome.WAITING
    assert tx.trade_state(paid | {"origRespCode": "64"}, NOW).outcome is Outcome.WAITING  # front: intermediate
    assert tx.trade_state({"respCode": "34"}, NOW).outcome is Outcome.WAITING
    assert tx.trade_state({"respCode": "03"}, NOW).outcome is Outcome.UNKNOWN
    assert tx.trade_state(paid | {"currencyCode": "840"}, NOW).outcome is Outcome.UNKNOWN
    # a traceTime "in the future" belongs to last year (a query in January about December)
    jan = datetime(2027, 1, 1, 1, 0, tzinfo=UTC)
    assert tx.trade_state(paid | {"traceTime": "1231235959"}, jan).paid_at.year == 2026  # type: ignore[union-attr]


def _refund(amount: int, total: int = 2000) -> RefundRequest:
    return RefundRequest(refund_no=new_id("re"), trade_no=new_id("att"), amount=Money(amount), total=Money(total),
                         notify_url="https://gw.example/notify/unionpay", channel_trade_no="7822")


def test_undo_same_day_in_full_otherwise_refund() -> None:
    now = datetime.now(UTC)
    full, part = _refund(2000), _refund(500)
    late_evening = now.astimezone(wire.BEIJING).hour >= 23
    assert tx.is_cancel(full, now) is not late_evening
    assert not tx.is_cancel(part, now)
    assert not tx.is_cancel(full, now + timedelta(days=1))
    fields = tx.refund_fields(full, "777290058110097", "7822", cancel=True, biz="000201")
    assert (fields["txnType"], fields["origQryId"], fields["reqReserved"]) == ("31", "7822", full.trade_no)
    assert tx.our_id(fields["orderId"]) == full.refund_no and fields["txnTime"] == tx.txn_time(full.refund_no)
    assert tx.refund_fields(part, "1", "7822", cancel=False, biz="000201")["txnType"] == "04"


def test_refund_answers() -> None:
    assert tx.refund_result({"respCode": "00", "queryId": "q"}).outcome is Outcome.WAITING  # accepted only
    assert tx.refund_result({"respCode": "05"}).outcome is Outcome.UNKNOWN
    assert tx.refund_result({"respCode": "12"}).outcome is Outcome.UNKNOWN   # already there: query decides
    assert tx.refund_result({"respCode": "36"}).outcome is Outcome.CHANNEL_ERROR
    done = tx.refund_query_result({"respCode": "00", "origRespCode": "00", "txnAmt": "500", "queryId": "q2"})
    assert (done.outcome, done.amount, done.channel_refund_no) == (Outcome.SUCCESS, Money(500), "q2")
    assert tx.refund_query_result({"respCode": "00", "origRespCode": "05"}).outcome is Outcome.WAITING
    assert tx.refund_query_result({"respCode": "00", "origRespCode": "01"}).outcome is Outcome.FAIL
    missing = tx.refund_query_result({"respCode": "34"})
    assert missing.not_found and missing.outcome is Outcome.UNKNOWN


def test_the_recorded_consume_notify() -> None:
    note = tx.notification(TEST_ENV_NOTIFY, NOW)
    assert (note.kind, note.outcome, note.trade_no, note.amount) == ("payment", Outcome.SUCCESS,
                                                                     "yansongda20220908132206", Money(1))
    assert note.channel_trade_no == "782209081322060674028" and note.identities == {"mer_id": "777290058167151"}


def test_refund_notifies_name_our_trade_in_req_reserved() -> None:
    refund_no, trade = new_id("re"), new_id("att")
    base = {"txnType": "04", "respCode": "00", "orderId": tx.order_id(refund_no), "txnAmt": "300",
            "currencyCode": "156", "queryId": "q9", "merId": "7", "reqReserved": trade}
    note = tx.notification(base, NOW)
    assert (note.kind, note.outcome, note.trade_no, note.refund_no, note.refund_amount, note.amount) == \
        ("refund", Outcome.SUCCESS, trade, refund_no, Money(300), None)
    assert tx.notification(base | {"txnType": "31", "respCode": "01"}, NOW).outcome is Outcome.FAIL
    with pytest.raises(VerificationError):
        tx.notification(base | {"reqReserved": ""}, NOW)
    assert tx.notification(base | {"txnType": "02"}, NOW).kind == "unsupported"


def _txn(order: str, txn_type: str, amount: int, query_id: str, orig: str = "") -> Txn:
    return Txn(mer_id="777290058110097", order_id=order, txn_time="20261130100000", txn_type=txn_type,
               sub_type="01", biz_type="000201", channel_type="07", amount=amount, query_id=query_id,
               created_at=NOW, status=PAID if txn_type == "01" else SUCCESS, orig_qry_id=orig, trace_no="000001",
               trace_time="1130100000", settle_date="1130")


def test_zm_file_round_trip() -> None:
    att, re_ = new_id("att"), new_id("re")
    data = zm_zip([_txn(tx.order_id(att), "01", 1250, "113010000000000000001"),
                   _txn(tx.order_id(re_), "04", 250, "113010000000000000002", orig="113010000000000000001")],
                  "777290058110097", date(2026, 11, 30))
    content = base64.b64encode(zlib.compress(data)).decode()
    unzipped, error = tx.file_answer({"respCode": "00", "fileContent": content})
    assert error is None and unzipped == data
    lines = tx.bill_lines(tx.zm_records(data), date(2026, 11, 30))
    assert [(b.kind, b.trade_no, b.amount.minor, b.refund_no) for b in lines] == [
        ("payment", att, 1250, None), ("refund", att, 250, re_)]
    assert tx.file_answer({"respCode": "98"}) == (None, None)
    assert tx.file_answer({"respCode": "32"}) == (None, "32")


def test_zm_fields_are_cut_by_bytes_not_characters() -> None:
    line = " ".join(["S22", "中文".encode("gbk").decode("latin-1").ljust(11)]).encode("latin-1")
    assert tx.split_record(line, (3, 11)) == ["S22", "中文"]


def test_read_bill_streams_a_downloaded_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.channels.base import BillTotals
    from gateway.channels.unionpay import UnionPayFactory

    att, re_ = new_id("att"), new_id("re")
    path = tmp_path / "bill.zip"
    path.write_bytes(zm_zip([_txn(tx.order_id(att), "01", 1250, "113010000000000000001"),
                             _txn(tx.order_id(re_), "31", 1250, "113010000000000000002", orig="113010000000000000001")],
                            "777290058110097", date(2026, 11, 30)))
    stated = BillTotals()
    lines = list(UnionPayFactory.read_bill(path, stated))
    assert [(b.kind, b.trade_no, b.refund_no, b.at.date() if b.at else None) for b in lines] == [
        ("payment", att, None, date(2026, 11, 30)), ("refund", att, re_, date(2026, 11, 30))]
    assert stated.stated and (stated.pay_amount, stated.refund_amount) == (1250, 1250)
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError):
        list(UnionPayFactory.read_bill(path, BillTotals()))
