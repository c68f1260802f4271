"""Managing risk rules and lists -- one set of use cases for the merchant API and the console. Every
change is audited (who: ``api:<merchant>`` or the operator) and seen at once by this process's engine."""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.ids import new_id
from gateway.services.context import Services
from gateway.services.risk_rules import _Rule, parse_rule
from gateway.services.views import iso
from gateway.store import audit
from gateway.store import risk as repo
from gateway.store.base import Row, dumps, utcnow

MAX_RULES = 200  # per merchant: evaluation stays cheap
KINDS = ("ip", "payer")


@dataclass(frozen=True)
class Actor:
    """Who changes risk settings, for the audit log."""

    name: str
    ip: str | None = None


def _invalid(exc: ValidationError) -> ValidationFailed:
    errors = [{"field": ".".join(str(p) for p in e["loc"][1:] or e["loc"]) or "body",
               "message": "unknown field" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")}
              for e in exc.errors(include_url=False, include_input=False)]
    return ValidationFailed("The rule is not valid", errors=errors)


def validate(data: dict[str, Any]) -> _Rule:
    try:
        return parse_rule(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def rule_view(row: Row) -> dict[str, Any]:
    params = json.loads(row["params"])
    return {"id": row["id"], "object": "risk_rule", "type": row["type"], "mode": row["mode"],
            "enabled": bool(row["enabled"]), "merchant_id": row["merchant_id"], **params,
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _params(rule: _Rule) -> str:
    return dumps(rule.model_dump(exclude={"type", "mode"}))


async def _audit(svc: Services, actor: Actor, action: str, merchant_id: str | None, object_id: str,
                 detail: dict[str, Any]) -> None:
    await audit.append(svc.db, actor=actor.name, action=action, ip=actor.ip, object_type="risk",
                       object_id=object_id, merchant_id=merchant_id, detail=detail)


async def create_rule(svc: Services, merchant_id: str | None, rule: _Rule, actor: Actor, *,
                      enabled: bool = True) -> dict[str, Any]:
    """A new rule for the merchant (None: global, console only)."""
    now, rule_id = utcnow(), new_id("rrule")
    row: dict[str, Any] = {"id": rule_id, "merchant_id": merchant_id, "type": rule.type, "mode": rule.mode,
           "enabled": enabled, "params": _params(rule), "created_at": now, "updated_at": now}
    async with svc.db.begin() as conn:
        if merchant_id is not None and await repo.count_rules(conn, merchant_id) >= MAX_RULES:
            raise ValidationFailed(f"At most {MAX_RULES} rules per merchant")
        await repo.insert_rule(conn, row)
    svc.risk.forget(merchant_id)
    await _audit(svc, actor, "risk.rule_create", merchant_id, rule_id, rule.model_dump())
    return rule_view(row)


async def get_rule(svc: Services, merchant_id: str | None, rule_id: str) -> Row:
    async with svc.db.read() as conn:
        row = await repo.get_rule(conn, rule_id, merchant_id)
    if row is None:
        raise NotFound(f"No risk rule {rule_id}")
    return row


async def update_rule(svc: Services, merchant_id: str | None, rule_id: str, changes: dict[str, Any],
                      actor: Actor) -> dict[str, Any]:
    """Change a rule's mode, parameters or ``enabled``; its type stays. The result is validated whole."""
    row = await get_rule(svc, merchant_id, rule_id)
    changes = dict(changes)
    if "type" in changes and changes.pop("type") != row["type"]:
        raise ValidationFailed("A rule's type cannot change", errors=[{"field": "type", "message": "cannot change"}])
    enabled = changes.pop("enabled", bool(row["enabled"]))
    if not isinstance(enabled, bool):
        raise ValidationFailed("enabled must be a boolean", errors=[{"field": "enabled", "message": "boolean expected"}])
    rule = validate({**json.loads(row["params"]), "type": row["type"], "mode": row["mode"], **changes})
    async with svc.db.begin() as conn:
        await repo.update_rule(conn, rule_id, mode=rule.mode, enabled=enabled, params=_params(rule))
        fresh = await repo.get_rule(conn, rule_id, merchant_id)
    assert fresh is not None
    svc.risk.forget(merchant_id)
    await _audit(svc, actor, "risk.rule_update", merchant_id, rule_id, {**changes, "enabled": enabled})
    return rule_view(fresh)


async def delete_rule(svc: Services, merchant_id: str | None, rule_id: str, actor: Actor) -> dict[str, Any]:
    row = await get_rule(svc, merchant_id, rule_id)
    async with svc.db.begin() as conn:
        await repo.delete_rule(conn, rule_id)
    svc.risk.forget(merchant_id)
    await _audit(svc, actor, "risk.rule_delete", merchant_id, rule_id, {"type": row["type"]})
    return {"id": rule_id, "object": "risk_rule", "deleted": True}


# -- lists ---------------------------------------------------------------------------------------------

def entry_view(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "object": "risk_list_entry", "kind": row["kind"], "value": row["value"],
            "note": row["note"], "merchant_id": row["merchant_id"], "created_by": row["created_by"],
            "expires_at": iso(row["expires_at"]), "created_at": iso(row["created_at"])}


def check_value(kind: str, value: str) -> str:
    if kind not in KINDS:
        raise NotFound(f"No list {kind}; ip or payer")
    value = value.strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValidationFailed("value must be an IP address or network",
                                   errors=[{"field": "value", "message": "IP address or CIDR expected"}]) from None
    if not 1 <= len(value) <= 128:
        raise ValidationFailed("value must have 1 to 128 characters", errors=[{"field": "value", "message": "1–128"}])
    return value


async def add_entry(svc: Services, merchant_id: str | None, kind: str, value: str, actor: Actor, *,
                    expires_in: int | None = None, note: str | None = None) -> dict[str, Any]:
    value = check_value(kind, value)
    now, entry_id = utcnow(), new_id("rle")
    row: dict[str, Any] = {"id": entry_id, "merchant_id": merchant_id, "kind": kind, "value": value, "note": note,
           "created_by": actor.name[:254], "created_at": now,
           "expires_at": now + timedelta(seconds=expires_in) if expires_in else None}
    async with svc.db.begin() as conn:
        await repo.insert_entry(conn, row)
    svc.risk.forget(merchant_id)
    await _audit(svc, actor, "risk.list_add", merchant_id, entry_id,
                 {"kind": kind, "value": value, "expires_in": expires_in})
    return entry_view(row)


async def delete_entry(svc: Services, merchant_id: str | None, kind: str, entry_id: str, actor: Actor, *,
                       any_merchant: bool = False) -> dict[str, Any]:
    """Remove an entry of this merchant (``any_merchant``: an unscoped operator's, any entry)."""
    async with svc.db.read() as conn:
        row = await repo.get_entry(conn, entry_id)
    if row is None or row["kind"] != kind or (not any_merchant and row["merchant_id"] != merchant_id):
        raise NotFound(f"No {kind} list entry {entry_id}")
    async with svc.db.begin() as conn:
        await repo.delete_entry(conn, entry_id)
    svc.risk.forget(row["merchant_id"])
    await _audit(svc, actor, "risk.list_delete", row["merchant_id"], entry_id, {"kind": kind, "value": row["value"]})
    return {"id": entry_id, "object": "risk_list_entry", "deleted": True}


def decision_view(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "object": "risk_decision", "hook": row["hook"], "object_id": row["object_id"],
            "decision": row["decision"], "rules": json.loads(row["rules"]), "ip": row["ip"], "payer": row["payer"],
            "amount": row["amount"], "created_at": iso(row["created_at"])}
