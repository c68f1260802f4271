"""Middlewares every sub-app shares: request ids, security headers."""
from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

REQUEST_ID = "request_id"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id", "")
    if not (0 < len(rid) <= 64 and rid.replace("-", "").replace("_", "").isalnum()):
        rid = secrets.token_hex(8)
    request[REQUEST_ID] = rid
    response = await handler(request)
    response.headers["X-Request-Id"] = rid
    return response


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
