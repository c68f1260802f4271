"""Merchant API: risk rules, lists and decisions (the engine: :mod:`gateway.services.risk`)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictInt, StrictStr

from gateway.api.auth import MERCHANT
from gateway.api.common import json_response, page_request, page_response, parse
from gateway.domain.errors import InvalidJSON, NotFound, ValidationFailed
from gateway.keys import SERVICES
from gateway.services import risk_manage as manage
from gateway.services.risk_rules import HOOKS, RULE_TYPES, SEVERITY, Rule
from gateway.store import risk as repo

routes = web.RouteTableDef()


class RiskRuleCreate(RootModel[Rule]):
    """A rule: ``type`` names it and decides its parameters; ``mode`` ``monitor`` (record only, the
    default for most types) or ``enforce``; ``pay_method`` scopes it; ``on_unavailable`` says whether it
    fails ``open`` (default) or ``closed`` when its state cannot be read."""


class RiskRule(BaseModel):
    """A stored rule: its parameters (as created, with defaults filled) beside these fields."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["risk_rule"]
    type: str
    mode: Literal["monitor", "enforce"]
    enabled: bool
    merchant_id: str | None
    created_at: str
    updated_at: str


class RiskRulePatch(BaseModel):
    """Any of the rule's parameters, ``mode`` or ``enabled``; the type cannot change."""

    model_config = ConfigDict(extra="allow")
    mode: Literal["monitor", "enforce"] | None = None
    enabled: bool | None = None


class RiskRuleList(BaseModel):
    object: Literal["list"]
    data: list[RiskRule]
    has_more: bool
    next_cursor: str | None


class Deleted(BaseModel):
    id: str
    object: str
    deleted: Literal[True]


class RiskListEntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Annotated[StrictStr, Field(min_length=1, max_length=128,
                                      description="ip: an address or a network (CIDR); payer: the payer's id "
                                                  "(e.g. the wallet app's user id) or your customer id.")]
    expires_in: Annotated[StrictInt, Field(ge=1, le=10 * 365 * 86400, description="Seconds; absent = "
                                                                                     "never expires.")] | None = None
    note: Annotated[StrictStr, Field(max_length=256)] | None = None


class RiskListEntry(BaseModel):
    id: str
    object: Literal["risk_list_entry"]
    kind: Literal["ip", "payer"]
    value: str
    note: str | None
    merchant_id: str | None
    created_by: str
    expires_at: str | None
    created_at: str


class RiskListEntryList(BaseModel):
    object: Literal["list"]
    data: list[RiskListEntry]
    has_more: bool
    next_cursor: str | None


class RiskDecision(BaseModel):
    """A decision with at least one rule fired (monitor-mode hits included)."""

    id: str
    object: Literal["risk_decision"]
    hook: str
    object_id: str | None
    decision: Literal["allow", "review", "throttle", "block"]
    rules: list[dict[str, Any]]
    ip: str | None
    payer: str | None = Field(description="Masked.")
    amount: int | None
    created_at: str


class RiskDecisionList(BaseModel):
    object: Literal["list"]
    data: list[RiskDecision]
    has_more: bool
    next_cursor: str | None


def _actor(request: web.Request) -> manage.Actor:
    return manage.Actor(f"api:{request[MERCHANT]['id']}", request.remote)


def _listing(data: list[dict[str, Any]]) -> web.Response:
    return json_response({"object": "list", "data": data, "has_more": False, "next_cursor": None})


def _rule_fields(exc: ValidationFailed) -> ValidationFailed:
    """Pydantic names a union member first (``amount_max.amount``) and a bad tag nowhere: name the field."""
    named: list[Mapping[str, Any]] = []
    for error in exc.errors:
        head, dot, rest = str(error.get("field", "")).partition(".")
        field = "type" if str(error.get("type", "")).startswith("union_tag") else rest if dot and head in RULE_TYPES \
            else error.get("field")
        named.append({**error, "field": field})
    exc.errors = named
    return exc


@routes.post("/risk/rules", name="create_risk_rule")
async def create_rule(request: web.Request) -> web.Response:
    try:
        body = await parse(request, RiskRuleCreate)
    except ValidationFailed as exc:
        raise _rule_fields(exc) from None
    svc = request.config_dict[SERVICES]
    return json_response(await manage.create_rule(svc, request[MERCHANT]["id"], body.root, _actor(request)), 201)


@routes.get("/risk/rules", name="list_risk_rules")
async def list_rules(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    async with svc.db.read() as conn:
        rows = await repo.list_rules(conn, request[MERCHANT]["id"])
    return _listing([manage.rule_view(r) for r in rows])


@routes.get("/risk/rules/{id}", name="get_risk_rule")
async def get_rule(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(manage.rule_view(await manage.get_rule(svc, request[MERCHANT]["id"],
                                                                request.match_info["id"])))


@routes.patch("/risk/rules/{id}", name="update_risk_rule")
async def update_rule(request: web.Request) -> web.Response:
    await parse(request, RiskRulePatch)  # JSON object, the content type
    try:
        changes = json.loads(await request.read() or b"{}")
    except ValueError:
        raise InvalidJSON() from None
    svc = request.config_dict[SERVICES]
    return json_response(await manage.update_rule(svc, request[MERCHANT]["id"], request.match_info["id"], changes,
                                                  _actor(request)))


@routes.delete("/risk/rules/{id}", name="delete_risk_rule")
async def delete_rule(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await manage.delete_rule(svc, request[MERCHANT]["id"], request.match_info["id"],
                                                  _actor(request)))


@routes.post("/risk/lists/{kind}", name="add_risk_list_entry")
async def add_entry(request: web.Request) -> web.Response:
    body = await parse(request, RiskListEntryCreate)
    svc = request.config_dict[SERVICES]
    entry = await manage.add_entry(svc, request[MERCHANT]["id"], request.match_info["kind"], body.value,
                                   _actor(request), expires_in=body.expires_in, note=body.note)
    return json_response(entry, 201)


@routes.get("/risk/lists/{kind}", name="list_risk_list_entries")
async def list_entries(request: web.Request) -> web.Response:
    svc, kind = request.config_dict[SERVICES], request.match_info["kind"]
    if kind not in manage.KINDS:
        raise NotFound(f"No list {kind}; ip or payer")
    async with svc.db.read() as conn:
        rows = await repo.list_entries(conn, request[MERCHANT]["id"], kind)
    return _listing([manage.entry_view(r) for r in rows])


@routes.delete("/risk/lists/{kind}/{id}", name="delete_risk_list_entry")
async def delete_entry(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await manage.delete_entry(svc, request[MERCHANT]["id"], request.match_info["kind"],
                                                   request.match_info["id"], _actor(request)))


@routes.get("/risk/decisions", name="list_risk_decisions")
async def list_decisions(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    limit, after = page_request(request)
    hook, decision = request.query.get("hook"), request.query.get("decision")
    if hook is not None and hook not in HOOKS:
        raise ValidationFailed("Unknown hook", errors=[{"field": "hook", "message": f"one of {list(HOOKS)}"}])
    if decision is not None and decision not in SEVERITY:
        raise ValidationFailed("Unknown decision", errors=[{"field": "decision", "message": f"one of {list(SEVERITY)}"}])
    async with svc.db.read() as conn:
        rows = await repo.list_decisions(conn, request[MERCHANT]["id"], limit=limit + 1, after=after, hook=hook,
                                         decision=decision, object_id=request.query.get("object_id"))
    return page_response(rows, limit, manage.decision_view)
