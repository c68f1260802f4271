"""The UnionPay sandbox as an aiohttp app: ``/gateway/api/frontTransReq.do`` (the cashier a browser's
form lands on; GET with the fields in the query too, for tests and the checkout's sandbox link),
``backTransReq.do``, ``queryTrans.do``, ``/file/`` (the file-transfer host), ``/qr/{token}`` (a scanned
QR code), ``/cashier/{token}`` and the kit's ``/_control/`` API. Mounted under ``/sandbox/unionpay``.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from gateway.channels.unionpay import protocol as wire
from gateway.domain.money import format_major
from gateway.sandbox import kit
from gateway.sandbox.unionpay.service import SCHEDULE, Refused, Sandbox
from gateway.sandbox.unionpay.state import OPEN, PAID, SandboxState, Txn

SANDBOX = web.AppKey("unionpay_sandbox", Sandbox)
_STATUS = {OPEN: "待付款 Waiting for payment", PAID: "支付成功 Paid"}


# ------------------------------------------------------------------ wire

def _answer(sandbox: Sandbox, fields: Mapping[str, str], *, corrupt: bool = False) -> web.Response:
    return web.Response(text=wire.format_answer(sandbox.sign(fields, corrupt=corrupt)),
                        content_type="text/plain", charset="utf-8")


class _Answers(kit.HtmlGatewayErrors):
    """How UnionPay fails (see :class:`gateway.sandbox.kit.FaultAnswers`)."""

    def __init__(self, sandbox: Sandbox, request: Mapping[str, str]) -> None:
        self.sandbox, self.request = sandbox, request

    def business(self, fault: kit.Fault) -> web.Response:
        return _answer(self.sandbox, self.sandbox.reply(self.request, fault.code or "01", fault.message))


async def _form(request: web.Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.post()).items()}


def _api(operation: Callable[[Sandbox, dict[str, str], web.Application], dict[str, str]], name: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        sandbox = request.app[SANDBOX]
        fields = await _form(request)
        try:
            sandbox.verify(fields)
        except Refused as exc:
            return _answer(sandbox, sandbox.reply(fields, exc.code, exc.message))

        async def call(corrupt: bool) -> web.StreamResponse:
            return _answer(sandbox, operation(sandbox, fields, request.app), corrupt=corrupt)

        fault = request.app[kit.FAULTS].take("api", f"{name}:{fields.get('txnType', '')}")
        # A back transaction that timed out was usually taken: applied unless the fault says otherwise.
        return await kit.faults.answer(fault, call, _Answers(sandbox, fields), timeout_applies=True)

    return handler


def _back(sandbox: Sandbox, fields: dict[str, str], app: web.Application) -> dict[str, str]:
    fault = app[kit.FAULTS].take("refunds") if fields.get("txnType") in (wire.REFUND, wire.CONSUME_UNDO) else None
    return sandbox.back(fields, fault.mode if fault else None)


# ------------------------------------------------------------------ pages

def _page(title: str, body: str, status: int = 200) -> web.Response:
    return kit.page(title, body, heading="银联 UnionPay Sandbox", accent="#d7000f", status=status)


def error_page(code: str, message: str, status: int = 200) -> web.Response:
    return _page("错误 Error", f'<p id="error" data-code="{html.escape(code)}">{html.escape(code)}</p>'
                 f"<p>{html.escape(message)}</p>", status)


def cashier(sandbox: Sandbox, txn: Txn, note: str = "") -> web.Response:
    buttons = kit.pay_buttons(f"{sandbox.public_url}/cashier/{txn.token}") \
        if txn.status == OPEN and not sandbox.expired(txn) else ""
    back = ""
    if txn.status == PAID and txn.front_url:
        # UnionPay's front return is a form POST of the signed fields; the merchant treats it as a hint.
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in sandbox.front_return(txn).items())
        back = (f'<form method="post" action="{html.escape(txn.front_url)}">{inputs}'
                f'<button type="submit" id="back">返回商户 Return to merchant</button></form>')
    status = _STATUS.get(txn.status, txn.status)
    body = (f'<p class="amount">¥ {format_major(txn.amount)}</p>'
            f'<p id="status" data-status="{html.escape(txn.status)}">{html.escape(status)}</p>'
            f"{f'<p>{html.escape(note)}</p>' if note else ''}{buttons}{back}"
            f'<p class="muted">{html.escape(txn.order_id)}</p>')
    return _page("银联收银台 Cashier", body)


def _act(sandbox: Sandbox, txn: Txn, action: str) -> web.Response:
    if action == "pay":
        refused = sandbox.pay(txn)
        return cashier(sandbox, txn, "" if refused is None else f"无法操作 Not possible: {refused}")
    if action == "cancel":  # the shopper leaves: the consume stays open until its payTimeout
        return cashier(sandbox, txn, "已取消 Cancelled by the shopper")
    return cashier(sandbox, txn, "?")


async def front(request: web.Request) -> web.Response:
    """A browser posted the merchant's signed consume form (or opened it as a GET link)."""
    sandbox = request.app[SANDBOX]
    fields = dict(request.query) | (await _form(request) if request.method == "POST" else {})
    action = fields.pop("action", "")
    if not fields:
        return error_page("13", "报文交易要素缺失 No transaction fields", 400)
    try:
        sandbox.verify(fields)
        if fields.get("txnType") != wire.CONSUME or fields.get("txnSubType") != wire.SUB_FRONT:
            raise Refused("32", "商户无此交易权限")
        txn = sandbox.open_consume(fields)
    except Refused as exc:
        return error_page(exc.code, exc.message)
    return _act(sandbox, txn, action) if action else cashier(sandbox, txn)


