"""Signature messages byte for byte, and agreement with an independent implementation (wechatpayv3)."""
from __future__ import annotations

import pytest
import wechatpayv3.utils as wx

from gateway.channels.wechat import signing
from gateway.crypto import rsa


@pytest.fixture(scope="module")
def key() -> rsa.PrivateKey:
    return rsa.generate_private_key()


def test_request_message_is_exact() -> None:
    assert signing.request_message("get", "/v3/certificates", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242",
                                   b"") == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    assert signing.request_message("POST", "/v3/x?a=1", "1", "N", '{"a":"中"}'.encode()) == (
        'POST\n/v3/x?a=1\n1\nN\n{"a":"中"}\n'.encode())
    assert signing.response_message("1", "N", b"") == b"1\nN\n\n"  # a 204 still ends with its newline


def test_authorization_matches_wechatpayv3(key: rsa.PrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wx.time, "time", lambda: 1554208460.5)
    body = '{"mchid": "1900009191", "amount": {"total": 1}}'
    theirs = wx.build_authorization("/v3/pay/transactions/native", "POST", "1900009191", "ABC123", key,
                                    data=body, nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242")
    ours = signing.authorization(key, mchid="1900009191", serial_no="ABC123", method="POST",
                                 path_qs="/v3/pay/transactions/native", body=body.encode(),
                                 timestamp="1554208460", nonce="593BEC0C930BF1AFEB40B4A08C8FB242")
    assert ours == theirs
    assert signing.parse_authorization(ours) == {
        "mchid": "1900009191", "nonce_str": "593BEC0C930BF1AFEB40B4A08C8FB242", "timestamp": "1554208460",
        "serial_no": "ABC123", "signature": ours.split('signature="')[1].split('"')[0]}


def test_parse_authorization_takes_any_order_but_rejects_oddities() -> None:
    good = 'WECHATPAY2-SHA256-RSA2048 serial_no="S",timestamp="1",signature="x/y=",nonce_str="N",mchid="M"'
    assert signing.parse_authorization(good) == {"serial_no": "S", "timestamp": "1", "signature": "x/y=",
                                                 "nonce_str": "N", "mchid": "M"}
    for bad in (good.replace("WECHATPAY2", "WECHATPAY3"), good.replace(',mchid="M"', ""),
                good + ',mchid="M2"', good + ',extra="1"', ""):
        assert signing.parse_authorization(bad) is None


def test_response_verification_matches_wechatpayv3(key: rsa.PrivateKey) -> None:
    body = '{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}'
    signature = signing.sign_response(key, "1700000000", "NONCE", body.encode())
    assert wx.rsa_verify("1700000000", "NONCE", body, signature, key.public_key())
    assert signing.verify_response(key.public_key(), "1700000000", "NONCE", body.encode(), signature)
    assert not signing.verify_response(key.public_key(), "1700000000", "NONCE", body.encode() + b" ", signature)
    assert not signing.verify_response(key.public_key(), "1700000000", "NONCE", body.encode(),
                                       signing.PROBE_PREFIX + signature)


def test_timestamp_window() -> None:
    assert signing.timestamp_fresh("1000", 1300) and signing.timestamp_fresh("1300", 1000)
    assert not signing.timestamp_fresh("1000", 1301)
    assert not signing.timestamp_fresh("-5", 0) and not signing.timestamp_fresh("1e3", 1000)


def test_jsapi_pay_sign_matches_wechatpayv3_core_sign(key: rsa.PrivateKey) -> None:
    params = signing.jsapi_params(key, appid="wx8888888888888888", prepay_id="wx201410272009395522657a690389285100",
                                  timestamp="1414561699", nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
    theirs = wx.rsa_sign(key, "wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n"
                              "prepay_id=wx201410272009395522657a690389285100\n")
    assert params["paySign"] == theirs
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100" and params["signType"] == "RSA"
