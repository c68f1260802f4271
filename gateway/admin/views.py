"""The console's read pages: dashboard, payments (search, export, one payment's story), refunds,
channel callbacks, webhook events, merchants, operators, audit log, system."""
from __future__ import annotations

import asyncio
import json
import platform
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.admin import actions, charts
from gateway.admin.access import AUDIT, EXPORT, OPERATORS, guard, operator_of, record
from gateway.admin.common import BEIJING, csv_line, page, when
from gateway.admin.dashboard import figures
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.money import format_major, parse_major
from gateway.domain.states import PaymentStatus
from gateway.services.risk_rules import risk_summary
from gateway.store import audit, migrate, stats
from gateway.store import operators as operators_repo
from gateway.store.base import Row, utcnow

routes = web.RouteTableDef()
PAGE_SIZE = 50
EXPORT_MAX = 100_000


def _day_start(days_back: int) -> datetime:
    """Midnight in Beijing ``days_back`` days ago, as UTC."""
    local = datetime.now(UTC) + BEIJING
    start = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_back)
    return start - BEIJING


# -- dashboard -----------------------------------------------------------------------------------------

@routes.get("/", name="dashboard")
@guard()
async def dashboard(request: web.Request) -> web.Response:
    chosen = request.query.get("range", "7d")
    data = await figures(request.config_dict[keys.DB], operator_of(request).scope, utcnow(), chosen)
    label = lambda v: format_major(v)  # noqa: E731
    return page(request, "admin/dashboard.html", data | {
        "range": chosen, "trend": charts.daily_bars(data["days"], label, title="trend"),
        "shares": charts.share_bars([(f"{m['channel']} · {m['pay_method']}", m["amount"]) for m in data["methods"]],
                                    label, title="by method")})


# -- payments ------------------------------------------------------------------------------------------

