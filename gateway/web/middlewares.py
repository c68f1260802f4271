"""Middlewares every sub-app shares: request ids, security headers."""
from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Iterable
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


def forwarded_for_middleware(trusted: Iterable[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Behind a reverse proxy, ``request.remote`` is the proxy. When the peer is a trusted proxy, take
    the client address from the right-most ``X-Forwarded-For`` entry that is not itself trusted (a
    client can prepend anything, never append). WeChat H5 needs the real shopper IP."""
    networks = [ipaddress.ip_network(n.strip(), strict=False) for n in trusted if n.strip()]

    def is_trusted(addr: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(addr or "")
        except ValueError:
            return False
        return any(ip in n for n in networks)

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if networks and is_trusted(request.remote):
            hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
            while hops and is_trusted(hops[-1]):
                hops.pop()
            if hops:
                try:
                    ipaddress.ip_address(hops[-1])
                    request = request.clone(remote=hops[-1])
                except ValueError:
                    pass
        return await handler(request)

    return middleware
