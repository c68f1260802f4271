from __future__ import annotations

import json

import pytest

from gateway.channels.alipay import signing
from gateway.crypto import rsa


def test_request_content_sorted_raw_values_sign_dropped_empty_dropped_sign_type_kept() -> None:
    params = {"method": "alipay.trade.query", "app_id": "2021000000000001", "sign": "xx", "sign_type": "RSA2",
              "notify_url": "", "biz_content": '{"out_trade_no":"a&b=c 中"}', "charset": "utf-8"}
    assert signing.request_sign_content(params) == (
        'app_id=2021000000000001&biz_content={"out_trade_no":"a&b=c 中"}&charset=utf-8'
        "&method=alipay.trade.query&sign_type=RSA2")


def test_notify_content_drops_sign_type_too() -> None:
    params = {"b": "2", "a": "1", "sign": "s", "sign_type": "RSA2", "c": ""}
    assert signing.notify_sign_content(params) == "a=1&b=2"


def test_keys_sorted_by_ascii_not_locale() -> None:
    assert signing.notify_sign_content({"a_b": "1", "aB": "2", "ab": "3"}) == "aB=2&a_b=1&ab=3"


def test_sign_and_verify_any(alipay_keys: dict) -> None:
    key = rsa.load_private_key(alipay_keys["alipay_private_key"])
    good = rsa.load_public_key(alipay_keys["alipay_public_key"])
    other = rsa.load_public_key(alipay_keys["app_public_key"])
    sig = signing.sign(key, "a=中文")
    assert signing.verify_any([other, good], "a=中文", sig)
    assert not signing.verify_any([other], "a=中文", sig)
    assert not signing.verify_any([good], "a=中文 ", sig)
    assert signing.verify_any([good], "a=中文", signing.sign(key, "a=中文", "gbk"), "gbk")
    assert not signing.verify_any([good], "a=中文", sig, "gbk")


def test_locate_exact_substring_with_braces_and_spacing() -> None:
    inner = '{ "code":"10000","msg":"Success","subject":"a}b{\\"c\\"}","nested":{"x_response":{"y":1}} }'
    body = '{"alipay_trade_query_response" : ' + inner + ' ,\n "sign" : "abc"}'
    located = signing.locate_response(body, "alipay.trade.query")
    assert located.content == inner
    assert located.sign == "abc"
    assert located.key == "alipay_trade_query_response"


def test_locate_error_response_and_missing_sign() -> None:
    body = '{"error_response":{"code":"40002","msg":"Invalid Arguments"}}'
    located = signing.locate_response(body, "alipay.trade.query")
    assert located.key == "error_response" and located.sign is None


@pytest.mark.parametrize("body", [
    "not json", "[]", '{"alipay_trade_query_response":"x","sign":"s"}', '{"other_response":{},"sign":"s"}',
    '{"alipay_trade_query_response":{},"sign":"s"} trailing',
    '{"alipay_trade_query_response":{},"alipay_trade_query_response":{"code":"10000"},"sign":"s"}',
    '{"alipay_trade_query_response":{},"sign":1}',
])
def test_locate_rejects_malformed(body: str) -> None:
    with pytest.raises(signing.MalformedResponse):
        signing.locate_response(body, "alipay.trade.query")


def test_signed_body_roundtrip() -> None:
    content = json.dumps({"code": "10000", "msg": "Success"}, separators=(",", ":"))
    body = signing.signed_response_body("alipay_trade_close_response", content, "SIG")
    assert body == '{"alipay_trade_close_response":{"code":"10000","msg":"Success"},"sign":"SIG"}'
    assert signing.locate_response(body, "alipay.trade.close").content == content
