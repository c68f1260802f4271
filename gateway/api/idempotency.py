"""``Idempotency-Key`` on POST, with Stripe's semantics:

* same key, same request → the first response (status and body) replayed;
* same key, different request → 422 ``idempotency_key_reused``;
* same key while the first is still running → 409 ``idempotency_key_in_use``;
* kept 24 hours. Only a final answer is kept: a request that failed validation, failed unexpectedly
  (500: nothing it committed can change its answer -- post-commit work is best effort), or got a
  retryable answer (503: the channel or the database did not answer; 409 in flight and 429 never reach
  here) stores nothing: the key is released and a retry with it runs again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from gateway.api.auth import MERCHANT
from gateway.domain.errors import GatewayError, IdempotencyKeyInUse, IdempotencyKeyReused, ValidationFailed
from gateway.keys import SERVICES
from gateway.store import idempotency
from gateway.web.problems import from_error

# Stripe saves no result for a request that failed validation before it executed.
NOT_EXECUTED = frozenset({"validation_error", "invalid_json", "payload_too_large", "pay_method_unavailable"})

BODY = "raw_body"
log = logging.getLogger(__name__)
# Keys whose release failed (the database was unreachable), per database: (merchant id, key).
# Kept no longer than the key's lock: after it another process may have taken the key over.
_UNRELEASED: dict[int, dict[tuple[str, str], float]] = {}


def _fingerprint(request: web.Request, body: bytes) -> str:
    try:  # the same JSON document, whatever its whitespace or key order
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(f"{request.method} {request.path}\n".encode() + canonical).hexdigest()


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.method != "POST" or MERCHANT not in request:
        return await handler(request)
    body = await request.read()
    request[BODY] = body
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return await handler(request)
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ValidationFailed("Idempotency-Key must be 1–255 printable characters",
                               errors=[{"field": "Idempotency-Key", "message": "invalid"}])
    svc = request.config_dict[SERVICES]
    merchant_id = request[MERCHANT]["id"]
    unreleased = _UNRELEASED.setdefault(id(svc.db), {})
    lost = unreleased.get((merchant_id, key))
    async with svc.db.begin() as conn:
        if lost is not None and time.monotonic() - lost < idempotency.LOCK.total_seconds() / 2:
            await idempotency.release(conn, merchant_id, key)  # ours, finished; its release was lost
        claim = await idempotency.claim(conn, merchant_id, key, _fingerprint(request, body))
    unreleased.pop((merchant_id, key), None)
    if claim.state == "replay":
        response = web.Response(status=claim.status or 200, text=claim.body or "",
                                content_type="application/json" if (claim.status or 200) < 400
                                else "application/problem+json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    if claim.state == "mismatch":
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request")
    if claim.state == "in_flight":
        raise IdempotencyKeyInUse("A request with this Idempotency-Key is in progress; retry later")
    try:
        try:
            response = await handler(request)
        except GatewayError as exc:
            if exc.code in NOT_EXECUTED:
                raise
            response = from_error(exc)  # it ran and answered: that answer is the result to replay
    except BaseException:
        await _release(svc, merchant_id, key)
        raise
    if response.status >= 500 and response.status != 502:  # 502: the channel's final refusal
        await _release(svc, merchant_id, key)
        return response
    async with svc.db.begin() as conn:
        await idempotency.complete(conn, merchant_id, key, response.status, response.text or "")
    return response


async def _release(svc: Any, merchant_id: str, key: str) -> None:
    """Let the key be used again. If the database is not there to say so, its lock runs out instead."""
    try:
        async with svc.db.begin() as conn:
            await idempotency.release(conn, merchant_id, key)
    except Exception as exc:
        # Released at this process's next use of the key; elsewhere, when its lock runs out.
        _UNRELEASED.setdefault(id(svc.db), {})[(merchant_id, key)] = time.monotonic()
        log.warning("Idempotency-Key not released (%s); released when next used here", type(exc).__name__)
