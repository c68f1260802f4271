"""``Idempotency-Key`` on POST, with Stripe's semantics:

* same key, same request → the first response (status and body) replayed;
* same key, different request → 422 ``idempotency_key_reused``;
* same key while the first is still running → 409 ``idempotency_key_in_use``;
* kept 24 hours. Only a final answer is kept: a request that failed validation, failed unexpectedly
  (500: nothing it committed can change its answer -- post-commit work is best effort), or got a
  retryable answer (503: the channel or the database did not answer; 409 in flight and 429 never reach
  here) stores nothing: the key is released and a retry with it runs again.

An answer that carries a secret (a rotated webhook secret: a handler marks it :data:`SECRET`) is kept
sealed (AES-GCM under the deployment's secret key, like every stored secret) and unsealed for the
replay: a merchant whose connection dropped gets the secret it must now use, and the store never holds
it in clear.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.api import jsonbody
from gateway.api.auth import MERCHANT
from gateway.crypto.secrets import seal, unseal
from gateway.domain.errors import (
    DatabaseUnavailable,
    GatewayError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidJSON,
    ValidationFailed,
)
from gateway.keys import SERVICES
from gateway.services import payments, refunds
from gateway.store import idempotency
from gateway.store.batch import Batcher
from gateway.store.db import Database
from gateway.web.problems import from_error

# Stripe saves no result for a request that failed validation before it executed.
NOT_EXECUTED = frozenset({"validation_error", "invalid_json", "payload_too_large", "pay_method_unavailable",
                         "return_url_not_allowed"})

BODY = "raw_body"
SECRET = "carries_secret"  # set on a response (``response[SECRET] = True``) whose body holds a secret
_SEALED = "sealed:"  # a kept body that is sealed; a plain one is JSON and starts with "{"
log = logging.getLogger(__name__)


# Group commits, one of each per API app (its requests all use one database): the keys claimed, and the
# answers finished, while the last ones were written are written together -- a create costs its own
# transaction and a share of two others, not three. An outage fails a whole batch at once.

async def _claim(wanted: Sequence[tuple[Database, idempotency.Wanted]]) -> list[idempotency.Claim]:
    async with wanted[0][0].begin() as conn:
        return [await idempotency.claim_wanted(conn, one) for _, one in wanted]


async def _keep(answers: Sequence[tuple[Database, idempotency.Answer]]) -> list[None]:
    async with answers[0][0].begin() as conn:
        await idempotency.complete(conn, [answer for _, answer in answers])
    return [None] * len(answers)


CLAIMS = web.AppKey("idempotency_claims", Batcher[tuple[Database, idempotency.Wanted], idempotency.Claim])
ANSWERS = web.AppKey("idempotency_answers", Batcher[tuple[Database, idempotency.Answer], None])


def group_commits(app: web.Application) -> None:
    app[CLAIMS] = Batcher(_claim, outage=DatabaseUnavailable)
    app[ANSWERS] = Batcher(_keep, outage=DatabaseUnavailable)


@dataclass
class _Earlier:
    """A run under this key that ended without a kept answer (a 503, or the database went away)."""
    at: float
    release_lost: bool  # the key's row is still in flight: release it at the next use


# Per database, (merchant id, key) → its earlier run in this process. Trusted no longer than half the
# key's lock: after that another process may have taken the key over.
_EARLIER: dict[int, dict[tuple[str, str], _Earlier]] = {}
DUPLICATES = frozenset({"duplicate_out_trade_no", "duplicate_out_refund_no"})


def _fingerprint(request: web.Request, body: bytes) -> str:
    try:  # the same JSON document, whatever its whitespace or key order
        canonical = json.dumps(jsonbody.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except InvalidJSON:  # refused by the handler anyway (400): any stable fingerprint does
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
    book = _EARLIER.setdefault(id(svc.db), {})
    earlier = book.get((merchant_id, key))
    if earlier is not None and time.monotonic() - earlier.at > idempotency.LOCK.total_seconds() / 2:
        del book[(merchant_id, key)]
        earlier = None
    claim = await request.app[CLAIMS].submit((svc.db, idempotency.Wanted(
        merchant_id, key, _fingerprint(request, body), release_first=earlier is not None and earlier.release_lost)))
    if claim.state == "replay":
        text = claim.body or ""
        if text.startswith(_SEALED):
            text = unseal(svc.settings.secret_key, "idempotency", text.removeprefix(_SEALED))
        response = web.Response(status=claim.status or 200, text=text,
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
        book[(merchant_id, key)] = _Earlier(time.monotonic(), not await _release(svc, merchant_id, key))
        raise
    if response.status == 409 and earlier is not None:
        # The earlier run under this key committed before the database went away: its result is the answer.
        response = await _committed_result(request, svc, merchant_id, response) or response
    if response.status >= 500 and response.status != 502:  # 502: the channel's final refusal
        book[(merchant_id, key)] = _Earlier(time.monotonic(), not await _release(svc, merchant_id, key))
        return response
    try:
        await request.app[ANSWERS].submit((svc.db, idempotency.Answer(merchant_id, key, response.status,
                                                                      _kept(svc, response))))
    except Exception as exc:  # the answer stands; the key is released at its next use here
        book[(merchant_id, key)] = _Earlier(time.monotonic(), True)
        log.warning("Idempotency-Key answer not kept (%s)", type(exc).__name__)
        return response
    book.pop((merchant_id, key), None)
    return response


def _kept(svc: Any, response: web.Response) -> str:
    """The body to keep for replays: sealed if it carries a secret."""
    text = response.text or ""
    if response.get(SECRET):
        return _SEALED + seal(svc.settings.secret_key, "idempotency", text)
    return text


def _answer(data: Any, status: int = 201) -> web.Response:
    return web.Response(status=status, text=json.dumps(data, ensure_ascii=False), content_type="application/json")


async def _committed_result(request: web.Request, svc: Any, merchant_id: str,
                            response: web.Response) -> web.Response | None:
    """The resource a duplicate answer names, as its creation's answer -- if it is this request's; a
    close that the earlier run completed, as its answer."""
    try:
        problem = json.loads(response.text or "{}")
        wanted = jsonbody.loads(request[BODY] or b"{}")
    except (ValueError, InvalidJSON):
        return None
    if not isinstance(wanted, dict) or not isinstance(problem, dict):
        return None
    if problem.get("code") == "invalid_state" and request.path.endswith("/close"):  # closed by the earlier run
        payment = await payments.get_payment(svc, merchant_id, request.match_info.get("id", ""))
        return _answer(payment, 200) if payment["status"] == "closed" else None
    if problem.get("code") not in DUPLICATES:
        return None
    if problem.get("refund_id"):
        refund = await refunds.get_refund(svc, merchant_id, problem["refund_id"])
        same = (refund["amount"] == wanted.get("amount") and refund["payment_id"] == request.match_info.get("id")
                and refund["out_refund_no"] == wanted.get("out_refund_no"))
        return _answer(refund) if same else None
    if problem.get("payment_id"):
        payment = await payments.resume_create(svc, merchant_id, problem["payment_id"], client_ip=request.remote)
        same = (payment["amount"] == wanted.get("amount") and payment["out_trade_no"] == wanted.get("out_trade_no"))
        return _answer(payment) if same else None
    return None


async def _release(svc: Any, merchant_id: str, key: str) -> bool:
    """Let the key be used again. False if the database was not there to say so."""
    try:
        async with svc.db.begin() as conn:
            await idempotency.release(conn, merchant_id, key)
        return True
    except Exception as exc:
        log.warning("Idempotency-Key not released (%s); released when next used here", type(exc).__name__)
        return False
