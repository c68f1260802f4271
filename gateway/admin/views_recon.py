"""The console's reconciliation pages: the batches (one per channel account and bill day) with both
sides' totals and state, one batch side by side with its discrepancies, and the resolve form -- finance
and owners only, a reason required, a fresh code (accepting the channel's side can move money), audited.
Resolution itself is :func:`gateway.services.reconciliation.resolve.resolve`: this page only asks."""
from __future__ import annotations

from datetime import date

from aiohttp import web

from gateway import keys
from gateway.admin.access import RECONCILE, guard, operator_of
from gateway.admin.common import audited, page
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.services.reconciliation.resolve import ACTIONS, REASON_MAX, resolve
from gateway.store import merchants as merchants_repo
from gateway.store import reconciliation as recon
from gateway.store.base import Row

routes = web.RouteTableDef()
PAGE_SIZE = 50
STATUSES = ("pending", "running", "done", "no_bill", "not_ready", "failed")


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{field}: YYYY-MM-DD expected") from None


@routes.get("/reconciliation", name="recon_batches")
@guard()
async def batches(request: web.Request) -> web.Response:
    """Newest bill days first; filter by day, account, status; a page of 50 (``before`` = day~id)."""
    q, scope = request.query, operator_of(request).scope
    day = _day(q.get("day"), "day")
    if q.get("status") and q["status"] not in STATUSES:
        raise ValidationFailed("unknown status")
    before: tuple[date | None, str] | None = None
    if q.get("before"):
        at, _, bid = q["before"].partition("~")
        before = (_day(at, "before"), bid)
    async with request.config_dict[keys.DB].read() as conn:
        rows = await recon.console_batches(conn, merchant_id=scope, day=day,
                                           account_id=q["account"].strip()[:40] if q.get("account") else None,
                                           status=q.get("status") or None, before=before, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    cursor = f"{rows[-1]['bill_date'].isoformat()}~{rows[-1]['id']}" if more else None
    query = {k: v for k, v in q.items() if k != "before"}
    return page(request, "admin/recon_batches.html", {"rows": rows, "cursor": cursor, "query": query,
                                                      "statuses": STATUSES})


async def _batch(request: web.Request, batch_id: str) -> Row:
    async with request.config_dict[keys.DB].read() as conn:
        batch = await recon.get_batch(conn, batch_id, operator_of(request).scope)
    if batch is None:
        raise NotFound("No reconciliation batch")
    return batch


def _sides(b: Row) -> list[dict[str, object]]:
    """The batch's totals as rows of (what, bill, ours, difference); amounts in fen."""
    rows = [("pay_count", b["bill_pay_count"], b["local_pay_count"], False),
            ("pay_amount", b["bill_pay_amount"], b["local_pay_amount"], True),
            ("refund_count", b["bill_refund_count"], b["local_refund_count"], False),
            ("refund_amount", b["bill_refund_amount"], b["local_refund_amount"], True)]
    return [{"label": label, "bill": bill, "local": local, "diff": bill - local, "money": money}
            for label, bill, local, money in rows]


@routes.get("/reconciliation/{id}", name="recon_batch")
@guard()
async def batch(request: web.Request) -> web.Response:
    b = await _batch(request, request.match_info["id"])
    async with request.config_dict[keys.DB].read() as conn:
        found = await recon.discrepancies_of(conn, b["id"])
        m = await merchants_repo.get_merchant(conn, b["merchant_id"])
    order = {"open": 0, "carried": 1, "resolved": 2, "ignored": 3, "auto_resolved": 4}
    found = sorted(found, key=lambda d: (order.get(d["state"], 9), d["type"], d["key"]))
    return page(request, "admin/recon_batch.html", {
        "b": b, "merchant_name": m["name"] if m else "", "sides": _sides(b), "found": found,
        "actions": ACTIONS, "open_states": recon.OPEN_STATES, "done": request.query.get("done")})


@routes.post("/reconciliation/discrepancies/{id}/resolve", name="recon_resolve")
@guard(RECONCILE, step_up=True)
async def resolve_discrepancy(request: web.Request) -> web.Response:
    op = operator_of(request)
    async with request.config_dict[keys.DB].read() as conn:
        d = await recon.get_discrepancy(conn, request.match_info["id"])
    if d is None or not op.sees(d["merchant_id"]):
        raise NotFound("No discrepancy")
    form = await request.post()
    action, reason = str(form.get("action", "")), str(form.get("reason", "")).strip()[:REASON_MAX]
    async with audited(request, "recon.resolve", object_type="recon_discrepancy", object_id=d["id"],
                       merchant_id=d["merchant_id"], detail={"action": action, "reason": reason,
                                                             "type": d["type"], "key": d["key"]}) as detail:
        done = await resolve(request.config_dict[keys.SERVICES], d["id"], action, reason, operator=op.email,
                             merchant_id=op.scope)
        detail["applied"], detail["result"] = done.applied, done.discrepancy["action"]
    raise web.HTTPSeeOther(f"{request.app.router['recon_batch'].url_for(id=d['batch_id'])}?done=resolve#{d['id']}")
