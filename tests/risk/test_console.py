"""The console's risk pages: roles, merchant scope, CSRF, and the audit of every change."""
from __future__ import annotations

from typing import Any

from gateway.store import audit
from gateway.store import risk as repo
from tests.factories import Gateway
from tests.risk.helpers import create


async def _rules(gw: Gateway, scope: str | None) -> list[Any]:
    async with gw.svc.db.read() as conn:
        return list(await repo.list_all_rules(conn, scope))


async def test_an_owner_manages_rules_and_lists_from_the_console(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant()
    owner = await consoles("owner")
    r = await owner.post("/risk/rules", {"type": "amount_max", "mode": "enforce", "merchant": m.id,
                                         "params": '{"amount": 300}'}, token_from="/risk")
    assert r.status == 303 and "done=created" in r.headers["Location"]
    [rule] = await _rules(gateway, m.id)
    assert (rule["type"], rule["mode"], rule["merchant_id"]) == ("amount_max", "enforce", m.id)
    assert (await create(gateway, m, amount=301)).status == 403  # in force at once
    status, html = await owner.get("/risk")
    assert status == 200 and rule["id"] in html and "&#34;amount&#34;: 300" in html  # escaped JSON
    assert (await owner.post(f"/risk/rules/{rule['id']}/mode", token_from="/risk")).status == 303
    assert (await create(gateway, m, amount=301)).body["risk"]["rules"][0]["mode"] == "monitor"
    bad = await owner.post("/risk/rules", {"type": "amount_max", "params": '{"amount": "lots"}'}, token_from="/risk")
    assert bad.status == 422
    assert (await owner.post("/risk/rules", {"type": "amount_max", "params": '{"amount": 5}'},
                             csrf=False)).status == 403  # no CSRF token: refused

    added = await owner.post("/risk/lists", {"kind": "ip", "value": "198.51.100.0/24", "expires_hours": "2",
                                             "merchant": m.id, "note": "abuse"}, token_from="/risk/lists")
    assert added.status == 303
    status, html = await owner.get("/risk/lists")
    assert status == 200 and "198.51.100.0/24" in html and "abuse" in html
    assert (await create(gateway, m, customer_ip="198.51.100.3")).status == 403
    async with gateway.svc.db.read() as conn:
        [entry] = await repo.list_entries(conn, m.id, "ip")
    assert (await owner.post(f"/risk/lists/{entry['id']}/delete", token_from="/risk/lists")).status == 303
    assert (await owner.post(f"/risk/rules/{rule['id']}/delete", token_from="/risk")).status == 303
    assert await _rules(gateway, m.id) == []

    async with gateway.svc.db.read() as conn:
        trail = await audit.recent(conn, limit=50, actor=owner.email)
    assert {"risk.rule_create", "risk.rule_update", "risk.rule_delete", "risk.list_add",
            "risk.list_delete"} <= {e["action"] for e in trail}
    status, html = await owner.get("/risk/decisions?decision=block")
    assert status == 200 and "amount_max" in html


async def test_roles_and_merchant_scope(gateway: Gateway, consoles: Any) -> None:
    m, other = await gateway.merchant(), await gateway.merchant()
    owner = await consoles("owner")
    before = {r["id"] for r in await _rules(gateway, None)}  # MariaDB: other tests' rows are there too
    # A global rule that never fires: the database may be shared with other tests' gateways.
    assert (await owner.post("/risk/rules", {"type": "amount_max", "params": '{"amount": 99999999}'},
                             token_from="/risk")).status == 303
    [global_rule] = [r for r in await _rules(gateway, None) if r["id"] not in before]
    assert global_rule["merchant_id"] is None

    viewer = await consoles("viewer")
    assert (await viewer.get("/risk"))[0] == 200
    assert (await viewer.post("/risk/rules", {"type": "hours", "params": "{}"}, token_from="/risk")).status == 403

    bound = await consoles("operator", merchant_id=m.id)
    r = await bound.post("/risk/rules", {"type": "amount_min", "params": '{"amount": 2}', "merchant": other.id},
                         token_from="/risk")
    assert r.status == 303
    mine = [x for x in await _rules(gateway, m.id) if x["merchant_id"] == m.id]
    assert [x["type"] for x in mine] == ["amount_min"]  # its own merchant, whatever the form said
    assert [r for r in await _rules(gateway, other.id) if r["merchant_id"] == other.id] == []
    assert (await bound.post(f"/risk/rules/{global_rule['id']}/delete", token_from="/risk")).status == 404
    status, html = await bound.get("/risk")
    assert status == 200 and global_rule["id"] in html  # sees the global rules, cannot change them
    assert (await owner.post(f"/risk/rules/{global_rule['id']}/delete", token_from="/risk")).status == 303