def _date(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(f"{field}: YYYY-MM-DD expected") from None
    return day - BEIJING


def _fen(value: str | None, field: str) -> int | None:
    if not value:
        return None
    try:
        return parse_major(value)
    except ValueError:
        raise ValidationFailed(f"{field}: an amount in yuan expected") from None


DEFAULT_DAYS = 7  # an unfiltered list shows the last week: its totals read a week of rows, not the table


def payment_filter(request: web.Request) -> stats.PaymentFilter:
    q = dict(request.query)
    if not any(q.get(k) for k in ("q", "from", "to", "merchant", "status", "pay_method", "min", "max", "all")):
        q["from"] = default_from()
    status = q.get("status") or None
    if status is not None and status not in {s.value for s in PaymentStatus}:
        raise ValidationFailed("unknown status")
    to = _date(q.get("to"), "to")
    return stats.PaymentFilter(
        q=q.get("q", "").strip()[:64], merchant_id=q.get("merchant") or None, status=status,
        pay_method=q.get("pay_method") or None, created_from=_date(q.get("from"), "from"),
        created_to=to + timedelta(days=1) if to else None,
        amount_min=_fen(q.get("min"), "min"), amount_max=_fen(q.get("max"), "max"))


def default_from() -> str:
    return f"{datetime.now(UTC) + BEIJING - timedelta(days=DEFAULT_DAYS - 1):%Y-%m-%d}"


@routes.get("/payments", name="payments")
@guard()
async def payments(request: web.Request) -> web.Response:
    f, scope = payment_filter(request), operator_of(request).scope
    before = None
    if "before" in request.query:
        at, _, pid = request.query["before"].partition("~")
        try:
            before = (datetime.fromisoformat(at), pid)
        except ValueError:
            raise ValidationFailed("bad page cursor") from None
    async with request.config_dict[keys.DB].read() as conn:
        rows = await stats.search_payments(conn, f, scope, limit=PAGE_SIZE + 1, before=before)
        totals = await stats.payment_totals(conn, f, scope)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    cursor = f"{rows[-1]['created_at'].isoformat()}~{rows[-1]['id']}" if more else None
    if len(rows) == 1 and f.q and not before:  # a number that names one payment: straight to it
        raise web.HTTPSeeOther(str(request.app.router["payment"].url_for(id=rows[0]["id"])))
    query = {k: v for k, v in request.query.items() if k != "before"}
    if f.created_from is not None and "from" not in query and not f.q:
        query["from"] = default_from()
    return page(request, "admin/payments.html", {"rows": rows, "totals": totals, "cursor": cursor, "query": query,
                                                 "statuses": [s.value for s in PaymentStatus]})


@routes.get("/payments.csv", name="payments_csv")
@guard(EXPORT)
async def payments_csv(request: web.Request) -> web.StreamResponse:
    f, scope = payment_filter(request), operator_of(request).scope
    db = request.config_dict[keys.DB]
    async with db.read() as conn:
        total = (await stats.payment_totals(conn, f, scope))["count"]
    if total > EXPORT_MAX:
        raise ValidationFailed(f"{total} rows: narrow the filter to at most {EXPORT_MAX}")
    await record(request, "export", object_type="payments", detail={"rows": total, "filter": dict(request.query)})
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="payments-{(utcnow() + BEIJING):%Y%m%d-%H%M%S}.csv"'})
    await response.prepare(request)
    await response.write(b"\xef\xbb\xbf" + csv_line([
        "payment_id", "merchant_id", "out_trade_no", "status", "amount", "refunded", "currency", "subject",
        "created_at_beijing", "paid_at_beijing"]))
    before = None
    while True:
        async with db.read() as conn:
            rows = await stats.search_payments(conn, f, scope, limit=1000, before=before)
        for r in rows:
            await response.write(csv_line([
                r["id"], r["merchant_id"], r["out_trade_no"], r["status"], format_major(r["amount"], r["currency"]),
                format_major(r["refunded_amount"], r["currency"]), r["currency"], r["subject"],
                when(r["created_at"]), when(r["paid_at"])]))
        if len(rows) < 1000:
            break
        before = (rows[-1]["created_at"], rows[-1]["id"])
    await response.write_eof()
    return response


def _timeline(p: Row, story: Mapping[str, list[Row]], actions: list[Row]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"at": p["created_at"], "kind": "payment", "text": "created",
                                    "detail": f"{p['amount']} {p['currency']}"}]
    for a in story["attempts"]:
        items.append({"at": a["created_at"], "kind": "attempt", "text": f"{a['id']} {a['channel']}/{a['pay_method']}",
                      "detail": "created"})
        if a["paid_at"]:
            items.append({"at": a["paid_at"], "kind": "attempt", "text": a["id"],
                          "detail": f"succeeded {a['channel_trade_no'] or ''}"})
    for n in story["callbacks"]:
        items.append({"at": n["created_at"], "kind": "callback", "text": f"{n['channel']} {n['result']}",
                      "detail": n["error"] or n["trade_no"], "link": n["id"]})
    for e in story["events"]:
        items.append({"at": e["created_at"], "kind": "event", "text": e["type"], "detail": e["delivery_status"]})
    for d in story["deliveries"]:
        items.append({"at": d["attempted_at"], "kind": "delivery", "text": f"#{d['attempt']} → {d['status_code'] or d['error']}",
                      "detail": f"{d['latency_ms']} ms"})
    for r in story["refunds"]:
        items.append({"at": r["created_at"], "kind": "refund", "text": f"{r['id']} {r['amount']}",
                      "detail": r["automatic"] or r["reason"] or ""})
        if r["succeeded_at"]:
            items.append({"at": r["succeeded_at"], "kind": "refund", "text": r["id"], "detail": "succeeded"})
    seen: set[int] = set()
    for entry in story["ledger"]:
        if entry["id"] not in seen:
            seen.add(entry["id"])
            items.append({"at": entry["created_at"], "kind": "ledger", "text": entry["kind"], "detail": entry["ref"]})
    for act in actions:
        items.append({"at": act["at"], "kind": "operator", "text": f"{act['action']} ({act['outcome']})",
                      "detail": act["actor"]})
    if p["closed_at"]:
        items.append({"at": p["closed_at"], "kind": "payment", "text": "closed", "detail": ""})
    order = {"payment": 0, "attempt": 1, "callback": 2, "ledger": 3, "event": 4, "refund": 5, "delivery": 6,
             "operator": 7}
    return sorted(items, key=lambda i: (i["at"], order[i["kind"]]))


