"""``Authorization: Bearer <api_key>`` → the merchant, or 401 (unknown, revoked or past its overlap)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.domain.errors import Unauthorized
from gateway.keys import SERVICES

MERCHANT = "merchant"
API_KEY = "api_key"  # the key row the request came with (never its secret)
PUBLIC = frozenset({"/openapi.json", "/docs"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.match_info.route.resource is not None and request.path.removeprefix("/api/v1") in PUBLIC:
        return await handler(request)
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send your API key as 'Authorization: Bearer <api_key>'")
    found = await request.config_dict[SERVICES].auth.authenticate(key.strip())
    if found is None:
        raise Unauthorized("The API key is not valid")
    request[MERCHANT], request[API_KEY] = found
    return await handler(request)
