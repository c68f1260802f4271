"""The WeChat Pay sandbox's APIv2 barcode desk: ``/pay/micropay``, ``/pay/orderquery`` and
``/secapi/pay/reverse`` (XML, signed with the APIv2 key; MD5 or HMAC-SHA256 as ``sign_type`` says).

Reverse needs the merchant's API client certificate, as at WeChat: the sandbox serves it on a TLS port
of its own that requires a client certificate issued by the sandbox's test CA whose common name is the
mchid (:func:`tls_ctx`). The plain path answers a 307 to that port. Orders live with the APIv3 ones (a
micropay order can be refunded, queried by v3 and billed like any other).

A well-formed code (18 digits starting 10–15) pays at once, except by its last digit: ``0`` -- the
shopper types a password: ``USERPAYING``, paid :data:`PASSWORD_SECONDS` later (times the time scale);
``8`` -- the shopper never finishes: ``USERPAYING`` until reversed; ``9`` -- ``NOTENOUGH`` (余额不足).
A malformed code is ``AUTH_CODE_INVALID``. Micropay sends no notification.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import ssl
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.channels.wechat import v2
from gateway.sandbox import kit
from gateway.sandbox.wechat.appkeys import STATE
from gateway.sandbox.wechat.state import SandboxState, Trade, now

AUTH_CODE = re.compile(r"1[0-5]\d{16}")
OUT_NO = re.compile(r"^[A-Za-z0-9_\-*|]{1,32}$")
PASSWORD_SECONDS = 3.0
# Where the client-certificate port answers, once started: {"url": "https://host:port"}.
TLS_URL = web.AppKey("wechat_sandbox_tls_url", dict[str, str])
_STATE_AFTER_REVERSE = "REVOKED"


# --- the XML edge -----------------------------------------------------------------------------------------

def _xml(params: dict[str, str]) -> web.Response:
    return web.Response(body=v2.to_xml(params), content_type="text/xml", charset="utf-8")


def _fail(message: str) -> web.Response:
    """A refusal of the request itself: ``return_code=FAIL``, unsigned."""
    return _xml({"return_code": v2.FAIL, "return_msg": message})


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _request(request: web.Request) -> tuple[SandboxState, dict[str, str], str]:
    state = request.app[STATE]
    try:
        params = v2.from_xml(await request.read())
    except ValueError:
        raise _Refused("XML格式错误") from None
    sign_type = params.get("sign_type") or v2.MD5
    if sign_type not in (v2.MD5, v2.HMAC_SHA256):
        raise _Refused("签名类型错误")
    for name in ("appid", "mch_id", "nonce_str", "sign"):
        if not params.get(name):
            raise _Refused(f"缺少参数{name}")
    if params["mch_id"] != state.keys["mchid"]:
        raise _Refused("mch_id参数格式错误")
    if params["appid"] != state.keys["appid"]:
        raise _Refused("appid和mch_id不匹配")
    if not v2.verify(params, state.keys["apiv2_key"], sign_type):
        raise _Refused("签名错误")
    return state, params, sign_type


def _answer(state: SandboxState, sign_type: str, fields: dict[str, str | None], *,
            corrupt: bool = False) -> web.Response:
    params = {"return_code": v2.SUCCESS, "return_msg": "OK", "appid": state.keys["appid"],
              "mch_id": state.keys["mchid"], "nonce_str": v2.nonce(),
              **{k: v for k, v in fields.items() if v is not None}}
    # A fault's wrong signature: well-formed, made with another key.
    params["sign"] = v2.sign(params, state.keys["apiv2_key"] + ("x" if corrupt else ""), sign_type)
    return _xml(params)


class _Answers(kit.HtmlGatewayErrors):
    """How the APIv2 host fails (see :class:`gateway.sandbox.kit.FaultAnswers`)."""

    def __init__(self, state: SandboxState, sign_type: str) -> None:
        self.state, self.sign_type = state, sign_type

    def business(self, fault: kit.Fault) -> web.Response:
        return _error(self.state, self.sign_type, fault.code or "SYSTEMERROR", fault.message or "系统超时 (injected)")


def _error(state: SandboxState, sign_type: str, code: str, message: str) -> web.Response:
    return _answer(state, sign_type, {"result_code": v2.FAIL, "err_code": code, "err_code_des": message})


def _paid_fields(trade: Trade) -> dict[str, str | None]:
    assert trade.success_time is not None
    return {"result_code": v2.SUCCESS, "openid": trade.openid, "is_subscribe": "N", "trade_type": "MICROPAY",
            "bank_type": "OTHERS", "fee_type": trade.currency, "total_fee": str(trade.total),
            "cash_fee": str(trade.total), "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no, "time_end": trade.success_time.strftime("%Y%m%d%H%M%S")}


def _pay(state: SandboxState, trade: Trade) -> None:
    trade.state, trade.transaction_id, trade.success_time = "SUCCESS", state.new_transaction_id(), now()
    trade.openid = trade.openid or "o" + secrets.token_urlsafe(21)[:27]
    state.by_transaction[trade.transaction_id] = trade.out_trade_no


async def _password(app: web.Application, trade: Trade) -> None:
    await asyncio.sleep(PASSWORD_SECONDS * app[kit.TIME_SCALE])
    if trade.state == "USERPAYING":
        _pay(app[STATE], trade)


def _guarded(handler: Any) -> Any:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Refused as exc:
            return _fail(exc.message)
    return wrapped


async def micropay(request: web.Request) -> web.StreamResponse:
    state, params, sign_type = await _request(request)

    async def call(corrupt: bool) -> web.StreamResponse:
        return _micropay(request, state, params, sign_type, corrupt)

    # A timeout happens after WeChat took the order (the charge stands): applied unless told otherwise.
    return await kit.faults.answer(request.app[kit.FAULTS].take("api", request.path), call,
                                   _Answers(state, sign_type), timeout_applies=True)


def _micropay(request: web.Request, state: SandboxState, params: dict[str, str], sign_type: str,
              corrupt: bool) -> web.Response:
    out_trade_no, auth_code = params.get("out_trade_no", ""), params.get("auth_code", "")
    total = params.get("total_fee", "")
    if not OUT_NO.match(out_trade_no) or not params.get("body") or not total.isdigit() or int(total) < 1 \
            or not params.get("spbill_create_ip") or params.get("fee_type", "CNY") != "CNY":
        return _error(state, sign_type, "PARAM_ERROR", "参数错误")
    trade = state.trade(out_trade_no)
    if trade is not None:  # the same order again (a retry): its state, never a second charge
        if trade.kind != "micropay" or trade.total != int(total):
            return _error(state, sign_type, "OUT_TRADE_NO_USED", "商户订单号重复")
        if trade.state in ("SUCCESS", "REFUND"):
            return _error(state, sign_type, "ORDERPAID", "订单已支付")
        if trade.state == "USERPAYING":
            return _error(state, sign_type, "USERPAYING", "需要用户输入支付密码")
        return _error(state, sign_type, "ORDERREVERSED" if trade.state == "REVOKED" else "ORDERCLOSED", "订单已关闭")
    if not AUTH_CODE.fullmatch(auth_code):
        return _error(state, sign_type, "AUTH_CODE_INVALID", "每个二维码仅限使用一次，请刷新再试")
    if auth_code.endswith("9"):
        return _error(state, sign_type, "NOTENOUGH", "余额不足")
    trade = Trade(out_trade_no, "micropay", params["appid"], state.keys["mchid"], params["body"], "", int(total),
                  "CNY", ("micropay", int(total)), None, "", attach=params.get("attach") or None)
    state.trades[out_trade_no] = trade
    if auth_code.endswith(("0", "8")):
        trade.state = "USERPAYING"
        if auth_code.endswith("0"):
            request.app[kit.NOTIFIER].spawn(_password(request.app, trade))
        return _error(state, sign_type, "USERPAYING", "需要用户输入支付密码")
    _pay(state, trade)
    return _answer(state, sign_type, _paid_fields(trade), corrupt=corrupt)


async def orderquery(request: web.Request) -> web.Response:
    state, params, sign_type = await _request(request)
    trade = state.trade(params.get("out_trade_no", "")) if params.get("out_trade_no") else \
        state.trade(state.by_transaction.get(params.get("transaction_id", ""), ""))
    if trade is None:
        return _error(state, sign_type, "ORDERNOTEXIST", "此交易订单号不存在")
    fields: dict[str, str | None] = {"result_code": v2.SUCCESS, "out_trade_no": trade.out_trade_no,
                                     "trade_state": trade.state, "trade_state_desc": trade.as_resource()["trade_state_desc"],
                                     "total_fee": str(trade.total), "fee_type": trade.currency}
    if trade.transaction_id:
        fields |= _paid_fields(trade) | {"trade_state": trade.state}
    return _answer(state, sign_type, fields)


async def reverse_redirect(request: web.Request) -> web.Response:
    """The plain path: no client certificate can be offered here -- to the TLS port."""
    url = request.app[TLS_URL].get("url")
    if not url:
        return _fail("请使用证书发起请求")
    raise web.HTTPTemporaryRedirect(f"{url}/secapi/pay/reverse")


async def reverse(request: web.Request) -> web.Response:
    peer = request.transport.get_extra_info("peercert") if request.transport else None
    subject = dict(item for rdn in (peer or {}).get("subject", ()) for item in rdn)
    state, params, sign_type = await _request(request)
    if subject.get("commonName") != state.keys["mchid"]:
        return _fail("证书与商户号不匹配")
    trade = state.trade(params.get("out_trade_no", ""))
    if trade is None:
        return _answer(state, sign_type, {"result_code": v2.FAIL, "err_code": "ORDERNOTEXIST",
                                          "err_code_des": "订单不存在", "recall": "N"})
    # A paid order's money goes back to the shopper; an unpaid one closes. Either way: REVOKED.
    trade.state = _STATE_AFTER_REVERSE
    return _answer(state, sign_type, {"result_code": v2.SUCCESS, "recall": "N"})


def tls_ctx(keys: dict[str, Any]) -> ssl.SSLContext:
    """The TLS port's context: the sandbox host's certificate, and a client certificate required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=keys["apiv2_ca_certificate"])
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, text in ((cert_path, keys["apiv2_server_certificate"]), (key_path, keys["apiv2_server_key"])):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        context.load_cert_chain(cert_path, key_path)
    return context


def add_routes(app: web.Application, tls_host: str) -> None:
    app[TLS_URL] = {}
    app.router.add_post("/pay/micropay", _guarded(micropay), name="v2.micropay")
    app.router.add_post("/pay/orderquery", _guarded(orderquery), name="v2.orderquery")
    app.router.add_post("/secapi/pay/reverse", reverse_redirect, name="v2.reverse")

    async def tls_site(parent: web.Application) -> AsyncIterator[None]:
        """The client-certificate port, on a free port of ``tls_host``, sharing this sandbox's state."""
        secure = web.Application()
        secure[STATE] = parent[STATE]
        secure.router.add_post("/secapi/pay/reverse", _guarded(reverse))
        runner = web.AppRunner(secure, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, tls_host, 0, ssl_context=tls_ctx(parent[STATE].keys))
        await site.start()
        port = runner.addresses[0][1]
        parent[TLS_URL]["url"] = f"https://{tls_host}:{port}"
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await runner.cleanup()

    app.cleanup_ctx.append(tls_site)
