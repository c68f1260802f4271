"""Request parsing shared by the API handlers."""
from __future__ import annotations

import base64
import re
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api import jsonbody
from gateway.api.idempotency import BODY
from gateway.api.models import validation_errors
from gateway.domain.errors import ReturnUrlNotAllowed, ValidationFailed
from gateway.store.base import Row
from gateway.web import urls

M = TypeVar("M", bound=BaseModel)
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 1, 1, tzinfo=UTC)
_ID = re.compile(r"[A-Za-z0-9_\-]{1,40}")


async def parse(request: web.Request, model: type[M]) -> M:
    if request.headers.get("Content-Type") and request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="Send JSON with Content-Type: application/json")
    body = request[BODY] if BODY in request else await request.read()
    data = jsonbody.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object", errors=[{"field": "body",
                                                                          "message": "must be an object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("The request has invalid fields", errors=validation_errors(exc)) from None


def json_response(data: Any, status: int = 200) -> web.Response:
    # orjson: UTF-8 as it is (no \u escapes), compact, several times faster than json.dumps on an answer.
    return web.Response(status=status, body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
                        content_type="application/json", charset="utf-8")


def _invalid(name: str, message: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": name, "message": message}])


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    # ASCII digits only: "²".isdigit() is True, and int() refuses it.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not lo <= int(raw) <= hi:
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
        if not cursor.isascii() or len(cursor) > 200:
            raise ValueError(cursor)
        created, sep, row_id = base64.urlsafe_b64decode(cursor.encode() + b"==").decode().partition("|")
        when = datetime.fromisoformat(created)
        # Only what page_response writes: an aware time within the store's range and an id of ours.
        if not sep or when.tzinfo is None or not MIN_TIME <= when <= MAX_TIME or not _ID.fullmatch(row_id):
            raise ValueError(cursor)
        return limit, (when, row_id)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise _invalid("cursor", "invalid", "Invalid cursor: pass next_cursor as it came") from None


def query_str(request: web.Request, name: str, max_length: int = 64) -> str | None:
    """A free-text filter: printable, at most ``max_length`` characters (no id or number of ours is
    longer), else 422 -- never a value the database could choke on."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > max_length or not raw.isprintable() or not _encodable(raw):
        raise _invalid(name, f"1–{max_length} printable characters", f"{name} is not a valid value")
    return raw


def _encodable(raw: str) -> bool:
    try:
        raw.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a lone surrogate from an undecodable percent-escape
        return False


def query_time(request: web.Request, name: str) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; none = UTC) between 1970 and 9999, else 422."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        if len(raw) > 40:
            raise ValueError(raw)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        if not MIN_TIME <= value <= MAX_TIME:
            raise ValueError(raw)
        return value
    except (ValueError, OverflowError):
        raise _invalid(name, "ISO 8601 time from 1970 to 9999 expected",
                       f"{name} must be an ISO 8601 time from 1970 to 9999") from None


def query_choice(request: web.Request, name: str, choices: Collection[str]) -> str | None:
    raw = request.query.get(name)
    if raw is not None and raw not in choices:
        raise _invalid(name, f"one of {sorted(choices)}", f"Unknown {name}")
    return raw


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


def check_return_url(raw: str | None, merchant: Row) -> None:
    """422 ``return_url_not_allowed`` (naming the allowed domains) unless the browser would go to one of
    the merchant's return domains -- the check the checkout repeats before sending the shopper there."""
    if raw is None:
        return
    domains = urls.return_domains(merchant["return_domains"])
    if urls.allowed_return(raw, domains) is None:
        parsed = urls.parse_http_url(raw)
        what = f"return_url's host {parsed.host} is" if parsed else "return_url is"
        raise ReturnUrlNotAllowed(
            f"{what} not one of your return domains ({', '.join(domains) or 'none registered'}); "
            "add it with update-merchant --return-domain", allowed_domains=domains,
            errors=[{"field": "return_url", "message": f"host must be one of {domains}"}])
