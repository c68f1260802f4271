"""The merchant API for risk: the promised shapes, validation of typed rules, isolation between
merchants, and the audit of every change."""
from __future__ import annotations

from gateway.store import audit
from tests.factories import Gateway


async def test_rule_crud_keeps_the_promised_shapes(gateway: Gateway) -> None:
    m = await gateway.merchant()
    created = await gateway.api(m, "POST", "/risk/rules", json_body={"type": "amount_max", "amount": 100000,
                                                                      "mode": "enforce"})
    assert created.status == 201, created.text
    rule = created.body
    assert rule["object"] == "risk_rule" and rule["id"].startswith("rrule_")
    assert {k: rule[k] for k in ("type", "amount", "mode", "enabled", "action", "on_unavailable", "pay_method")} == {
        "type": "amount_max", "amount": 100000, "mode": "enforce", "enabled": True, "action": "block",
        "on_unavailable": "open", "pay_method": None}
    assert (await gateway.api(m, "GET", f"/risk/rules/{rule['id']}")).body == rule
    listed = await gateway.api(m, "GET", "/risk/rules")
    assert listed.status == 200 and [r["id"] for r in listed.body["data"]] == [rule["id"]]

    patched = await gateway.api(m, "PATCH", f"/risk/rules/{rule['id']}", json_body={"mode": "monitor", "amount": 5})
    assert patched.status == 200 and patched.body["mode"] == "monitor" and patched.body["amount"] == 5
    off = await gateway.api(m, "PATCH", f"/risk/rules/{rule['id']}", json_body={"enabled": False})
    assert off.body["enabled"] is False and off.body["amount"] == 5
    for bad in ({"type": "hours"}, {"amount": -1}, {"colour": "red"}, {"enabled": "yes"}, {"mode": "loud"}):
        answer = await gateway.api(m, "PATCH", f"/risk/rules/{rule['id']}", json_body=bad)
        assert answer.status == 422, (bad, answer.text)
    assert (await gateway.api(m, "GET", f"/risk/rules/{rule['id']}")).body == off.body  # refused: unchanged

    gone = await gateway.api(m, "DELETE", f"/risk/rules/{rule['id']}")
    assert gone.status == 200 and gone.body == {"id": rule["id"], "object": "risk_rule", "deleted": True}
    assert (await gateway.api(m, "GET", f"/risk/rules/{rule['id']}")).status == 404

    async with gateway.svc.db.read() as conn:
        actions = [(e["action"], e["actor"]) for e in await audit.recent(conn, limit=20, object_id=rule["id"])]
    assert {a for a, _ in actions} == {"risk.rule_create", "risk.rule_update", "risk.rule_delete"}
    assert {actor for _, actor in actions} == {f"api:{m.id}"}


async def test_rules_are_validated_as_typed_data(gateway: Gateway) -> None:
    m = await gateway.merchant()
    for body, field in (({"type": "amount_max"}, "amount"), ({"type": "nope", "amount": 1}, "type"),
                        ({"amount": 1}, "type"), ({"type": "amount_max", "amount": 1, "when": "x"}, "when"),
                        ({"type": "velocity", "key": "cookie"}, "key"), ({"type": "hours", "start": "25:00"}, "start"),
                        ({"type": "callback_source", "channel": "wechat", "cidrs": ["not a net"]}, "cidrs"),
                        ({"type": "amount_max", "amount": 1, "mode": "shadow"}, "mode"),
                        ({"type": "refund_ratio", "ratio": 2}, "ratio")):
        answer = await gateway.api(m, "POST", "/risk/rules", json_body=body)
        assert answer.status == 422 and answer.body["code"] == "validation_error", (body, answer.text)
        assert any(field in e["field"] for e in answer.body["errors"]), (body, answer.body["errors"])
    defaults = (await gateway.api(m, "POST", "/risk/rules", json_body={"type": "velocity"})).body
    assert (defaults["key"], defaults["count"], defaults["window"], defaults["action"], defaults["mode"]) == \
        ("ip", 20, 600, "throttle", "monitor")
    wechat = (await gateway.api(m, "POST", "/risk/rules", json_body={"type": "callback_source",
                                                                      "channel": "wechat"})).body
    assert wechat["mode"] == "monitor" and wechat["cidrs"] == []  # empty = WeChat's published ranges


async def test_lists_and_isolation_between_merchants(gateway: Gateway) -> None:
    m, other = await gateway.merchant(), await gateway.merchant()
    ip = await gateway.api(m, "POST", "/risk/lists/ip", json_body={"value": "192.0.2.0/28", "expires_in": 3600,
                                                                    "note": "card testing"})
    assert ip.status == 201 and ip.body["kind"] == "ip" and ip.body["expires_at"] and ip.body["note"] == "card testing"
    payer = await gateway.api(m, "POST", "/risk/lists/payer", json_body={"value": "oUser123"})
    assert payer.status == 201 and payer.body["expires_at"] is None
    assert (await gateway.api(m, "POST", "/risk/lists/ip", json_body={"value": "999.1.1.1"})).status == 422
    assert (await gateway.api(m, "POST", "/risk/lists/phone", json_body={"value": "1"})).status == 404
    assert (await gateway.api(m, "POST", "/risk/lists/ip", json_body={"value": "1.1.1.1", "expires_in": 0})).status == 422
    assert [e["value"] for e in (await gateway.api(m, "GET", "/risk/lists/payer")).body["data"]] == ["oUser123"]
    assert (await gateway.api(other, "GET", "/risk/lists/ip")).body["data"] == []
    assert (await gateway.api(other, "DELETE", f"/risk/lists/ip/{ip.body['id']}")).status == 404
    rule = (await gateway.api(m, "POST", "/risk/rules", json_body={"type": "amount_min", "amount": 5})).body
    assert (await gateway.api(other, "GET", f"/risk/rules/{rule['id']}")).status == 404
    assert (await gateway.api(other, "PATCH", f"/risk/rules/{rule['id']}", json_body={"amount": 9})).status == 404
    assert (await gateway.api(other, "DELETE", f"/risk/rules/{rule['id']}")).status == 404
    assert (await gateway.api(m, "DELETE", f"/risk/lists/payer/{ip.body['id']}")).status == 404  # wrong kind
    assert (await gateway.api(m, "DELETE", f"/risk/lists/ip/{ip.body['id']}")).status == 200
    assert (await gateway.api(m, "GET", "/risk/decisions?decision=maybe")).status == 422


async def test_the_openapi_document_describes_risk(gateway: Gateway) -> None:
    doc = (await gateway.api(None, "GET", "/openapi.json")).body
    assert {"post", "get"} <= set(doc["paths"]["/risk/rules"])
    assert {"get", "patch", "delete"} <= set(doc["paths"]["/risk/rules/{id}"])
    assert "403" in doc["paths"]["/payments"]["post"]["responses"]
    rule = doc["components"]["schemas"]["RiskRuleCreate"]
    assert "amount_max" in rule["discriminator"]["mapping"]
    assert "risk" in doc["components"]["schemas"]["Payment"]["required"]
