"""Every channel sandbox in one app, mounted at ``/sandbox`` (in the gateway, or standalone)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.domain.pay import ActionKind, PayAction


def create_sandbox_app(keys: dict[str, dict[str, Any]], *, public_url: str, time_scale: float = 1.0) -> web.Application:
    """``public_url`` is where ``/sandbox`` is reachable, e.g. ``http://127.0.0.1:8080/sandbox``."""
    from gateway.sandbox import alipay, unionpay, wechat

    app = web.Application()
    app.add_subapp("/alipay", alipay.create_app(keys["alipay"], public_url=f"{public_url}/alipay",
                                                time_scale=time_scale))
    app.add_subapp("/wechat", wechat.create_app(keys["wechat"], public_url=f"{public_url}/wechat",
                                                time_scale=time_scale))
    app.add_subapp("/unionpay", unionpay.create_app(keys["unionpay"], public_url=f"{public_url}/unionpay",
                                                    time_scale=time_scale))
    return app


def standalone_app(keys: dict[str, dict[str, Any]], *, public_url: str, time_scale: float = 1.0) -> web.Application:
    root = web.Application()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "sandbox": True})

    root.router.add_get("/healthz", health)
    root.add_subapp("/sandbox", create_sandbox_app(keys, public_url=f"{public_url}/sandbox", time_scale=time_scale))
    return root


def phone_pages(sandbox_url: str) -> Callable[[str, PayAction], str | None]:
    """Where a shopper's phone would land for a pay action, on the sandboxes at ``sandbox_url`` (where
    ``/sandbox`` answers): the checkout's "open the sandbox phone page" link, and the tests' shopper."""
    from gateway.sandbox.wechat import scan_page_url

    def find(pay_method: str, action: PayAction) -> str | None:
        if action.kind is ActionKind.REDIRECT:
            return action.url
        if action.kind is ActionKind.FORM_POST and action.url:  # the sandbox's cashier also takes the form as a GET
            return f"{action.url}?{urlencode(dict(action.fields))}"
        if pay_method == "unionpay_qr":
            return action.qr  # the sandbox's qrCode is already a page URL
        if pay_method == "alipay_qr":
            return action.qr  # the sandbox's qr_code is already a page URL
        if pay_method == "wechat_native" and action.qr:
            return scan_page_url(f"{sandbox_url}/wechat", action.qr)
        if pay_method == "alipay_app":  # stands in for the Alipay app taking the order string
            return f"{sandbox_url}/alipay/app/pay?{action.params['order_string']}"
        if pay_method == "wechat_app":  # stands in for the WeChat app taking OpenSDK PayReq's parameters
            return f"{sandbox_url}/wechat/app/pay?{urlencode(dict(action.params))}"
        if pay_method == "wechat_jsapi":  # stands in for WeixinJSBridge
            return f"{sandbox_url}/wechat/jsapi/{action.params['package'].removeprefix('prepay_id=')}"
        return None

    return find
