"""What the shopper's browser sees: the cashier (page/wap pay via gateway.do, or a scanned QR code),
its pay/cancel buttons, the redirect back to return_url, and the bill download.

Pages are tiny, self-contained and escaped; both buttons POST ``action=pay|cancel`` to the page's own
URL, so a person and a test drive exactly the same code path.
"""
from __future__ import annotations

import html
from urllib.parse import urlencode

from aiohttp import web

from gateway.channels.alipay import signing
from gateway.domain.money import format_major
from gateway.sandbox import kit
from gateway.sandbox.alipay.appkeys import SANDBOX
from gateway.sandbox.alipay.gateway_do import GatewayRequest
from gateway.sandbox.alipay.service import BizError, Sandbox
from gateway.sandbox.alipay.state import TRADE_CLOSED, TRADE_SUCCESS, WAIT_BUYER_PAY, Trade

_STATUS_TEXT = {
    WAIT_BUYER_PAY: "待付款 Waiting for payment", TRADE_SUCCESS: "支付成功 Paid",
    TRADE_CLOSED: "交易关闭 Closed", "TRADE_FINISHED": "交易完结 Finished",
}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return kit.page(title, body, heading="支付宝 Sandbox", accent="#1677ff", status=status)


def error_page(code: str, message: str, status: int = 200) -> web.Response:
    return _page("错误 Error", f'<p id="error" data-code="{html.escape(code)}">{html.escape(code)}</p>'
                 f"<p>{html.escape(message)}</p>", status)


def cashier(trade: Trade, action_url: str, note: str = "") -> web.Response:
    buttons = ""
    if trade.status == WAIT_BUYER_PAY:
        buttons = kit.pay_buttons(action_url)
    status = _STATUS_TEXT.get(trade.status, trade.status)
    body = (f'<p class="subject">{html.escape(trade.subject)}</p>'
            f'<p class="amount">¥ {format_major(trade.total)}</p>'
            f'<p id="status" data-status="{html.escape(trade.status)}">{html.escape(status)}</p>'
            f"{f'<p>{html.escape(note)}</p>' if note else ''}{buttons}"
            f'<p class="muted">{html.escape(trade.out_trade_no)}</p>')
    return _page("支付宝收银台 Cashier", body)


def _after_action(sandbox: Sandbox, trade: Trade, action: str, action_url: str) -> web.Response:
    refused = sandbox.pay(trade) if action == "pay" else sandbox.cancel(trade) if action == "cancel" else "?"
    if refused is None and action == "pay" and trade.return_url:
        params = sandbox.return_params(trade)
        params["sign"] = signing.sign(sandbox.state.alipay_key, signing.notify_sign_content(params))
        sep = "&" if "?" in trade.return_url else "?"
        raise web.HTTPSeeOther(f"{trade.return_url}{sep}{urlencode(params)}")
    return cashier(trade, action_url, "" if refused is None else f"无法操作 Not possible: {refused}")


def gateway_page(request: web.Request, req: GatewayRequest) -> web.Response:
    """wap.pay / page.pay: the browser navigated to gateway.do; render the cashier right there."""
    sandbox = request.app[SANDBOX]
    if req.error:
        return error_page(req.error["sub_code"], req.error["sub_msg"])
    assert req.biz is not None
    action_url = f"{sandbox.public_url}/gateway.do?{urlencode(req.params, encoding=req.charset)}"
    trade = sandbox.state.find(str(req.biz.get("out_trade_no") or ""), app_id=req.params["app_id"])
    if req.action and trade is not None:
        return _after_action(sandbox, trade, req.action, action_url)
    try:
        trade = sandbox.open_page(req.params["app_id"], req.method, req.params, req.biz)
    except BizError as exc:
        return error_page(exc.response["sub_code"], exc.response["sub_msg"])
    if req.action:
        return _after_action(sandbox, trade, req.action, action_url)
    return cashier(trade, action_url)


async def qr_page(request: web.Request) -> web.Response:
    """The qr_code URL of a precreate: opening it is scanning it (the trade starts to exist)."""
    sandbox = request.app[SANDBOX]
    trade = sandbox.state.by_token.get(request.match_info["token"])
    if trade is None:
        return error_page("QR_INVALID", "二维码无效 Unknown QR code", 404)
    action_url = f"{sandbox.public_url}/qr/{trade.token}"
    if request.method == "POST":
        form = await request.post()
        return _after_action(sandbox, trade, str(form.get("action", "")), action_url)
    sandbox.scan(trade)
    return cashier(trade, action_url)


async def bill_download(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    entry = sandbox.state.bills.get(request.match_info["token"])
    if entry is None or sandbox.now() > entry[1]:
        sandbox.state.bills.pop(request.match_info["token"], None)
        return error_page("BILL_URL_EXPIRED", "链接已失效 The download link has expired", 404)
    return web.Response(body=entry[0], content_type="application/oct-stream",
                        headers={"Content-Disposition": 'attachment; filename="bill.zip"'})