@routes.get("/payments/{id}", name="payment")
@guard()
async def payment(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        p = await stats.payment(conn, request.match_info["id"], operator_of(request).scope)
        if p is None:
            raise NotFound("No payment")
        story = await stats.payment_story(conn, p)
        actions = await audit.recent(conn, limit=50, object_id=p["id"])
    return page(request, "admin/payment.html", {
        "p": p, "story": story, "timeline": _timeline(p, story, actions), "done": request.query.get("done"),
        "risk": risk_summary(p.get("risk")),
        "refund_no": "console-" + secrets.token_urlsafe(12)})


# -- refunds, callbacks, webhooks ---------------------------------------------------------------------

@routes.get("/refunds", name="refunds")
@guard()
async def refunds(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        rows = await stats.list_refunds(conn, operator_of(request).scope, status=request.query.get("status") or None,
                                        q=request.query.get("q", "").strip()[:64])
    return page(request, "admin/refunds.html", {"rows": rows, "done": request.query.get("done")})


@routes.get("/callbacks", name="callbacks")
@guard()
async def callbacks(request: web.Request) -> web.Response:
    scope, db = operator_of(request).scope, request.config_dict[keys.DB]
    async with db.read() as conn:
        rows = await stats.list_callbacks(conn, scope, result=request.query.get("result") or None,
                                          channel=request.query.get("channel") or None)
        by_day = await stats.callback_stats(conn, scope, _day_start(6), db.dialect)
    return page(request, "admin/callbacks.html", {"rows": rows, "stats": by_day})


@routes.get("/callbacks/{id:[0-9]+}", name="callback")
@guard()
async def callback(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        row = await stats.callback(conn, int(request.match_info["id"]), operator_of(request).scope)
    if row is None:
        raise NotFound("No callback")
    try:
        headers = json.dumps(json.loads(row["headers"]), indent=2, ensure_ascii=False)
    except ValueError:
        headers = row["headers"]
    return page(request, "admin/callback.html", {"n": row, "headers": headers})


@routes.get("/webhooks", name="webhooks")
@guard()
async def webhooks(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        rows = await stats.list_events(conn, operator_of(request).scope, status=request.query.get("status") or None)
    return page(request, "admin/webhooks.html", {"rows": rows})


@routes.get("/webhooks/{id}", name="webhook")
@guard()
async def webhook(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        event = await stats.event(conn, request.match_info["id"], operator_of(request).scope)
        if event is None:
            raise NotFound("No event")
        tries = await stats.event_deliveries(conn, event["id"])
    return page(request, "admin/webhook.html", {"e": event, "deliveries": tries, "done": request.query.get("done")})


# -- merchants, operators, audit, system ------------------------------------------------------------

@routes.get("/merchants", name="merchants")
@guard()
async def merchants(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        rows = await stats.list_merchants(conn, operator_of(request).scope)
    return page(request, "admin/merchants.html", {"rows": rows})


@routes.get("/merchants/{id}", name="merchant")
@guard()
async def merchant(request: web.Request) -> web.Response:
    return await merchant_page(request, {"done": request.query.get("done")})


async def merchant_page(request: web.Request, extra: Mapping[str, Any]) -> web.Response:
    """The merchant's page (also what a "Test credentials" answers with, its result in ``extra``)."""
    async with request.config_dict[keys.DB].read() as conn:
        m = await stats.merchant(conn, request.match_info["id"], operator_of(request).scope)
        if m is None:
            raise NotFound("No merchant")
        accounts = await stats.merchant_accounts(conn, m["id"])
    api_keys = await actions.merchant_api_keys(request.config_dict[keys.SERVICES], m["id"])
    return page(request, "admin/merchant.html", {"m": m, "accounts": accounts, "api_keys": api_keys,
                                                 "channels": sorted(request.config_dict[keys.SERVICES].registry.channels),
                                                 "domains": json.loads(m["return_domains"] or "[]"), **extra})


@routes.get("/operators", name="operators")
@guard(OPERATORS)
async def operators(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        rows = await operators_repo.list_all(conn, operator_of(request).scope)
    return page(request, "admin/operators.html", {"rows": rows, "roles": operators_repo.ROLES})


@routes.get("/audit", name="audit")
@guard(AUDIT)
async def audit_log(request: web.Request) -> web.Response:
    db = request.config_dict[keys.DB]
    before = request.query.get("before")
    async with db.read() as conn:
        rows = await audit.recent(conn, limit=100, before=int(before) if before and before.isdigit() else None,
                                  actor=request.query.get("actor") or None,
                                  action=request.query.get("action") or None, merchant_id=operator_of(request).scope)
    report = await audit.verify(db) if request.query.get("verify") else None
    await record(request, "view_audit", object_type="audit_log", detail={"verify": bool(report)})
    return page(request, "admin/audit.html", {"rows": rows, "report": report})


@routes.get("/audit.csv", name="audit_csv")
@guard(AUDIT)
async def audit_csv(request: web.Request) -> web.StreamResponse:
    db, scope = request.config_dict[keys.DB], operator_of(request).scope
    await record(request, "export", object_type="audit_log")
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="audit-{(utcnow() + BEIJING):%Y%m%d-%H%M%S}.csv"'})
    await response.prepare(request)
    await response.write(b"\xef\xbb\xbf" + csv_line(["seq", "at_beijing", "actor", "ip", "action", "object_type",
                                                      "object_id", "merchant_id", "outcome", "detail", "hash"]))
    before = None
    while True:
        async with db.read() as conn:
            rows = await audit.recent(conn, limit=1000, before=before, merchant_id=scope)
        for a in rows:
            await response.write(csv_line([a["seq"], when(a["at"]), a["actor"], a["ip"], a["action"], a["object_type"],
                                           a["object_id"], a["merchant_id"], a["outcome"], a["detail"], a["hash"]]))
        if len(rows) < 1000:
            break
        before = rows[-1]["seq"]
    await response.write_eof()
    return response


@routes.get("/system", name="system")
@guard()
async def system(request: web.Request) -> web.Response:
    svc = request.config_dict[keys.SERVICES]
    db_state = cache_state = "ok"
    try:
        await svc.db.ping()
    except Exception as exc:  # shown, not raised: the page is for diagnosing exactly this
        db_state = f"error: {type(exc).__name__}"
    try:
        await svc.cache.ping()
    except Exception as exc:
        cache_state = f"degraded: {type(exc).__name__}"
    async with svc.db.read() as conn:
        head = await migrate.current_revision(conn)
    loops = sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("tasks:"))
    settings = svc.settings
    config = {k: ("••••" if any(s in k for s in ("secret", "key", "password", "redis_url", "database_url")) and v else v)
              for k, v in sorted(vars(settings).items()) if isinstance(v, str | int | float | bool | type(None))}
    return page(request, "admin/system.html", {
        "python": platform.python_version(), "db": f"{svc.db.dialect} ({db_state})", "migration": head,
        "cache": f"{type(svc.cache).__name__} ({cache_state})", "loops": loops, "background": settings.background,
        "config": config, "version": _version()})


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("gateway")
    except metadata.PackageNotFoundError:
        return "source"
