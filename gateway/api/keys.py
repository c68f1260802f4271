"""Merchant API: your API keys -- list them (never the secret), rotate one, revoke one.

A rotation's answer holds the new key; under an ``Idempotency-Key`` that answer is kept with the key
sealed (AES-256-GCM under the master key, as channel credentials are), never in clear, and a replay opens
it again: a client that lost the answer gets the same key, not a second one. A replay needs a working
key, so the safe order is: rotate (the old key keeps working for the overlap), store the new key, then
revoke the old one with the new -- ``revoke_old`` on the rotation itself leaves nothing to replay with.
"""
from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.auth import API_KEY, MERCHANT
from gateway.api.common import json_response, parse
from gateway.api.idempotency import SECRET
from gateway.keys import SERVICES
from gateway.services import api_keys

routes = web.RouteTableDef()


class ApiKey(BaseModel):
    """One of your API keys. ``prefix`` tells keys apart; the secret itself is never shown again.
    ``last_used_at`` is updated at most once a minute."""

    object: Literal["api_key"]
    id: str
    name: str
    prefix: str
    status: Literal["active", "expired", "revoked"]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class ApiKeyList(BaseModel):
    object: Literal["list"]
    data: list[ApiKey]


class ApiKeyRotate(BaseModel):
    """Which key to replace (default: the one this request is made with), the new key's name (default: the
    replaced key's), and whether the replaced key stops now (``revoke_old``) or after the overlap
    (``GATEWAY_API_KEY_OVERLAP``, 24 h unless configured)."""

    model_config = ConfigDict(extra="forbid")
    key_id: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, min_length=1, max_length=64)
    revoke_old: bool = False


class NewApiKey(BaseModel):
    """The new key, shown this once (and on an ``Idempotency-Key`` replay)."""

    object: Literal["api_key"]
    id: str
    name: str
    api_key: str
    prefix: str
    merchant_id: str
    created_at: str
    replaced: list[str]
    replaced_valid_until: str | None
    replaced_revoked: bool


@routes.get("/api-keys", name="list_api_keys")
async def list_api_keys(request: web.Request) -> web.Response:
    data = await api_keys.list_keys(request.config_dict[SERVICES].db, request[MERCHANT]["id"])
    return json_response({"object": "list", "data": data})


@routes.post("/api-keys/rotate", name="rotate_api_key")
async def rotate_api_key(request: web.Request) -> web.Response:
    body = await parse(request, ApiKeyRotate)
    svc = request.config_dict[SERVICES]
    created = await api_keys.rotate(svc.db, svc.settings, request[MERCHANT]["id"],
                                    replace=body.key_id or request[API_KEY]["id"], name=body.name,
                                    revoke_old=body.revoke_old)
    svc.auth.forget_all()
    response = json_response(created, status=201)
    response[SECRET] = True  # kept sealed for an Idempotency-Key replay
    return response


@routes.post("/api-keys/{id}/revoke", name="revoke_api_key")
async def revoke_api_key(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    revoked = await api_keys.revoke(svc.db, request[MERCHANT]["id"], request.match_info["id"])
    svc.auth.forget_all()
    return json_response(revoked)
