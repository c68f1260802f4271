"""Request parsing shared by the API handlers."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api.idempotency import BODY
from gateway.api.models import validation_errors
from gateway.domain.errors import InvalidJSON, ValidationFailed
from gateway.store.base import Row

M = TypeVar("M", bound=BaseModel)


async def parse(request: web.Request, model: type[M]) -> M:
    if request.headers.get("Content-Type") and request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="Send JSON with Content-Type: application/json")
    body = request[BODY] if BODY in request else await request.read()
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidJSON("The body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object", errors=[{"field": "body",
                                                                          "message": "must be an object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("The request has invalid fields", errors=validation_errors(exc)) from None


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data, ensure_ascii=False),
                        content_type="application/json")


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ValidationFailed(f"{name} must be an integer from {lo} to {hi}",
                               errors=[{"field": name, "message": f"integer {lo}–{hi} expected"}])
    return int(raw)


def page_request(request: web.Request) -> tuple[int, tuple[datetime, str] | None]:
    """``limit`` (1–100, default 20) and the decoded ``cursor`` of a list request.

    A cursor is the ``(created_at, id)`` of the last row of the previous page: keyset pagination, stable
    while rows are added."""
    limit = query_int(request, "limit", 20, 1, 100)
    cursor = request.query.get("cursor")
    if not cursor:
        return limit, None
    try:
        created, _, row_id = base64.urlsafe_b64decode(cursor.encode() + b"==").decode().partition("|")
        return limit, (datetime.fromisoformat(created), row_id)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Invalid cursor", errors=[{"field": "cursor", "message": "invalid"}]) from None


def page_response(rows: Sequence[Row], limit: int, view: Callable[[Row], Any]) -> web.Response:
    """The list answer for ``rows`` fetched with ``limit + 1``: the extra row only says there is more."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if has_more:
        last = rows[-1]
        cursor = base64.urlsafe_b64encode(f"{last['created_at'].isoformat()}|{last['id']}".encode()).decode().rstrip("=")
    return json_response({"object": "list", "data": [view(r) for r in rows], "has_more": has_more,
                          "next_cursor": cursor})
