"""The ``/v3/…`` API of the sandbox: authentication, validation, state, signed answers.

Choices where the public docs are silent (kept stable so tests can rely on them):
* closing a paid trade → 400 ``ORDER_PAID`` ("订单已支付", as WeChat's troubleshooting guide spells the
  APIv3 code; v2's ``ORDERPAID`` is not used); closing a closed one → 204 again (close is re-entrant);
* re-ordering an ``out_trade_no`` with different parameters → 403 ``OUT_TRADE_NO_USED``; with the same
  parameters: unpaid → the same answer again, paid → 400 ``ORDER_PAID``, closed → 400 ``ORDER_CLOSED``;
* refunding more than is left → 400 ``PARAM_ERROR`` (``NOT_ENOUGH`` is the merchant's balance, injectable);
* a bill for a day without lines → 400 ``NO_STATEMENT_EXIST``; bills T+1 (:func:`bill.refusal`).

Request signatures are checked over the path as sent, or over the path relative to the sandbox's mount
(``/v3/…``, what an SDK pointed at the mounted sandbox signs).
"""
from __future__ import annotations

import gzip
import json
import re
import secrets
import string
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from cryptography import x509

from gateway.channels.wechat import signing
from gateway.channels.wechat.protocol import serial_key
from gateway.crypto import aead, rsa
from gateway.sandbox import kit
from gateway.sandbox.wechat import actions, bill
from gateway.sandbox.wechat.appkeys import STATE
from gateway.sandbox.wechat.key_material import app_appid
from gateway.sandbox.wechat.state import Refund, SandboxState, Trade, now, random_digits, rfc3339

