"""The console's pages over a real gateway: search by any number, totals, export, one payment's story,
actions through the services (refund with step-up), scoping by merchant, the audit chain."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.admin import access
from gateway.cli import sandbox_accounts
from gateway.store import audit
from gateway.store.audit import audit_log
from gateway.store.tables import notify_log, refunds
from tests.admin.helpers import Console
from tests.factories import Gateway, unique
from tests.refunds.helpers import assert_books_balance, paid_payment


async def test_search_by_every_number_and_the_payment_story(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, amount=1234)
    attempt = (await gateway.attempts(p["id"]))[-1]
    console: Console = await consoles("viewer")
    for number in (p["id"], p["out_trade_no"], attempt["id"], attempt["channel_trade_no"]):
        async with console.http.get(f"{console.url}/payments", params={"q": number}, allow_redirects=False) as r:
            # One match opens the payment. (Each test's sandbox numbers its trades from 1, so on the shared
            # MariaDB database a channel trade number can match earlier tests' payments too: then a list.)
            found = r.status == 303 and r.headers["Location"].endswith(f"/admin/payments/{p['id']}")
            assert found or (r.status == 200 and p["id"] in await r.text()), number
    status, html = await console.get(f"/payments/{p['id']}")
    assert status == 200
    assert "¥12.34" in html or "CN¥12.34" in html
    timeline = html.split('id="timeline"')[1].split("</section>")[0]
    for kind in ("tl-payment", "tl-attempt", "tl-callback", "tl-event", "tl-ledger"):
        assert kind in timeline, kind
    assert 'id="actions"' not in html  # a viewer sees no buttons
    status, html = await console.get("/payments", params={"merchant": m.id, "status": "paid"})
    assert status == 200 and p["id"] in html and 'id="totals"' in html and "<b>1</b>" in html
    status, html = await console.get("/")
    assert status == 200 and "<svg" in html and 'id="problems"' in html
    for path in ("/refunds", "/callbacks", "/webhooks", "/merchants", f"/merchants/{m.id}", "/system"):
        status, html = await console.get(path)
        assert status == 200, path
    async with gateway.svc.db.read() as conn:
        note = (await conn.execute(sa.select(notify_log.c.id).where(notify_log.c.trade_no == attempt["id"]))).scalar()
    status, html = await console.get(f"/callbacks/{note}")
    assert status == 200 and 'id="raw-body"' in html
    assert (await console.get("/operators"))[0] == 403 and (await console.get("/audit"))[0] == 403


async def test_csv_export_is_excel_safe(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant()
    await gateway.create_payment(m, subject="=HYPERLINK(\"http://evil\",\"x\")", amount=5)
    await gateway.create_payment(m, subject="+1,2", amount=100_000)
    console: Console = await consoles("finance")
    async with console.http.get(f"{console.url}/payments.csv", params={"merchant": m.id}) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        raw = await r.read()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw[3:].decode())))
    assert rows[0][0] == "payment_id" and len(rows) == 3
    subjects = {row[7] for row in rows[1:]}
    assert subjects == {"'=HYPERLINK(\"http://evil\",\"x\")", "'+1,2"}
    assert {row[4] for row in rows[1:]} == {"0.05", "1000.00"}
    viewer: Console = await consoles("viewer")
    async with viewer.http.get(f"{viewer.url}/payments.csv") as r:
        assert r.status == 403


async def test_refund_from_the_console_needs_a_fresh_code(gateway: Gateway, consoles: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, amount=1000)
    console: Console = await consoles("operator")
    monkeypatch.setattr(access, "STEP_UP_FOR", 0.0)  # the sign-in's code is no longer fresh
    page = f"/payments/{p['id']}"
    form = {"amount": "3.00", "reason": "damaged", "refund_no": f"console-{unique('r')}"}
    r = await console.post(f"{page}/refund", form, token_from=page)
    assert r.status == 401 and 'name="totp"' in await r.text()
    r = await console.post(f"{page}/refund", form | {"totp": "000000"}, token_from=page)
    assert r.status == 401
    async with gateway.svc.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(refunds)
                                   .where(refunds.c.payment_id == p["id"]))).scalar_one() == 0
    r = await console.post(f"{page}/refund", form | {"totp": console.code(console.base + 1)}, token_from=page)
    assert r.status == 303, await r.text()
    monkeypatch.setattr(access, "STEP_UP_FOR", 300.0)
    again = await console.post(f"{page}/refund", form, token_from=page)  # a double submit: the same refund_no
    assert again.status == 409 or again.status == 400
    async with gateway.svc.db.read() as conn:
        rows = (await conn.execute(sa.select(refunds).where(refunds.c.payment_id == p["id"]))).mappings().all()
        entries = (await conn.execute(sa.select(audit_log.c.action, audit_log.c.outcome)
                                      .where(audit_log.c.object_id == p["id"]))).all()
    assert [(r["amount"], r["out_refund_no"]) for r in rows] == [(300, form["refund_no"])]
    assert ("payment.refund", "success") in entries and ("payment.refund", "failed") in entries
    status, html = await console.get(page)
    assert status == 200 and "tl-refund" in html and "tl-operator" in html
    await assert_books_balance(gateway)


async def test_sync_close_and_resend(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant(webhook_url="http://127.0.0.1:9/hook")
    p = await gateway.create_payment(m, channel="alipay_qr")
    console: Console = await consoles("owner")
    page = f"/payments/{p['id']}"
    assert (await console.post(f"{page}/sync", token_from=page)).status == 303
    r = await console.post(f"{page}/close", token_from=page)
    assert r.status == 303, await r.text()
    _status, html = await console.get(page)
    assert 'id="status">closed' in html
    _, html = await console.get("/webhooks")
    event_id = html.split('href="/admin/webhooks/')[1].split('"')[0]
    r = await console.post(f"/webhooks/{event_id}/resend", token_from=f"/webhooks/{event_id}")
    assert r.status == 303


async def test_merchant_bound_operator_sees_only_its_merchant(gateway: Gateway, consoles: Any) -> None:
    """IDOR, resource by resource: another merchant's objects answer 404, as if they did not exist."""
    mine, theirs = await gateway.merchant(name="Mine"), await gateway.merchant(name="Theirs",
                                                                                webhook_url="http://127.0.0.1:9/h")
    p_mine = await paid_payment(gateway, mine, amount=200)
    p_theirs = await paid_payment(gateway, theirs, amount=300)
    console: Console = await consoles("operator", merchant_id=mine.id)
    their_attempt = (await gateway.attempts(p_theirs["id"]))[-1]
    async with gateway.svc.db.read() as conn:
        note = (await conn.execute(sa.select(notify_log.c.id)
                                   .where(notify_log.c.trade_no == their_attempt["id"]))).scalar()
    owner: Console = await consoles("owner")
    _, html = await owner.get("/webhooks")
    their_event = next(part.split('"')[0] for part in html.split('href="/admin/webhooks/')[1:]
                       if part.split('"')[0] and p_theirs["id"] in part.split("</tr>")[0])
    for path in (f"/payments/{p_theirs['id']}", f"/callbacks/{note}", f"/webhooks/{their_event}",
                 f"/merchants/{theirs.id}"):
        status, _ = await console.get(path)
        assert status == 404, path
    for path in (f"/payments/{p_mine['id']}", f"/merchants/{mine.id}"):
        assert (await console.get(path))[0] == 200, path
    for listing in ("/payments", "/refunds", "/callbacks", "/webhooks", "/merchants", "/"):
        status, html = await console.get(listing)
        assert status == 200 and p_theirs["id"] not in html and theirs.id not in html, listing
    _, html = await console.get("/payments", params={"merchant": theirs.id})
    assert p_theirs["id"] not in html
    for action in (f"/payments/{p_theirs['id']}/sync", f"/payments/{p_theirs['id']}/close",
                   f"/webhooks/{their_event}/resend"):
        r = await console.post(action)
        assert r.status == 404, action
    r = await console.post(f"/payments/{p_theirs['id']}/refund",
                           {"amount": "1.00", "refund_no": "console-x", "totp": console.code(console.base + 1)})
    assert r.status == 404
    assert (await console.post(f"/merchants/{theirs.id}/api-key/rotate")).status == 403  # not an owner
    their_refund = await gateway.api(theirs, "POST", f"/payments/{p_theirs['id']}/refunds",
                                     json_body={"amount": 10, "out_refund_no": unique("rf")})
    assert their_refund.status == 201
    assert (await console.post(f"/refunds/{their_refund.body['id']}/sync")).status == 404
    _, html = await console.get("/refunds", params={"q": their_refund.body["id"]})
    assert their_refund.body["id"] not in html.split('id="refund-list"')[1]
    bound_owner: Console = await consoles("owner", merchant_id=mine.id)
    code = bound_owner.code(bound_owner.base + 1)
    for action in (f"/merchants/{theirs.id}/api-key/rotate", f"/merchants/{theirs.id}/settings",
                   f"/merchants/{theirs.id}/channel"):
        r = await bound_owner.post(action, {"totp": code, "webhook_url": "", "return_domains": "x.example"})
        assert r.status == 404, action
    assert (await bound_owner.post("/merchants", {"name": "Another", "totp": code})).status == 403
    _, html = await bound_owner.get("/operators")
    assert owner.email not in html  # the unbound owner is not in a bound owner's list
    async with gateway.svc.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(refunds)
                                   .where(refunds.c.out_refund_no == "console-x"))).scalar_one() == 0


