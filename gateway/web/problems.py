"""Errors at the edge, mapped once: domain error codes → HTTP statuses, rendered as RFC 9457
``application/problem+json``. An unexpected exception is logged with the request id and answered 500
without internals."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from gateway.domain.errors import GatewayError

log = logging.getLogger(__name__)

STATUS: dict[str, int] = {
    "validation_error": 422, "invalid_json": 400, "unauthorized": 401, "not_found": 404,
    "duplicate_out_trade_no": 409, "duplicate_out_refund_no": 409, "idempotency_key_in_use": 409,
    "idempotency_key_reused": 422, "payload_too_large": 413, "invalid_state": 409,
    "refund_exceeds_refundable": 422, "return_url_not_allowed": 422, "pay_method_unavailable": 422,
    "channel_declined": 502,
    "channel_unavailable": 503, "database_unavailable": 503, "rate_limited": 429, "method_not_allowed": 405,
    "unsupported_media_type": 415, "internal_error": 500, "insufficient_balance": 402, "wallet_frozen": 409,
    "payment_declined": 402,
    "risk_blocked": 403,
}
PROBLEM = "application/problem+json"


def problem(code: str, title: str, detail: str | None = None, *, status: int | None = None,
            errors: Sequence[Mapping[str, Any]] | None = None, **extra: Any) -> web.Response:
    status = status or STATUS.get(code, 400)
    body: dict[str, Any] = {"type": f"https://errors.gateway.local/{code}", "title": title, "status": status,
                            "code": code}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [dict(e) for e in errors]
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type=PROBLEM)


def from_error(exc: GatewayError) -> web.Response:
    response = problem(exc.code, exc.title, exc.detail, errors=exc.errors or None, **exc.extra)
    if "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type"}


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        return from_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
        return problem(code, exc.reason, exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else None,
                       status=exc.status)
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the client went away mid-request: nothing to answer, nothing to log as our error
    except Exception:
        log.exception("unhandled error in %s %s [request %s]", request.method, request.path,
                      request.get("request_id"))
        return problem("internal_error", "Internal error", "The error was logged.",
                       request_id=request.get("request_id"))
