"""The WeChat Pay APIv3 sandbox as an aiohttp app (mounted by the core under ``/sandbox/wechat``)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.sandbox import kit
from gateway.sandbox.wechat import api, apppay, control, micropay, notify, oauth, pages
from gateway.sandbox.wechat.appkeys import STATE
from gateway.sandbox.wechat.state import SandboxState


def create_app(keys: dict[str, Any], *, public_url: str, time_scale: float = 1.0) -> web.Application:
    """``public_url``: the absolute prefix where this app is reachable (e.g.
    ``http://127.0.0.1:8080/sandbox/wechat``), used for pay pages and bill download URLs.
    ``time_scale`` multiplies the notification retry schedule and the refund processing delay."""
    app = web.Application(middlewares=[api.api_middleware])
    app[STATE] = state = SandboxState(keys)
    notifier = kit.install(app, public_url=public_url, time_scale=time_scale, schedule=notify.SCHEDULE)
    app[kit.CONTROLS] = control.WechatControls(state, notifier)
    api.add_routes(app)
    pages.add_routes(app)
    apppay.add_routes(app)
    control.add_routes(app)
    oauth.add_routes(app, keys)
    micropay.add_routes(app, _tls_host(public_url))
    return app


def _tls_host(public_url: str) -> str:
    """The client-certificate port listens on the sandbox's own host when it is a loopback name or an
    address its certificate covers, else on 127.0.0.1."""
    host = urlsplit(public_url).hostname or ""
    return host if host in ("127.0.0.1", "::1", "localhost") else "127.0.0.1"
