"""The WeChat Pay APIv3 sandbox as an aiohttp app (mounted by the core under ``/sandbox/wechat``)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from gateway.sandbox.wechat import api, control, oauth, pages
from gateway.sandbox.wechat.appkeys import HTTP, NOTIFIER, PUBLIC_URL, STATE, TIME_SCALE
from gateway.sandbox.wechat.notify import Notifier
from gateway.sandbox.wechat.state import SandboxState


async def http_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


async def notifier(app: web.Application) -> AsyncIterator[None]:
    """Owns every background task (notification retries, refund completion); cancels them on cleanup."""
    app[NOTIFIER] = Notifier(app[STATE], app[HTTP], app[TIME_SCALE])
    yield
    await app[NOTIFIER].close()


def create_app(keys: dict[str, Any], *, public_url: str, time_scale: float = 1.0) -> web.Application:
    """``public_url``: the absolute prefix where this app is reachable (e.g.
    ``http://127.0.0.1:8080/sandbox/wechat``), used for pay pages and bill download URLs.
    ``time_scale`` multiplies the notification retry schedule and the refund processing delay."""
    app = web.Application(middlewares=[api.api_middleware])
    app[STATE] = SandboxState(keys)
    app[PUBLIC_URL] = public_url.rstrip("/")
    app[TIME_SCALE] = float(time_scale)
    app.cleanup_ctx.append(http_session)
    app.cleanup_ctx.append(notifier)
    api.add_routes(app)
    pages.add_routes(app)
    control.add_routes(app)
    oauth.add_routes(app, keys)
    return app
