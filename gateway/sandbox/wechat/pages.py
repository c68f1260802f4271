"""The shopper's side, as tiny HTML pages (no external assets, everything escaped).

* ``/pay/{token}``     — what scanning ``weixin://wxpay/bizpayurl?pr={token}`` would show (Native);
* ``/h5/{token}``      — the ``h5_url`` page (H5); after paying it redirects to ``?redirect_url=``;
* ``/jsapi/{prepay_id}`` — stands in for WeixinJSBridge ``getBrandWCPayRequest`` (JSAPI).

Each page POSTs ``action=pay`` or ``action=cancel`` back to its own URL.
"""
from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from aiohttp import web

from gateway.domain.money import format_major
from gateway.sandbox import kit
from gateway.sandbox.wechat import actions
from gateway.sandbox.wechat.appkeys import STATE
from gateway.sandbox.wechat.state import Trade

TITLES = {"native": "微信扫码支付（沙箱）", "h5": "微信H5支付（沙箱）", "jsapi": "WeixinJSBridge 支付（沙箱）"}
RESULT = {"SUCCESS": "支付成功", "REFUND": "支付成功（已退款）", "CLOSED": "订单已关闭", "NOTPAY": "未支付"}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return kit.page(title, body, heading=title, accent="#07c160", status=status)


def _trade(request: web.Request) -> Trade | None:
    kind = request.match_info.route.name.split(".")[-1] if request.match_info.route.name else ""
    trade = request.app[STATE].trade_by_token(request.match_info["token"])
    return trade if trade is not None and trade.kind == kind else None


def _summary(trade: Trade) -> str:
    return (f'<p class="amount">¥{escape(format_major(trade.total))}</p>'
            f'<p>{escape(trade.description)}</p><p>商户订单号 <code>{escape(trade.out_trade_no)}</code></p>')


async def show(request: web.Request) -> web.Response:
    trade = _trade(request)
    if trade is None:
        return _page("订单不存在", "<p>二维码或链接无效。</p>", 404)
    title = TITLES[trade.kind]
    if trade.state != "NOTPAY":
        return _page(title, _summary(trade) + f"<p><strong>{escape(RESULT.get(trade.state, trade.state))}"
                     "</strong></p>")
    return _page(title, _summary(trade) + kit.pay_buttons(request.path_qs, pay="确认支付", cancel="取消"))


async def submit(request: web.Request) -> web.StreamResponse:
    trade = _trade(request)
    if trade is None:
        return _page("订单不存在", "<p>二维码或链接无效。</p>", 404)
    action = (await request.post()).get("action")
    try:
        if action == "pay":
            actions.pay(request.app[STATE], request.app[kit.NOTIFIER], trade)
        elif action == "cancel":
            actions.cancel(trade)
        else:
            return _page(TITLES[trade.kind], "<p>未知操作。</p>", 400)
    except actions.NotPayable as exc:
        return _page(TITLES[trade.kind], _summary(trade) + f"<p>{escape(RESULT.get(exc.state, exc.state))}，"
                     "不能再支付。</p>", 409)
    redirect = request.query.get("redirect_url")
    if trade.kind == "h5" and redirect and urlsplit(redirect).scheme in ("http", "https"):
        raise web.HTTPSeeOther(redirect)
    return _page(TITLES[trade.kind], _summary(trade) + f"<p><strong>{escape(RESULT[trade.state])}</strong></p>")


def add_routes(app: web.Application) -> None:
    for kind in ("pay", "h5", "jsapi"):
        name = "page." + ("native" if kind == "pay" else kind)
        resource = app.router.add_resource(f"/{kind}/{{token}}", name=name)
        resource.add_route("GET", show)
        resource.add_route("POST", submit)
