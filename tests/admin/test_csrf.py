"""Every POST route of the console, walked: without the session's CSRF token, or from another site, it
is refused with 403 and nothing in the database changes."""
from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from gateway.admin.app import create_admin_app
from gateway.store import operators as operators_repo
from gateway.store.audit import audit_log
from gateway.store.reconciliation import recon_discrepancies
from gateway.store.tables import events, merchants, payments, refunds
from tests.admin.helpers import Console
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, attempts_of, inject, run
from tests.refunds.helpers import paid_payment, refund, refund_status

WATCHED = (payments, refunds, merchants, operators_repo.operators, audit_log, recon_discrepancies)


async def _digest(gw: Gateway) -> str:
    h = hashlib.sha256()
    async with gw.svc.db.read() as conn:
        for table in WATCHED:
            for row in (await conn.execute(sa.select(table).order_by(*table.primary_key.columns))).all():
                h.update(repr(tuple(row)).encode())
        # Events: which exist (their delivery columns move with the background webhook loop).
        h.update(repr((await conn.execute(sa.select(events.c.id, events.c.type).order_by(events.c.id))).all()).encode())
    return h.hexdigest()


def post_routes() -> list[str]:
    return sorted({r.resource.canonical for r in create_admin_app().router.routes()
                   if r.method == "POST" and r.resource is not None})


async def test_every_post_route_refuses_a_missing_token_and_another_origin(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant(webhook_url="http://127.0.0.1:9/h")
    p = await paid_payment(gateway, m, amount=500)
    refunded = await refund(gateway, m, p["id"], 100)
    assert refunded.status == 201, refunded.text
    await refund_status(gateway, m, refunded.body["id"], "succeeded")  # no background change left to come
    attempt = (await attempts_of(gateway, p["id"]))[-1]["id"]
    await inject(gateway, "alipay", "amount", trade_no=attempt, amount=499)
    (discrepancy,) = (await run(gateway, await account_of(gateway, m, "alipay")))["discrepancies"]
    assert discrepancy["state"] == "open"
    owner: Console = await consoles("owner")
    _, html = await owner.get("/webhooks")
    event_id = html.split('href="/admin/webhooks/')[1].split('"')[0]
    async with gateway.svc.db.read() as conn:
        op = await operators_repo.by_email(conn, owner.email)
    assert op is not None
    ids = {"/refunds/": refunded.body["id"], "/payments/": p["id"], "/webhooks/": event_id, "/merchants/": m.id, "/operators/": op["id"],
           "/reconciliation/": discrepancy["id"], "/risk/": "rrule_none"}
    routes = post_routes()
    assert len(routes) >= 10, routes
    token = await owner.token()
    before = await _digest(gateway)
    for canonical in routes:
        path = canonical
        for prefix, value in ids.items():
            if path.startswith(prefix):
                path = path.replace("{id}", value)
        path = path.replace("{customer}", "someone")
        path = path.replace("{what}", "freeze" if "/wallets/" in path else
                            "rotate" if path.startswith("/merchants/") else "disable")
        path = path.replace("{token}", "x" * 43)
        assert "{" not in path, path
        form = {"amount": "1.00", "refund_no": "console-csrf", "totp": owner.code(owner.base + 1),
                "email": "csrf@example.com", "role": "owner", "password": "x" * 20, "code": "123456",
                "name": "CSRF Shop", "webhook_url": "https://evil.example/h", "return_domains": "evil.example",
                "channel": "alipay", "credentials": "{}", "action": "ignore", "reason": "csrf"}
        for label, data, headers in (
                ("no token", form, {}),
                ("wrong token", form | {"csrf_token": token[:-2] + "xx"}, {}),
                ("other origin", form | {"csrf_token": token}, {"Origin": "https://evil.example"}),
                ("cross-site fetch", form | {"csrf_token": token}, {"Sec-Fetch-Site": "cross-site"})):
            async with owner.http.post(f"{owner.url}{path}", data=data, headers=headers, allow_redirects=False) as r:
                assert r.status == 403, (label, canonical, r.status, (await r.text())[:300])
    assert await _digest(gateway) == before
    status, _ = await owner.get("/")  # still signed in: the refusals changed nothing
    assert status == 200
