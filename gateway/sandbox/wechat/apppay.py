"""A page standing in for the WeChat app paying an APP order: ``/app/pay?appid=…&partnerid=…&prepayid=…&
package=Sign=WXPay&noncestr=…&timestamp=…&sign=…`` -- the parameters the merchant's app gives OpenSDK
``PayReq``.

WeChat checks what the app sends: the appid is the merchant's mobile app, the partnerid its mchid, the
prepay_id one of its APP orders, and the sign the merchant key's signature over
``appid\\ntimestamp\\nnoncestr\\nprepayid\\n``. A refusal is the app's ``errCode -1``; otherwise the page
offers Pay / Cancel, POSTed back to the same URL (Cancel is ``errCode -2``: the order stays open).
"""
from __future__ import annotations

from html import escape

from aiohttp import web

from gateway.channels.wechat import apppay
from gateway.domain.money import format_major
from gateway.sandbox import kit
from gateway.sandbox.wechat import actions
from gateway.sandbox.wechat.appkeys import STATE
from gateway.sandbox.wechat.key_material import app_appid
from gateway.sandbox.wechat.pages import RESULT
from gateway.sandbox.wechat.state import SandboxState, Trade, now

TITLE = "微信APP支付（沙箱）"


def _page(body: str, status: int = 200) -> web.Response:
    return kit.page(TITLE, body, heading=TITLE, accent="#07c160", status=status)


def _refused(reason: str) -> web.Response:
    return _page(f'<p id="error" data-code="-1">errCode -1</p><p>{escape(reason)}</p>', 400)


def _checked(state: SandboxState, params: dict[str, str]) -> Trade | str:
    """The APP order the parameters pay, or why WeChat refuses them."""
    if params.get("appid") != app_appid(state.keys):
        return "appid 不是该商户的移动应用 (appid mismatch)"
    if params.get("partnerid") != state.keys["mchid"]:
        return "partnerid 不是该商户号 (partnerid mismatch)"
    if not apppay.verify_app_params(state.merchant_key, params):
        return "签名错误 (sign does not verify, or package is not Sign=WXPay)"
    trade = state.trade_by_token(params["prepayid"])
    if trade is None or trade.kind != "app":
        return "prepay_id 无效 (unknown prepay_id)"
    return trade


def _summary(trade: Trade) -> str:
    return (f'<p class="amount">¥{escape(format_major(trade.total))}</p>'
            f'<p>{escape(trade.description)}</p><p>商户订单号 <code>{escape(trade.out_trade_no)}</code></p>')


async def app_pay(request: web.Request) -> web.Response:
    state = request.app[STATE]
    found = _checked(state, dict(request.query))
    if isinstance(found, str):
        return _refused(found)
    trade = found
    if request.method == "POST":
        action = (await request.post()).get("action")
        try:
            if action == "pay":
                actions.pay(state, request.app[kit.NOTIFIER], trade)
            elif action == "cancel":
                return _page(_summary(trade) + '<p id="result" data-code="-2">errCode -2 用户取消</p>')
            else:
                return _page("<p>未知操作。</p>", 400)
        except actions.NotPayable as exc:
            return _page(_summary(trade) + f"<p>{escape(RESULT.get(exc.state, exc.state))}，不能再支付。</p>", 409)
        return _page(_summary(trade) + f'<p id="result" data-code="0"><strong>{escape(RESULT[trade.state])}</strong></p>')
    trade.expire_if_due(now())
    if trade.state != "NOTPAY":
        return _page(_summary(trade) + f"<p><strong>{escape(RESULT.get(trade.state, trade.state))}</strong></p>")
    return _page(_summary(trade) + kit.pay_buttons(request.path_qs, pay="确认支付", cancel="取消"))


def add_routes(app: web.Application) -> None:
    resource = app.router.add_resource("/app/pay", name="page.app")
    resource.add_route("GET", app_pay)
    resource.add_route("POST", app_pay)
