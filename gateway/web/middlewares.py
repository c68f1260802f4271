"""Middlewares every sub-app shares: request ids, security headers, the client address behind a proxy, and
a plain-text last resort for machine callers that are not ours to speak problem+json to."""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource

from gateway.observability.logging import REQUEST_ID as REQUEST_ID_VAR
from gateway.observability.metrics import Metrics

log = logging.getLogger(__name__)
access_log = logging.getLogger("gateway.access")
REQUEST_ID = "request_id"
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "strict-origin-when-cross-origin"),
                    ("X-Frame-Options", "DENY"))


class Draining:
    """Set when the server stops taking connections: from then on every answer says ``Connection: close``
    (see :func:`gateway.cli._serve`)."""

    active = False


def edge_middleware(*, access: bool = True, metrics: Metrics | None = None, draining: Draining | None = None,
                    ) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Every answer gets a request id (the caller's ``X-Request-Id`` if sane, else ours: a per-process
    random prefix and a counter -- unique, and no syscall per request), the security headers a handler
    did not set itself, and ``Connection: close`` once ``draining`` is set; every request is counted in
    the metrics (by its route's pattern, never its raw path) and gets one access-log line. One
    middleware, and no response signal, because the status endpoint's budget is tight."""
    prefix = secrets.token_hex(4)
    counter = itertools.count(1)
    drain = draining or Draining()
    count = metrics.http.add if metrics is not None else None

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        rid = request.headers.get("X-Request-Id", "")
        if not (0 < len(rid) <= 64 and rid.replace("-", "").replace("_", "").isalnum()):
            rid = f"{prefix}{next(counter):x}"
        request[REQUEST_ID] = rid
        token = REQUEST_ID_VAR.set(rid)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            headers = response.headers
            headers["X-Request-Id"] = rid
            for name, value in SECURITY_HEADERS:
                headers.setdefault(name, value)
            if drain.active:
                response.force_close()
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers["X-Request-Id"] = rid
            if drain.active:
                exc.force_close()
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (nginx's code for it)
            raise
        finally:
            seconds = time.perf_counter() - started
            app, route = route_of(request)
            if count is not None:
                count(app, route, request.method, status, seconds)
            if access and access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s %.1fms", request.method, route, status, seconds * 1000, extra={
                    "method": request.method, "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 1), "path": request.path, "remote": request.remote})
            REQUEST_ID_VAR.reset(token)

    return middleware


def route_of(request: web.Request) -> tuple[str, str]:
    """The request's app (api, checkout, notify, admin, sandbox, root) and its route's canonical
    pattern; ``unmatched`` for a 404 without a route, so raw paths never become labels."""
    info = request.match_info
    return _labels(info.route.resource if info.http_exception is None else None)


_APPS = {"api": "api", "notify": "callbacks", "admin": "admin", "sandbox": "sandbox", "static": "static",
         "metrics": "ops", "healthz": "ops", "readyz": "ops"}


@functools.lru_cache(maxsize=2048)  # a resource's labels never change: worked out once per resource
def _labels(resource: AbstractResource | None) -> tuple[str, str]:
    if resource is None:
        return "none", "unmatched"
    pattern = resource.canonical
    first = pattern.split("/", 2)[1] if pattern.count("/") >= 1 else ""
    return _APPS.get(first, "checkout"), pattern


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


@web.middleware
async def plain_error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """For callers that only read the status (the channels' callbacks): an unexpected exception is logged
    with the request id and answered a bare 500, which the channel retries."""
    try:
        return await handler(request)
    except (web.HTTPException, ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("unhandled error in %s %s [request %s]", request.method, request.path,
                      request.get(REQUEST_ID))
        return web.Response(status=500, text="internal error")