async def test_roles(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m, channel="alipay_qr")
    for role, can_act in (("viewer", False), ("finance", False), ("operator", True)):
        console: Console = await consoles(role)
        r = await console.post(f"/payments/{p['id']}/sync")
        assert r.status == (303 if can_act else 403), role
        assert (await console.post(f"/merchants/{m.id}/api-key/rotate")).status == 403
        assert (await console.post("/operators", {"email": "x@example.com", "role": "owner"})).status == 403


async def test_api_key_rotation_and_revocation(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant()
    console: Console = await consoles("owner")
    r = await console.post(f"/merchants/{m.id}/api-key/rotate")
    html = await r.text()
    assert r.status == 200, html
    new_key = html.split('<code class="wrap" id="secret">')[1].split("</code>")[0]
    assert (await gateway.api(m, "GET", "/payments")).status == 401
    assert (await gateway.api(type(m)(m.id, new_key, m.webhook_secret), "GET", "/payments")).status == 200
    assert (await console.post(f"/merchants/{m.id}/api-key/revoke")).status == 200
    assert (await gateway.api(type(m)(m.id, new_key, m.webhook_secret), "GET", "/payments")).status == 401


async def test_operators_invite_and_disable(gateway: Gateway, consoles: Any) -> None:
    owner: Console = await consoles("owner")
    r = await owner.post("/operators", {"email": "new.one@example.com", "role": "finance"})
    html = await r.text()
    assert r.status == 200 and "/admin/enroll/" in html
    victim: Console = await consoles("viewer")
    from gateway.store import operators as repo

    async with gateway.svc.db.read() as conn:
        row = await repo.by_email(conn, victim.email)
    assert row is not None
    assert (await owner.post(f"/operators/{row['id']}/disable", token_from="/operators")).status == 303
    async with victim.http.get(f"{victim.url}/", allow_redirects=False) as resp:
        assert resp.status == 303  # a disabled operator's session opens nothing


async def test_audit_chain_checker_catches_an_edited_entry(gateway: Gateway, consoles: Any) -> None:
    owner: Console = await consoles("owner")
    await owner.get("/audit")
    db = gateway.svc.db
    report = await audit.verify(db)
    assert report.ok and report.checked >= 3
    status, html = await owner.get("/audit", params={"verify": "1"})
    assert status == 200 and 'id="chain" class="ok"' in html
    async with db.begin() as conn:
        seq, actor = (await conn.execute(sa.select(audit_log.c.seq, audit_log.c.actor).where(
            audit_log.c.action == "sign_in", audit_log.c.actor == owner.email))).one()
        await conn.execute(sa.update(audit_log).where(audit_log.c.seq == seq).values(actor="someone.else@example.com"))
    try:
        report = await audit.verify(db)
        assert not report.ok and report.broken_at == seq and report.reason == "entry edited"
        status, html = await owner.get("/audit", params={"verify": "1"})
        assert 'id="chain" class="bad"' in html
    finally:  # the database may be shared with other tests: mend it
        async with db.begin() as conn:
            await conn.execute(sa.update(audit_log).where(audit_log.c.seq == seq).values(actor=actor))
    assert (await audit.verify(db)).ok


async def test_merchant_create_settings_credentials_and_refund_sync(gateway: Gateway, consoles: Any) -> None:
    owner: Console = await consoles("owner")
    r = await owner.post("/merchants", {"name": "New Shop", "webhook_url": "https://shop.example/hook",
                                        "return_domains": "shop.example, www.shop.example"}, token_from="/merchants")
    html = await r.text()
    assert r.status == 200 and 'id="secret-1">sk_' in html and 'id="secret-2">whsec_' in html
    merchant_id = html.split('href="/admin/merchants/')[1].split('"')[0]
    page = f"/merchants/{merchant_id}"
    r = await owner.post(f"{page}/settings", {"webhook_url": "", "return_domains": "a.example"}, token_from=page)
    assert r.status == 303
    _, html = await owner.get(page)
    assert "a.example" in html and "shop.example/hook" not in html
    r = await owner.post(f"{page}/channel", {"channel": "alipay", "credentials": '{"app_id": "x"}'}, token_from=page)
    assert r.status == 422  # unusable keys are refused before anything is stored
    creds = sandbox_accounts(gateway.svc.settings)["alipay"]
    r = await owner.post(f"{page}/channel", {"channel": "alipay", "credentials": json.dumps(creds)}, token_from=page)
    assert r.status == 303, await r.text()
    _, html = await owner.get(page)
    assert "alipay" in html and creds.get("app_private_key", "~~")[:40] not in html
    async with gateway.svc.db.read() as conn:
        detail = (await conn.execute(sa.select(audit_log.c.detail).where(
            audit_log.c.action == "merchant.channel_credentials", audit_log.c.outcome == "success"))).scalar_one()
    assert all(str(v)[:20] not in detail for v in creds.values() if len(str(v)) > 20)  # names, never values

    m = await gateway.merchant()
    p = await paid_payment(gateway, m, amount=900)
    answer = await gateway.api(m, "POST", f"/payments/{p['id']}/refunds", json_body={"amount": 100, "out_refund_no": unique("rf")})
    assert answer.status == 201
    _, html = await owner.get("/refunds")
    assert answer.body["id"] in html
    r = await owner.post(f"/refunds/{answer.body['id']}/sync", token_from="/refunds")
    assert r.status == 303
    async with owner.http.get(f"{owner.url}/audit.csv") as resp:
        body = await resp.read()
    assert resp.status == 200 and body.startswith(b"\xef\xbb\xbf") and b"refund.sync" in body


async def test_check_audit_command_finds_a_deleted_entry(gateway: Gateway, consoles: Any) -> None:
    from gateway.cli import check_audit_cmd

    await consoles("viewer")
    settings = gateway.svc.settings
    assert await check_audit_cmd(settings) == 0
    async with gateway.svc.db.begin() as conn:
        seq = (await conn.execute(sa.select(sa.func.max(audit_log.c.seq)))).scalar_one()
        row = (await conn.execute(sa.select(audit_log).where(audit_log.c.seq == seq - 1))).mappings().one()
        await conn.execute(sa.delete(audit_log).where(audit_log.c.seq == seq - 1))
    try:
        report = await audit.verify(gateway.svc.db)
        assert not report.ok and report.broken_at == seq - 1 and report.reason == "missing entry"
        assert await check_audit_cmd(settings) == 1
    finally:  # the database may be shared with other tests: mend it
        async with gateway.svc.db.begin() as conn:
            await conn.execute(sa.insert(audit_log).values(**row))
    assert await check_audit_cmd(settings) == 0
