"""WeChat Pay APIv2's signature and XML, byte for byte against the published example (安全规范,
chapter=4_3: appid wxd930ea5d5a258f4f, mch_id 10000100, device_info 1000, body test, nonce_str
ibuaiVcKdpRxkhJA, key 192006250b4c09247ec02edce69f6a2d), and the micropay answers in our terms."""
from __future__ import annotations

import pytest

from gateway.channels.wechat import micropay, v2
from gateway.domain.outcomes import Outcome

DOC_PARAMS = {"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000", "body": "test",
              "nonce_str": "ibuaiVcKdpRxkhJA"}
DOC_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_sign_string_is_the_documented_one() -> None:
    assert v2.sign_string(DOC_PARAMS, DOC_KEY) == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        "&key=192006250b4c09247ec02edce69f6a2d")


def test_signatures_are_the_documented_ones() -> None:
    assert v2.sign(DOC_PARAMS, DOC_KEY, v2.MD5) == "9A0A8659F005D6984697E2CA0A9CF3B7"
    assert v2.sign(DOC_PARAMS, DOC_KEY, v2.HMAC_SHA256) == \
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"


def test_sign_skips_empty_values_and_sign_but_covers_sign_type() -> None:
    with_extras = {**DOC_PARAMS, "attach": "", "sign": "WHATEVER"}
    assert v2.sign(with_extras, DOC_KEY, v2.MD5) == "9A0A8659F005D6984697E2CA0A9CF3B7"
    typed = {**DOC_PARAMS, "sign_type": v2.HMAC_SHA256}
    assert "&sign_type=HMAC-SHA256&key=" in v2.sign_string(typed, DOC_KEY)
    signed = {**typed, "sign": v2.sign(typed, DOC_KEY)}
    assert v2.verify(signed, DOC_KEY, v2.HMAC_SHA256)
    assert not v2.verify({**signed, "body": "tampered"}, DOC_KEY, v2.HMAC_SHA256)
    assert not v2.verify(signed, DOC_KEY, v2.MD5)  # the sign type is not the answer's to choose


def test_xml_round_trip_escapes_and_refuses_doctypes() -> None:
    params = {"body": "测试 <b>&amp; ]]>", "total_fee": "1"}
    assert v2.from_xml(v2.to_xml(params)) == params
    with pytest.raises(ValueError):
        v2.from_xml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><a>&a;</a></xml>')
    with pytest.raises(ValueError):
        v2.from_xml(b"<xml><a><b>1</b></a></xml>")
    with pytest.raises(ValueError):
        v2.to_xml({"bad name": "x"})


PAID = {"return_code": "SUCCESS", "result_code": "SUCCESS", "transaction_id": "4200000001", "total_fee": "1234",
        "time_end": "20240101120000", "trade_type": "MICROPAY"}


@pytest.mark.parametrize(("data", "outcome", "state", "code"), [
    (PAID, Outcome.SUCCESS, Outcome.SUCCESS, None),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "USERPAYING"}, Outcome.SUCCESS, Outcome.WAITING,
     None),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "NOTENOUGH"}, Outcome.CHANNEL_ERROR, None,
     "NOTENOUGH"),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "AUTHCODEEXPIRE"}, Outcome.CHANNEL_ERROR, None,
     "AUTHCODEEXPIRE"),
    ({"return_code": "FAIL", "return_msg": "签名错误"}, Outcome.CHANNEL_ERROR, None, "RETURN_FAIL"),
])
def test_micropay_answers(data: dict[str, str], outcome: Outcome, state: Outcome | None, code: str | None) -> None:
    result = micropay.pay_result(micropay.Answer(data))
    assert result is not None
    assert result.outcome is outcome and result.error_code == code
    assert (result.state.outcome if result.state else None) is state
    if state is Outcome.SUCCESS:
        assert result.state is not None and result.state.amount is not None and result.state.amount.minor == 1234
        assert result.state.channel_trade_no == "4200000001" and result.state.paid_at is not None


@pytest.mark.parametrize("err_code", ["SYSTEMERROR", "BANKERROR", "ORDERPAID"])
def test_unclear_micropay_answers_ask_the_query(err_code: str) -> None:
    answer = micropay.Answer({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": err_code})
    assert micropay.pay_result(answer) is None
    assert micropay.pay_result(micropay.Answer(None, "TIMEOUT")) is None


@pytest.mark.parametrize(("trade_state", "outcome"), [
    ("SUCCESS", Outcome.SUCCESS), ("REFUND", Outcome.SUCCESS), ("USERPAYING", Outcome.WAITING),
    ("NOTPAY", Outcome.WAITING), ("REVOKED", Outcome.FAIL), ("CLOSED", Outcome.FAIL), ("PAYERROR", Outcome.FAIL),
])
def test_orderquery_states(trade_state: str, outcome: Outcome) -> None:
    data = {**PAID, "trade_state": trade_state}
    assert micropay.query_state(micropay.Answer(data)).outcome is outcome


@pytest.mark.parametrize(("data", "outcome"), [
    ({"return_code": "SUCCESS", "result_code": "SUCCESS", "recall": "N"}, Outcome.SUCCESS),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "SYSTEMERROR", "recall": "Y"}, Outcome.UNKNOWN),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "ORDERNOTEXIST", "recall": "N"}, Outcome.SUCCESS),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "REVERSE_EXPIRE", "recall": "N"},
     Outcome.CHANNEL_ERROR),
])
def test_reverse_answers(data: dict[str, str], outcome: Outcome) -> None:
    assert micropay.reverse_result(micropay.Answer(data)).outcome is outcome
