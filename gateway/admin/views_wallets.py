"""Console pages for a merchant's customers' wallets: the list, one wallet with its statement, and the
operator's actions on it -- freeze/unfreeze (``pay_actions``) and an adjustment with a required reason
(``refund``, with a fresh TOTP code: it moves money). Every action is audited, succeeded or failed, and
done by :mod:`gateway.services.wallets` -- the same functions the merchant API calls."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.admin.access import PAY_ACTIONS, READ, REFUND, guard, operator_of
from gateway.admin.common import audited, page
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.money import MoneyError, parse_major
from gateway.domain.wallet import Parts
from gateway.services import wallets as service
from gateway.store import stats
from gateway.store import wallets as repo
from gateway.store.base import Row

routes = web.RouteTableDef()
PAGE = 50


async def _merchant(request: web.Request) -> Row:
    async with request.config_dict[keys.DB].read() as conn:
        m = await stats.merchant(conn, request.match_info["id"], operator_of(request).scope)
    if m is None:
        raise NotFound("No merchant")
    return m


def _cursor(raw: str) -> tuple[datetime, str] | None:
    """``<iso time>|<id>`` of the last row seen; anything else is the first page."""
    when, _, row_id = raw.partition("|")
    try:
        return (datetime.fromisoformat(when), row_id) if row_id else None
    except ValueError:
        return None


def _next(rows: Sequence[Mapping[str, Any]]) -> str | None:
    if len(rows) <= PAGE:
        return None
    last = rows[PAGE - 1]
    return f"{last['created_at'].isoformat()}|{last['id']}"


@routes.get("/merchants/{id}/wallets", name="wallets")
@guard(READ)
async def wallets(request: web.Request) -> web.Response:
    m = await _merchant(request)
    prefix = request.query.get("customer", "").strip()[:64]
    async with request.config_dict[keys.DB].read() as conn:
        rows = await repo.list_wallets(conn, m["id"], limit=PAGE + 1, after=_cursor(request.query.get("after", "")),
                                       customer_prefix=prefix)
    return page(request, "admin/wallets.html", {"m": m, "rows": rows[:PAGE], "next": _next(rows),
                                                "customer": prefix})


async def _wallet(request: web.Request) -> tuple[Row, Row]:
    m = await _merchant(request)
    async with request.config_dict[keys.DB].read() as conn:
        w = await repo.get_wallet(conn, m["id"], request.match_info["customer"][:64])
    if w is None:
        raise NotFound("No wallet")
    return m, dict(w)


@routes.get("/merchants/{id}/wallets/{customer}", name="wallet")
@guard(READ)
async def wallet(request: web.Request) -> web.Response:
    m, w = await _wallet(request)
    lines = await service.statement(request.config_dict[keys.DB], m["id"], w["customer_id"], limit=PAGE + 1,
                                    after=_cursor(request.query.get("after", "")))
    return page(request, "admin/wallet.html", {"m": m, "w": w, "lines": lines[:PAGE], "next": _next(lines),
                                               "done": request.query.get("done")})


def _back(m: Row, w: Row, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/admin/merchants/{m['id']}/wallets/{w['customer_id']}?done={done}")


@routes.post("/merchants/{id}/wallets/{customer}/{what:freeze|unfreeze}", name="wallet_freeze")
@guard(PAY_ACTIONS)
async def freeze(request: web.Request) -> web.Response:
    m, w = await _wallet(request)
    what = request.match_info["what"]
    async with audited(request, f"wallet.{what}", object_type="wallet", object_id=w["id"], merchant_id=m["id"],
                       detail={"customer_id": w["customer_id"]}):
        await service.set_frozen(request.config_dict[keys.DB], m["id"], w["customer_id"], what == "freeze")
    raise _back(m, w, what)


def _signed_major(raw: str, currency: str) -> int:
    raw = raw.strip()
    if not raw:
        return 0
    negative = raw.startswith("-")
    value = parse_major(raw.lstrip("-+"), currency)
    return -value if negative else value


@routes.post("/merchants/{id}/wallets/{customer}/adjust", name="wallet_adjust")
@guard(REFUND, step_up=True)
async def adjust(request: web.Request) -> web.Response:
    m, w = await _wallet(request)
    form = await request.post()
    reason = str(form.get("reason", "")).strip()[:256]
    try:
        cash = _signed_major(str(form.get("cash", "")), w["currency"])
        bonus = _signed_major(str(form.get("bonus", "")), w["currency"])
        points_raw = str(form.get("points", "")).strip() or "0"
        points = int(points_raw) if points_raw.lstrip("-").isdigit() and len(points_raw) <= 12 else None
    except (MoneyError, ValueError):
        raise ValidationFailed("cash and bonus: amounts in yuan, e.g. 12.50 or -3") from None
    if points is None:
        raise ValidationFailed("points: a whole number")
    if not reason:
        raise ValidationFailed("A reason is required")
    if not (cash or bonus or points):
        raise ValidationFailed("Give a non-zero cash, bonus or points")
    async with audited(request, "wallet.adjust", object_type="wallet", object_id=w["id"], merchant_id=m["id"],
                       detail={"customer_id": w["customer_id"], "cash": cash, "bonus": bonus, "points": points,
                               "reason": reason}) as detail:
        moved = await service.adjust(request.config_dict[keys.DB], m["id"], w["customer_id"],
                                     Parts(cash=cash, bonus=bonus, points=points), reason)
        detail["movement_id"] = moved["id"]
    raise _back(m, w, "adjust")
