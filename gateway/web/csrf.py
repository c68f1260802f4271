"""CSRF protection for HTML sub-apps with sessions: a synchronizer token kept in the session.

Forms carry it as ``csrf_token`` (templates call ``{{ csrf_token() }}``); scripts send it as
``X-CSRF-Token``. :func:`csrf_middleware` refuses every unsafe request without the session's token with a
403, which the sub-app's page middleware renders as a readable page. The token lives as long as the
session, and a rotated session (:func:`gateway.web.sessions.rotate_session`) gets a new one.
"""
from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import SESSION_KEY, Session, get_session

TOKEN_KEY = "csrf_token"  # in the session
FIELD = "csrf_token"  # in a form
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def csrf_token(request: web.Request) -> str:
    """This session's token, made on first use. Synchronous, for templates: the session is already loaded
    by :func:`csrf_middleware`."""
    session: Session | None = request.get(SESSION_KEY)
    if session is None:
        raise RuntimeError("csrf_token() needs setup_sessions() on this sub-app")
    token = session.get(TOKEN_KEY)
    if not isinstance(token, str) or not token:
        token = session[TOKEN_KEY] = secrets.token_urlsafe(32)
    return token


async def _sent_token(request: web.Request) -> str:
    token = request.headers.get(HEADER)
    if token is None and request.content_type in FORMS:
        value = (await request.post()).get(FIELD)
        token = value if isinstance(value, str) else None
    return token or ""


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    session = await get_session(request)
    if request.method not in SAFE_METHODS:
        expected = session.get(TOKEN_KEY)
        sent = await _sent_token(request)
        if not (isinstance(expected, str) and expected
                and hmac.compare_digest(sent.encode(), expected.encode())):
            raise web.HTTPForbidden(reason="CSRF token missing or invalid")
    return await handler(request)