OUT_NO = re.compile(r"^[A-Za-z0-9_\-*|]{6,32}$")
REFUND_NO = re.compile(r"^[A-Za-z0-9_\-*|@]{1,64}$")
H5_TYPES = frozenset({"iOS", "Android", "Wap"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def error_response(status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> web.Response:
    payload: dict[str, Any] = {"code": code, "message": message}
    if detail:
        payload["detail"] = detail
    return web.Response(status=status, content_type="application/json",
                        body=json.dumps(payload, ensure_ascii=False).encode())


def json_answer(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, content_type="application/json",
                        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def param_error(field: str, issue: str, value: Any = None) -> ApiError:
    return ApiError(400, "PARAM_ERROR", f"参数错误: {field} {issue}",
                    {"field": field, "value": value, "issue": issue, "location": "body"})


def authenticate(state: SandboxState, request: web.Request, body: bytes) -> str | None:
    """Why the Authorization is refused, or None. Parameters are a set (SDKs order them differently)."""
    params = signing.parse_authorization(request.headers.get("Authorization", ""))
    if params is None:
        return "Authorization 头格式错误"
    if params["mchid"] != state.keys["mchid"]:
        return "商户号不存在或未开通 APIv3"
    if serial_key(params["serial_no"]) != serial_key(state.keys["merchant_serial"]):
        return "商户证书序列号有误"
    if not signing.timestamp_fresh(params["timestamp"], now().timestamp()):
        return "请求时间戳与当前时间相差超过5分钟"
    for path in signed_paths(request):
        message = signing.request_message(request.method, path, params["timestamp"], params["nonce_str"], body)
        if rsa.verify(state.merchant_key, message, params["signature"]):
            return None
    return "签名错误，请检查后再试"


def signed_paths(request: web.Request) -> list[str]:
    """The paths a client may have signed: the raw path as sent (our channel, wechatpay-go, the Java
    samples sign the URL's whole path) and, under a mount prefix, the path relative to the mount
    (``/v3/…``: wechatpayv3 signs the API path it appends to its base URL)."""
    raw = request.raw_path
    # Every API path starts with /v3/: whatever stands before it is the mount (behind a proxy too).
    start = raw.find("/v3/")
    return [raw, raw[start:]] if start > 0 else [raw]


class _Answers:
    """How WeChat Pay's API fails (see :class:`gateway.sandbox.kit.FaultAnswers`). A business refusal is
    an answer to an authenticated request: signed, as WeChat Pay signs it."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def server_error(self) -> web.Response:
        return error_response(500, "SYSTEM_ERROR", "系统错误")

    def timed_out(self) -> web.Response:
        return error_response(504, "SYSTEM_ERROR", "系统超时")

    def business(self, fault: kit.Fault) -> web.Response:
        refusal = error_response(fault.status or 400, fault.code or "INVALID_REQUEST", fault.message or "注入的业务错误")
        refusal.headers.update(self.state.signed_headers(bytes(refusal.body or b"")))  # type: ignore[arg-type]
        return refusal


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For ``v3.*`` routes: injected faults around authentication and the handler; answers to an
    authenticated request -- 2xx and business refusals -- are signed (bill downloads excepted, as WeChat
    does) with the key the current mode selects; a 401 ``SIGN_ERROR`` is not."""
    name = request.match_info.route.name or ""
    if not name.startswith("v3."):
        return await handler(request)
    state = request.app[STATE]

    async def call(corrupt: bool) -> web.StreamResponse:
        problem = authenticate(state, request, await request.read())
        if problem:
            return error_response(401, "SIGN_ERROR", problem)
        try:
            response = await handler(request)
        except ApiError as exc:
            # WeChat Pay signs every answer to a request it authenticated, its refusals included.
            refusal = error_response(exc.status, exc.code, exc.message, exc.detail)
            refusal.headers.update(state.signed_headers(bytes(refusal.body or b""),  # type: ignore[arg-type]
                                                        corrupt=corrupt))
            return refusal
        if 200 <= response.status < 300 and name != "v3.billdownload" and isinstance(response, web.Response):
            response.headers.update(state.signed_headers(bytes(response.body or b""),  # type: ignore[arg-type]
                                                         corrupt=corrupt))
        return response

    return await kit.faults.answer(request.app[kit.FAULTS].take("api", request.path), call, _Answers(state))


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.read(), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "PARAM_ERROR", "请求体不是合法的JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "PARAM_ERROR", "请求体必须是JSON对象")
    return data


def text(data: dict[str, Any], field: str, *, max_len: int, required: bool = True) -> str | None:
    value = data.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise param_error(field, "必填且为非空字符串", value)
    if len(value) > max_len:
        raise param_error(field, f"长度不能超过{max_len}", value)
    return value


def fen(data: Any, field: str) -> int:
    value = data.get(field) if isinstance(data, dict) else None
    if type(value) is not int or value < 1:
        raise param_error(f"amount.{field}", "必须是不小于1的整数（单位：分）", str(value))
    return value


def check_account(state: SandboxState, data: dict[str, Any], *, appid: bool = True, app: bool = False) -> None:
    """``app``: APP pay names the Open Platform mobile app's appid (``app_appid``), bound to the merchant."""
    if text(data, "mchid", max_len=32) != state.keys["mchid"]:
        raise ApiError(400, "MCH_NOT_EXISTS", "商户号不存在或与请求头不一致")
    expected = app_appid(state.keys) if app else state.keys["appid"]
    if appid and text(data, "appid", max_len=32) != expected:
        raise ApiError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")


def check_notify_url(url: str | None, field: str = "notify_url") -> None:
    if url is not None and (not re.match(r"^https?://[^/?#]+(/[^?#]*)?$", url) or len(url) > 255):
        raise param_error(field, "必须为不带参数的 http(s) 绝对地址", url)


# --- orders --------------------------------------------------------------------------------------------

async def create_order(request: web.Request) -> web.Response:
    state, kind = request.app[STATE], request.match_info["kind"]
    data = await json_body(request)
    check_account(state, data, app=kind == "app")
    description = text(data, "description", max_len=127)
    out_trade_no = text(data, "out_trade_no", max_len=32) or ""
    if not OUT_NO.match(out_trade_no):
        raise param_error("out_trade_no", "6-32位字母、数字、_-|*", out_trade_no)
    notify_url = text(data, "notify_url", max_len=255)
    check_notify_url(notify_url)
    amount = data.get("amount")
    total = fen(amount, "total")
    currency = amount.get("currency", "CNY") if isinstance(amount, dict) else "CNY"
    if currency != "CNY":
        raise param_error("amount.currency", "仅支持CNY", currency)
    expire = _time_expire(data.get("time_expire"))
    openid = None
    if kind == "h5":
        scene: dict[str, Any] = data["scene_info"] if isinstance(data.get("scene_info"), dict) else {}
        text(scene, "payer_client_ip", max_len=45)
        h5 = scene.get("h5_info")
        if not isinstance(h5, dict) or h5.get("type") not in H5_TYPES:
            raise param_error("scene_info.h5_info.type", "必须为 iOS / Android / Wap", None)
    elif kind == "jsapi":
        payer: dict[str, Any] = data["payer"] if isinstance(data.get("payer"), dict) else {}
        openid = text(payer, "openid", max_len=128)
    attach = text(data, "attach", max_len=128, required=False)
    fingerprint = (kind, data["appid"], description, total, currency, openid)
    trade = state.trade(out_trade_no)
    if trade is not None:
        if trade.fingerprint != fingerprint:
            raise ApiError(403, "OUT_TRADE_NO_USED", "商户订单号重复")
        if trade.state in ("SUCCESS", "REFUND"):
            raise ApiError(400, "ORDER_PAID", "该订单已支付")
        if trade.state == "CLOSED":
            raise ApiError(400, "ORDER_CLOSED", "订单已关闭")
    else:
        token = ("wx" + now().strftime("%d%H%M%S") + secrets.token_hex(13) if kind in ("jsapi", "app")
                 else "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12)))
        trade = Trade(out_trade_no, kind, str(data["appid"]), state.keys["mchid"], description or "",
                      notify_url or "", total, currency, fingerprint, expire, token, openid=openid, attach=attach)
        state.trades[out_trade_no] = trade
        state.tokens[token] = out_trade_no
    public = request.app[kit.PUBLIC_URL]
    if kind == "native":
        return json_answer({"code_url": f"weixin://wxpay/bizpayurl?pr={trade.token}"})
    if kind == "h5":
        return json_answer({"h5_url": f"{public}/h5/{trade.token}"})
    return json_answer({"prepay_id": trade.token})


def _time_expire(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value:
        raise param_error("time_expire", "必须为 RFC3339 格式（yyyy-MM-DDTHH:mm:ss+TIMEZONE）", value)
    if moment <= now():
        raise param_error("time_expire", "不能早于当前时间", value)
    return moment


def _query_mchid(state: SandboxState, request: web.Request) -> None:
    if request.query.get("mchid") != state.keys["mchid"]:
        raise ApiError(400, "PARAM_ERROR", "输入源“/uri_template/mchid”映射到字段“直连商户号”校验失败",
                       {"location": "uri_template", "value": request.query.get("mchid", "")})


async def query_order(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _query_mchid(state, request)
    if "transaction_id" in request.match_info:
        no = state.by_transaction.get(request.match_info["transaction_id"], "")
    else:
        no = request.match_info["out_trade_no"]
    trade = state.trade(no)
    if trade is None:
        raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
    return json_answer(trade.as_resource())


async def close_order(request: web.Request) -> web.Response:
    state = request.app[STATE]
    check_account(state, await json_body(request), appid=False)
    trade = state.trade(request.match_info["out_trade_no"])
    if trade is None:
        raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
    if trade.state in ("SUCCESS", "REFUND"):
        raise ApiError(400, "ORDER_PAID", "订单已支付")
    trade.state = "CLOSED"
    return web.Response(status=204)


# --- refunds -------------------------------------------------------------------------------------------

async def create_refund(request: web.Request) -> web.Response:
    state = request.app[STATE]
    data = await json_body(request)
    out_refund_no = text(data, "out_refund_no", max_len=64) or ""
    if not REFUND_NO.match(out_refund_no):
        raise param_error("out_refund_no", "1-64位字母、数字、_-|*@", out_refund_no)
    check_notify_url(data.get("notify_url"))
    reason = text(data, "reason", max_len=80, required=False)
    amount = data.get("amount")
    refund_fen, total = fen(amount, "refund"), fen(amount, "total")
    if isinstance(amount, dict) and amount.get("currency", "CNY") != "CNY":
        raise param_error("amount.currency", "仅支持CNY", amount.get("currency"))
    if isinstance(data.get("transaction_id"), str):
        trade = state.trade(state.by_transaction.get(data["transaction_id"], ""))
    elif isinstance(data.get("out_trade_no"), str):
        trade = state.trade(data["out_trade_no"])
    else:
        raise param_error("out_trade_no", "transaction_id 与 out_trade_no 必填其一")
    if trade is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    existing = state.refunds.get(out_refund_no)
    if existing is not None:
        if existing.trade is not trade or existing.amount != refund_fen:
            raise ApiError(400, "INVALID_REQUEST", "同一退款单号的请求参数与原请求不一致")
        return json_answer(existing.as_answer())
    if trade.state not in ("SUCCESS", "REFUND"):
        raise ApiError(400, "INVALID_REQUEST", "订单未支付，不能退款")
    if total != trade.total:
        raise param_error("amount.total", "与原订单金额不一致", total)
    already = sum(r.amount for r in state.refunds.values() if r.trade is trade and r.status != "CLOSED")
    if already + refund_fen > trade.total:
        raise param_error("amount.refund", "申请退款金额超过订单可退金额", refund_fen)
    refund = Refund(out_refund_no, "50" + random_digits(27), trade, refund_fen, reason, data.get("notify_url"))
    state.refunds[out_refund_no] = refund
    ending = request.app[kit.FAULTS].take("refunds")
    final = ending.mode if ending else "SUCCESS"
    delay = request.app[kit.REFUND_TIMING].delay()
    notifier = request.app[kit.NOTIFIER]
    if delay is None and final == "SUCCESS":  # immediate: final in this very answer
        await actions.finish_refund(notifier, state, refund, final, None)
    else:  # an injected ABNORMAL / CLOSED ending always comes later, as WeChat's does
        notifier.spawn(actions.finish_refund(notifier, state, refund, final, delay or 0.0))
    return json_answer(refund.as_answer())


async def query_refund(request: web.Request) -> web.Response:
    refund = request.app[STATE].refunds.get(request.match_info["out_refund_no"])
    if refund is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
    return json_answer(refund.as_answer())


# --- keys and bills ------------------------------------------------------------------------------------

async def certificates(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.certificate_fetches += 1
    items = []
    for platform in reversed(state.platforms):
        cert = x509.load_pem_x509_certificate(platform.certificate.encode())
        nonce = secrets.token_hex(6)
        items.append({
            "serial_no": platform.serial,
            "effective_time": rfc3339(cert.not_valid_before_utc), "expire_time": rfc3339(cert.not_valid_after_utc),
            "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce,
                                    "associated_data": "certificate",
                                    "ciphertext": aead.encrypt(state.apiv3_key, nonce, "certificate",
                                                               platform.certificate.encode())},
        })
    return json_answer({"data": items})


async def tradebill(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw_day = request.query.get("bill_date", "")
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise ApiError(400, "PARAM_ERROR", "bill_date 格式应为 YYYY-MM-DD") from None
    if day > now().date():
        raise ApiError(400, "PARAM_ERROR", "账单日期不能晚于今天")
    if (refused := bill.refusal(day)) is not None:
        raise ApiError(400, *refused)
    bill_type = request.query.get("bill_type", "ALL")
    if bill_type not in ("ALL", "SUCCESS", "REFUND"):
        raise ApiError(400, "PARAM_ERROR", "bill_type 取值错误")
    tar_type = request.query.get("tar_type")
    if tar_type not in (None, "GZIP"):
        raise ApiError(400, "PARAM_ERROR", "tar_type 取值错误")
    content = bill.render(state, day, bill_type)
    if content is None:
        raise ApiError(400, "NO_STATEMENT_EXIST", "账单文件不存在")
    raw = content.encode()
    token = secrets.token_urlsafe(24)
    state.bills[token] = gzip.compress(raw) if tar_type == "GZIP" else raw
    return json_answer({"hash_type": "SHA1", "hash_value": bill.digest(state, day, raw),
                        "download_url": f"{request.app[kit.PUBLIC_URL]}/v3/billdownload/file?token={token}"})


async def billdownload(request: web.Request) -> web.Response:
    content = request.app[STATE].bills.get(request.query.get("token", ""))
    if content is None:
        raise ApiError(400, "INVALID_REQUEST", "下载链接无效或已过期")
    return web.Response(body=content, content_type="application/octet-stream")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v3/pay/transactions/{kind:native|h5|jsapi|app}", create_order, name="v3.create")
    r.add_get("/v3/pay/transactions/out-trade-no/{out_trade_no}", query_order, name="v3.query")
    r.add_get("/v3/pay/transactions/id/{transaction_id}", query_order, name="v3.query_by_id")
    r.add_post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", close_order, name="v3.close")
    r.add_post("/v3/refund/domestic/refunds", create_refund, name="v3.refund")
    r.add_get("/v3/refund/domestic/refunds/{out_refund_no}", query_refund, name="v3.refund_query")
    r.add_get("/v3/certificates", certificates, name="v3.certificates")
    r.add_get("/v3/bill/tradebill", tradebill, name="v3.tradebill")
    r.add_get("/v3/billdownload/file", billdownload, name="v3.billdownload")
