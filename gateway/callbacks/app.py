"""``POST /notify/{channel}``: channel callbacks, handed raw to the fixed pipeline."""
from __future__ import annotations

from aiohttp import web

from gateway.channels.base import RawCallback
from gateway.channels.registry import UnknownPayMethod
from gateway.domain.errors import DatabaseUnavailable
from gateway.keys import SERVICES
from gateway.services import callbacks
from gateway.web.middlewares import plain_error_middleware

MAX_CALLBACK_BYTES = 256 * 1024


async def notify(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    name = request.match_info["channel"]
    try:
        svc.registry.channel(name)
    except UnknownPayMethod:
        raise web.HTTPNotFound(text="unknown channel") from None
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_CALLBACK_BYTES, request.content_length)
    raw = RawCallback(body=await request.read(), headers=dict(request.headers),
                      content_type=request.content_type, remote=request.remote)
    try:
        ack = await callbacks.handle(svc, name, raw)
    except DatabaseUnavailable:
        # Nothing was recorded: the channel's failure answer makes it send the callback again (a 5xx
        # failure answer is given as 503, which is what it is).
        status, ctype, body = svc.registry.channel(name).acknowledge(False)
        ack = callbacks.Ack(503 if status >= 500 else status, ctype, body)
        response = web.Response(status=ack.status, body=ack.body, content_type=ack.content_type.split(";")[0])
        response.headers["Retry-After"] = "2"
        return response
    if not ack.content_type:
        return web.Response(status=ack.status, body=ack.body or None)
    return web.Response(status=ack.status, body=ack.body, content_type=ack.content_type.split(";")[0],
                        charset="utf-8" if ack.body else None)


def create_callbacks_app() -> web.Application:
    app = web.Application(middlewares=[plain_error_middleware])
    app.router.add_post("/{channel}", notify, name="notify")
    return app