async def cashier_action(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    txn = sandbox.state.by_token.get(request.match_info["token"])
    if txn is None:
        return error_page("34", "查无此交易 Unknown transaction", 404)
    if request.method == "GET":
        return cashier(sandbox, txn)
    return _act(sandbox, txn, (await _form(request)).get("action", ""))


async def qr_page(request: web.Request) -> web.Response:
    """The qrCode of a 申码: opening it is scanning it with 云闪付."""
    sandbox = request.app[SANDBOX]
    txn = sandbox.state.by_token.get(request.match_info["token"])
    if txn is None or txn.sub_type != wire.SUB_QR:
        return error_page("QR_INVALID", "二维码无效 Unknown QR code", 404)
    if request.method == "POST":
        return _act(sandbox, txn, (await _form(request)).get("action", ""))
    return cashier(sandbox, txn)


# ------------------------------------------------------------------ control

def _find(sandbox: Sandbox, ref: str) -> Txn | None:
    order = ref.replace("_", "")
    found = [t for t in sandbox.state.txns.values() if t.order_id == order]
    return found[-1] if found else None


class UnionPayControls:
    """``rotate-keys`` (``what``: ``sign`` or nothing) issues UnionPay a new signing certificate under the
    same middle CA; ``reset`` goes back to the one the sandbox started with."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def trade_view(self, out_trade_no: str, query: Mapping[str, str]) -> dict[str, Any] | None:
        txn = _find(self.sandbox, out_trade_no)
        if txn is None:
            return None
        refunds = [t for t in self.sandbox.state.txns.values() if t.orig_qry_id and t.orig_qry_id == txn.query_id]
        return {"order_id": txn.order_id, "txn_time": txn.txn_time, "status": txn.status, "amount": txn.amount,
                "query_id": txn.query_id, "refunds": [{"order_id": r.order_id, "txn_type": r.txn_type,
                                                       "amount": r.amount, "status": r.status} for r in refunds],
                "notifies": [d.as_json() for d in self.sandbox.notifier.deliveries if d.trade == txn.order_id]}

    def pay(self, out_trade_no: str, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any] | None:
        txn = _find(self.sandbox, out_trade_no)
        if txn is None:
            return None
        refused = self.sandbox.pay(txn)
        if refused is not None:
            raise kit.NotPayable(refused)
        return self.trade_view(out_trade_no, query)

    def rotate_keys(self, what: str | None) -> dict[str, Any]:
        from gateway.sandbox.unionpay.keys import unionpay_signer

        if what not in (None, "sign"):
            raise ValueError("UnionPay rotates one signing certificate: leave out what (or say sign)")
        new = unionpay_signer(self.sandbox.state.middle_key)
        self.sandbox.state.use_signer(new["unionpay_private_key"], new["unionpay_certificate"])
        return {"unionpay_certificate": new["unionpay_certificate"]}

    def reset(self) -> None:
        self.sandbox.state.reset()

    def stats(self) -> dict[str, Any]:
        return {"trades": len(self.sandbox.state.txns)}


def create_app(keys: dict[str, Any], *, public_url: str, time_scale: float = 1.0) -> web.Application:
    """The sandbox for the merchant in ``keys`` (:func:`gateway.sandbox.unionpay.generate_keys`)."""
    app = web.Application()
    notifier = kit.install(app, public_url=public_url, time_scale=time_scale, schedule=SCHEDULE)
    app[SANDBOX] = sandbox = Sandbox(SandboxState(keys), notifier, app[kit.PUBLIC_URL], float(time_scale))
    app[kit.CONTROLS] = UnionPayControls(sandbox)
    r = app.router
    r.add_route("GET", wire.FRONT_PATH, front, name="front")
    r.add_route("POST", wire.FRONT_PATH, front)
    r.add_post(wire.BACK_PATH, _api(lambda s, f, a: _back(s, f, a), "backTransReq"), name="back")
    r.add_post(wire.QUERY_PATH, _api(lambda s, f, a: s.query(f), "queryTrans"), name="query")
    r.add_post("/file/", _api(lambda s, f, a: s.file_transfer(f), "fileTransfer"), name="file")
    r.add_route("GET", "/cashier/{token}", cashier_action, name="cashier")
    r.add_route("POST", "/cashier/{token}", cashier_action)
    r.add_route("GET", "/qr/{token}", qr_page, name="qr")
    r.add_route("POST", "/qr/{token}", qr_page)
    return app
