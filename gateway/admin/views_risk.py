"""The console's risk pages: rules (create, switch mode, enable/disable, delete), block lists and the
decisions taken. Reading needs ``read``; changing needs ``risk``. A merchant-bound operator sees and
changes its merchant's rules and sees the global ones; global rules are changed by unscoped operators.
Every change is audited by :mod:`gateway.services.risk_manage` under the operator's e-mail."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.admin.access import READ, RISK, guard, operator_of
from gateway.admin.common import page
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.services import risk_manage as manage
from gateway.services.risk_rules import HOOKS, RULE_TYPES, SEVERITY
from gateway.store import risk as repo
from gateway.store.base import Row

routes = web.RouteTableDef()


def _actor(request: web.Request) -> manage.Actor:
    return manage.Actor(operator_of(request).email, request.remote)


def _target_merchant(request: web.Request, form: Any) -> str | None:
    """The merchant a new rule or entry is for: a bound operator's own; else the form's (empty = global)."""
    scope = operator_of(request).scope
    return scope if scope is not None else (str(form.get("merchant", "")).strip() or None)


def _back(request: web.Request, name: str, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{request.app.router[name].url_for()}?done={done}")


@routes.get("/risk", name="risk_rules")
@guard(READ)
async def rules(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        rows = await repo.list_all_rules(conn, operator_of(request).scope)
    views = [manage.rule_view(r) for r in rows]
    for view in views:
        view["params"] = json.dumps({k: v for k, v in view.items() if k not in (
            "id", "object", "type", "mode", "enabled", "merchant_id", "created_at", "updated_at")}, ensure_ascii=False)
    return page(request, "admin/risk_rules.html", {"rows": views, "types": sorted(RULE_TYPES),
                                                   "done": request.query.get("done")})


async def _rule(request: web.Request) -> Row:
    """The rule of the URL, if this operator may change it (global rules: unscoped operators only)."""
    async with request.config_dict[keys.DB].read() as conn:
        row = await repo.rule_by_id(conn, request.match_info["id"])
    scope = operator_of(request).scope
    if row is None or (scope is not None and row["merchant_id"] != scope):
        raise NotFound("No rule")
    return row


@routes.post("/risk/rules", name="risk_rule_create")
@guard(RISK)
async def rule_create(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        params = json.loads(str(form.get("params", "")).strip() or "{}")
    except ValueError:
        raise ValidationFailed("Parameters: a JSON object expected") from None
    if not isinstance(params, dict):
        raise ValidationFailed("Parameters: a JSON object expected")
    rule = manage.validate({**params, "type": str(form.get("type", "")), "mode": str(form.get("mode", "monitor"))})
    await manage.create_rule(request.config_dict[keys.SERVICES], _target_merchant(request, form), rule,
                             _actor(request))
    raise _back(request, "risk_rules", "created")


@routes.post("/risk/rules/{id}/{what:mode|enable|disable|delete}", name="risk_rule_change")
@guard(RISK)
async def rule_change(request: web.Request) -> web.Response:
    row, change = await _rule(request), request.match_info["what"]
    svc = request.config_dict[keys.SERVICES]
    if change == "delete":
        await manage.delete_rule(svc, row["merchant_id"], row["id"], _actor(request))
    else:
        changes: dict[str, Any] = {"enabled": change == "enable"} if change != "mode" else \
            {"mode": "monitor" if row["mode"] == "enforce" else "enforce"}
        await manage.update_rule(svc, row["merchant_id"], row["id"], changes, _actor(request))
    raise _back(request, "risk_rules", change)


@routes.get("/risk/lists", name="risk_lists")
@guard(READ)
async def lists(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        rows = await repo.all_entries(conn, operator_of(request).scope)
    return page(request, "admin/risk_lists.html", {"rows": rows, "kinds": manage.KINDS,
                                                   "done": request.query.get("done")})


@routes.post("/risk/lists", name="risk_list_add")
@guard(RISK)
async def list_add(request: web.Request) -> web.Response:
    form = await request.post()
    hours = str(form.get("expires_hours", "")).strip()
    if hours and not (hours.isdigit() and 0 < int(hours) <= 24 * 3650):
        raise ValidationFailed("Expires in: whole hours expected")
    await manage.add_entry(request.config_dict[keys.SERVICES], _target_merchant(request, form),
                           str(form.get("kind", "")), str(form.get("value", "")), _actor(request),
                           expires_in=int(hours) * 3600 if hours else None,
                           note=str(form.get("note", "")).strip()[:256] or None)
    raise _back(request, "risk_lists", "added")


@routes.post("/risk/lists/{id}/delete", name="risk_list_delete")
@guard(RISK)
async def list_delete(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        row = await repo.get_entry(conn, request.match_info["id"])
    scope = operator_of(request).scope
    if row is None or (scope is not None and row["merchant_id"] != scope):
        raise NotFound("No entry")
    await manage.delete_entry(request.config_dict[keys.SERVICES], row["merchant_id"], row["kind"], row["id"],
                              _actor(request), any_merchant=scope is None)
    raise _back(request, "risk_lists", "deleted")


@routes.get("/risk/decisions", name="risk_decisions")
@guard(READ)
async def decisions(request: web.Request) -> web.Response:
    hook = request.query.get("hook") or None
    decision = request.query.get("decision") or None
    async with request.config_dict[keys.DB].read() as conn:
        rows = await repo.list_decisions(conn, operator_of(request).scope, limit=200,
                                         hook=hook if hook in HOOKS else None,
                                         decision=decision if decision in SEVERITY else None,
                                         object_id=request.query.get("object_id") or None)
    return page(request, "admin/risk_decisions.html", {"rows": [manage.decision_view(r) for r in rows],
                                                       "hooks": HOOKS, "decisions": list(SEVERITY)})
