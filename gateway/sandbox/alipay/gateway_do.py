"""gateway.do's edge: decode a request (query + form, in its ``charset``), check it like Alipay does,
and write signed answers.

Checks, in Alipay's order and with its codes: 40001 ``isv.missing-*`` for absent common parameters,
then 40002 ``isv.invalid-app-id`` / ``isv.invalid-method`` / ``isv.invalid-timestamp`` /
``isv.invalid-signature-type`` / ``isv.invalid-signature``. The signature covers every received
parameter but ``sign``, empty values dropped, ``sign_type`` included.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from gateway.channels.alipay import protocol as wire
from gateway.channels.alipay import signing
from gateway.sandbox.alipay.state import SandboxState

REQUIRED = (("method", "isv.missing-method", "缺少方法名参数"),
            ("sign", "isv.missing-signature", "缺少签名参数"),
            ("sign_type", "isv.missing-signature-type", "缺少签名类型参数"),
            ("app_id", "isv.missing-app-id", "缺少AppID参数"),
            ("timestamp", "isv.missing-timestamp", "缺少时间戳参数"),
            ("version", "isv.missing-version", "缺少版本参数"))


@dataclass
class GatewayRequest:
    params: dict[str, str]
    charset: str
    action: str | None  # the cashier page's pay/cancel button, never part of the signed params
    error: dict[str, Any] | None = None
    biz: dict[str, Any] | None = None
    cert_sn: str | None = None  # certificate mode: the SN of the Alipay certificate the answer is signed with

    @property
    def method(self) -> str:
        return self.params.get("method", "")


class BadRequest(Exception):
    pass


def _declared_charset(*raw: str) -> str:
    for text in raw:
        charset = dict(parse_qsl(text, keep_blank_values=True)).get("charset")
        if charset:
            try:
                "".encode(charset)
            except LookupError:
                raise BadRequest(f"unknown charset {charset}") from None
            return charset
    return "utf-8"


async def decode(request: web.Request) -> GatewayRequest:
    raw_query = request.rel_url.raw_query_string
    body = (await request.read()).decode("latin-1") if request.method == "POST" else ""
    charset = _declared_charset(raw_query, body)
    try:
        query = parse_qsl(raw_query, keep_blank_values=True, encoding=charset, errors="strict")
        form = parse_qsl(body.encode("latin-1").decode(charset), keep_blank_values=True, encoding=charset,
                         errors="strict")
    except (UnicodeError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    form_fields = dict(form)
    action = form_fields.pop("action", None)
    params = dict(query)
    params.update(form_fields)  # the official SDK splits them: common in the query, biz_content in the body
    return GatewayRequest(params=params, charset=charset, action=action)


def check(req: GatewayRequest, state: SandboxState, now: datetime, tolerance: timedelta | None,
          methods: frozenset[str]) -> None:
    """Fill ``req.error`` with the gateway's answer when the request is refused, else ``req.biz``."""
    p = req.params
    for name, sub_code, sub_msg in REQUIRED:
        if not p.get(name):
            req.error = {"code": "40001", "msg": "Missing Required Arguments", "sub_code": sub_code,
                         "sub_msg": sub_msg}
            return

    def invalid(sub_code: str, sub_msg: str) -> None:
        req.error = {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}

    if p["app_id"] != state.app_id:
        return invalid("isv.invalid-app-id", "无效的AppID参数")
    if p["method"] not in methods:
        return invalid("isv.invalid-method", "不存在的方法名")
    sent_at = wire.parse_beijing(p["timestamp"])
    if sent_at is None:
        return invalid("isv.invalid-timestamp", "非法的时间戳参数")
    if tolerance is not None and abs(now - sent_at) > tolerance:
        return invalid("isv.invalid-timestamp", "非法的时间戳参数")
    if p["sign_type"] != "RSA2":
        return invalid("isv.invalid-signature-type", "无效的签名类型")
    if p.get("app_cert_sn") or p.get("alipay_root_cert_sn") or state.cert_mode_required:
        # Certificate mode: the app's certificate SN picks the key to verify with; the root SN must be the
        # bundle's. Sub-codes from the gateway's isv.* list [U: which one Alipay picks for a wrong SN].
        req.cert_sn = state.certs.current_sn
        if not p.get("app_cert_sn"):
            return invalid("isv.missing-app-cert-sn", "缺少应用公钥证书序列号")
        if not p.get("alipay_root_cert_sn"):
            return invalid("isv.missing-alipay-root-cert-sn", "缺少支付宝根证书序列号")
        if p["app_cert_sn"] != state.certs.app_cert_sn:
            return invalid("isv.app-cert-not-exist", "应用公钥证书不存在 (app_cert_sn)")
        if p["alipay_root_cert_sn"] != state.certs.root_cert_sn:
            return invalid("isv.invalid-alipay-root-cert-sn", "无效的支付宝根证书序列号")
    content = signing.request_sign_content(p)
    if not signing.verify_any([state.app_public_key], content, p["sign"], req.charset):
        return invalid("isv.invalid-signature", f"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}")
    try:
        biz = json.loads(p.get("biz_content") or "{}", parse_float=Decimal)
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        req.error = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.INVALID_PARAMETER",
                     "sub_msg": "参数有误。biz_content格式错误"}
        return
    req.biz = biz


def response_key(method: str, methods: frozenset[str]) -> str:
    return method.replace(".", "_") + "_response" if method in methods else "error_response"


# Refusals of a request Alipay cannot attribute to an app: it answers them without a signature (python-
# alipay-sdk and the Java SDK's checkResponseSign both expect such unsigned failures).
UNSIGNED_REFUSALS = frozenset({"isv.missing-app-id", "isv.invalid-app-id"})


def refusal_answer(state: SandboxState, key: str, error: dict[str, Any], charset: str = "utf-8",
                   *, cert_sn: str | None = None) -> web.Response:
    """The gateway's refusal of a request: signed, unless it is one Alipay leaves unsigned."""
    if error.get("sub_code") not in UNSIGNED_REFUSALS:
        return signed_answer(state, key, error, charset, cert_sn=cert_sn)
    text = '{"' + key + '":' + json.dumps(error, ensure_ascii=False, separators=(",", ":")) + "}"
    return web.Response(body=text.encode(charset), content_type="application/json", charset=charset)


def signed_answer(state: SandboxState, key: str, inner: dict[str, Any], charset: str = "utf-8",
                  *, corrupt: bool = False, cert_sn: str | None = None) -> web.Response:
    """``{"<key>":{...},"sign":"..."}`` signed with the current Alipay key over the exact object text.
    ``corrupt`` (a fault) signs other content, so the signature is well-formed but wrong. ``cert_sn``
    (certificate mode): ``{"<key>":{...},"alipay_cert_sn":"…","sign":"..."}``, as Alipay writes it."""
    content = json.dumps(inner, ensure_ascii=False, separators=(",", ":"), default=str)
    signature = signing.sign(state.alipay_key, content + (" " if corrupt else ""), charset)
    if cert_sn is not None:
        text = '{"' + key + '":' + content + ',"alipay_cert_sn":"' + cert_sn + '","sign":"' + signature + '"}'
        return web.Response(body=text.encode(charset), content_type="application/json", charset=charset)
    text = signing.signed_response_body(key, content, signature)
    return web.Response(body=text.encode(charset), content_type="application/json", charset=charset)
