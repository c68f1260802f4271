"""``POST /notify/{channel}``: channel callbacks, handed raw to the fixed pipeline."""
from __future__ import annotations

import logging

from aiohttp import web

from gateway.channels.base import RawCallback
from gateway.channels.registry import UnknownPayMethod
from gateway.domain.errors import DatabaseUnavailable
from gateway.keys import SERVICES
from gateway.services import callbacks
from gateway.services.callbacks import EXCERPT_BYTES
from gateway.services.context import Services
from gateway.store import notify_log
from gateway.web.middlewares import plain_error_middleware

MAX_CALLBACK_BYTES = 64 * 1024  # channels' callbacks are a few KiB; anything larger is refused unread
log = logging.getLogger(__name__)


async def _bounded_body(request: web.Request) -> tuple[bytes, bool]:
    """The body and True; or, when it is larger than :data:`MAX_CALLBACK_BYTES`, its start and False
    (read no further than that)."""
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return await request.content.read(EXCERPT_BYTES), False
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_CALLBACK_BYTES:
        chunk = await request.content.read(MAX_CALLBACK_BYTES + 1 - size)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:EXCERPT_BYTES], False


async def _too_large(request: web.Request, svc: Services, channel: str, excerpt: bytes) -> web.Response:
    """Refused unread; logged with an excerpt (the notify log's refused rows are purged on a schedule)."""
    size = request.content_length or "chunked"
    log.warning("refused %s callback from %s: body over %d bytes (%s); starts %r", channel, request.remote,
                MAX_CALLBACK_BYTES, size, excerpt[:200])
    async with svc.db.begin() as conn:
        await notify_log.record(conn, channel=channel, headers={"content-type": request.content_type},
                                body=excerpt[:EXCERPT_BYTES], remote=request.remote, result="rejected",
                                error=f"too_large: {size} bytes")
    raise web.HTTPRequestEntityTooLarge(MAX_CALLBACK_BYTES, request.content_length or MAX_CALLBACK_BYTES + 1)


async def notify(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    name = request.match_info["channel"]
    try:
        svc.registry.channel(name)
    except UnknownPayMethod:
        raise web.HTTPNotFound(text="unknown channel") from None
    body, whole = await _bounded_body(request)
    if not whole:
        return await _too_large(request, svc, name, body)
    raw = RawCallback(body=body, headers=dict(request.headers),
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
