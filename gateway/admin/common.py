"""What every console page shares: the template context (operator, money and time formatting) and the
audit wrapper for actions."""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from gateway.admin.access import operator_of, record
from gateway.domain.errors import GatewayError, NotFound
from gateway.domain.money import format_major
from gateway.web.i18n import format_amount
from gateway.web.pages import page_context, render_page

BEIJING = timedelta(hours=8)


def when(value: datetime | None) -> str:
    """Beijing time, to the second."""
    if value is None:
        return ""
    return (value.astimezone(UTC) + BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def page(request: web.Request, template: str, context: Mapping[str, Any] | None = None, *,
         status: int = 200) -> web.Response:
    lang = page_context(request)["lang"]
    return render_page(request, template, {
        "op": request.get("admin_operator"), "when": when, "path": request.path, "qs": request.query_string,
        "money": lambda minor, currency="CNY": ("-" if int(minor or 0) < 0 else "")
        + format_amount(abs(int(minor or 0)), currency, lang),
        "major": lambda minor, currency="CNY": format_major(int(minor or 0), currency),
        **(context or {})}, status=status)


def in_scope(request: web.Request, row: Mapping[str, Any] | None, what: str) -> Mapping[str, Any]:
    """The row, if it exists and this operator may see its merchant; else 404 (the same for both)."""
    if row is None or not operator_of(request).sees(row.get("merchant_id")):
        raise NotFound(f"No {what}")
    return row


@asynccontextmanager
async def audited(request: web.Request, action: str, *, object_type: str, object_id: str,
                  merchant_id: str | None, detail: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
    """Run an action and write its audit entry, succeeded or failed. The yielded dict adds details."""
    extra: dict[str, Any] = dict(detail or {})
    try:
        yield extra
    except GatewayError as exc:
        await record(request, action, outcome="failed", object_type=object_type, object_id=object_id,
                     merchant_id=merchant_id, detail=extra | {"error": exc.code})
        raise
    except Exception as exc:
        await record(request, action, outcome="failed", object_type=object_type, object_id=object_id,
                     merchant_id=merchant_id, detail=extra | {"error": type(exc).__name__})
        raise
    await record(request, action, object_type=object_type, object_id=object_id, merchant_id=merchant_id,
                 detail=extra)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell Excel opens as text: no formula (OWASP CSV injection), long digit runs kept whole."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    elif text.isdigit() and len(text) > 11:
        text = "\t" + text  # a trade number, not a float in scientific notation
    if any(c in text for c in ',"\r\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def csv_line(values: list[Any]) -> bytes:
    return (",".join(csv_cell(v) for v in values) + "\r\n").encode("utf-8")
