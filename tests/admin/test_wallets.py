"""Console pages for customers' wallets: list, one wallet with its statement, freeze/unfreeze and an
adjustment with a required reason -- by role, scoped to the operator's merchant, audited, books balanced."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from gateway.admin import access
from gateway.store.audit import audit_log
from tests.admin.helpers import Console
from tests.factories import Gateway, unique
from tests.wallets.conftest import adjust, books_balance, enable_stored_value, wallet


async def _audit(gw: Gateway, action: str) -> list[tuple[str, str]]:
    async with gw.svc.db.read() as conn:
        return [tuple(r) for r in (await conn.execute(sa.select(audit_log.c.action, audit_log.c.outcome)
                                                      .where(audit_log.c.action == action))).all()]


async def test_wallet_list_statement_freeze_and_adjust(gateway: Gateway, consoles: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    m = await gateway.merchant(name="Tea")
    await enable_stored_value(gateway, m)
    alice, bob = unique("alice"), unique("bob")
    await adjust(gateway, m, alice, cash=5000, bonus=300)
    await adjust(gateway, m, bob, cash=100)
    console: Console = await consoles("operator")
    status, html = await console.get(f"/merchants/{m.id}")
    assert status == 200 and f'href="/admin/merchants/{m.id}/wallets"' in html
    status, html = await console.get(f"/merchants/{m.id}/wallets")
    assert status == 200 and alice in html and bob in html and "¥50.00" in html
    status, html = await console.get(f"/merchants/{m.id}/wallets", params={"customer": alice[:8]})
    assert alice in html and bob not in html
    page = f"/merchants/{m.id}/wallets/{alice}"
    status, html = await console.get(page)
    assert status == 200 and 'id="statement"' in html and "test float" in html and "¥50.00" in html
    assert (await console.get(f"/merchants/{m.id}/wallets/nobody"))[0] == 404

    r = await console.post(f"{page}/freeze", token_from=page)
    assert r.status == 303 and (await wallet(gateway, m, alice))["status"] == "frozen"
    r = await console.post(f"{page}/unfreeze", token_from=page)
    assert r.status == 303 and (await wallet(gateway, m, alice))["status"] == "active"
    assert ("wallet.freeze", "success") in await _audit(gateway, "wallet.freeze")

    monkeypatch.setattr(access, "STEP_UP_FOR", 0.0)  # an adjustment moves money: a fresh code
    form = {"cash": "-12.50", "bonus": "1", "points": "", "reason": "goodwill fix"}
    r = await console.post(f"{page}/adjust", form, token_from=page)
    assert r.status == 401 and 'name="totp"' in await r.text()
    code = console.code(console.base + 1)
    for bad in ({**form, "reason": " "}, {**form, "cash": "abc"}, {**form, "cash": "", "bonus": ""}):
        r = await console.post(f"{page}/adjust", {**bad, "totp": code}, token_from=page)
        assert r.status in (400, 422), bad
        monkeypatch.setattr(access, "STEP_UP_FOR", 300.0)  # the code above counts for the next minutes
    r = await console.post(f"{page}/adjust", form, token_from=page)
    assert r.status == 303, await r.text()
    w = await wallet(gateway, m, alice)
    assert (w["cash"], w["bonus"]) == (5000 - 1250, 300 + 100)
    r = await console.post(f"{page}/adjust", {**form, "cash": "-1000"}, token_from=page)  # more than there is
    assert r.status == 402 and (await wallet(gateway, m, alice))["cash"] == 3750
    _, html = await console.get(page)
    assert "goodwill fix" in html
    entries = await _audit(gateway, "wallet.adjust")
    assert ("wallet.adjust", "success") in entries and ("wallet.adjust", "failed") in entries
    await books_balance(gateway)


async def test_wallet_pages_by_role_and_merchant_scope(gateway: Gateway, consoles: Any) -> None:
    mine, theirs = await gateway.merchant(name="Mine"), await gateway.merchant(name="Theirs")
    for m in (mine, theirs):
        await enable_stored_value(gateway, m)
    carol = unique("carol")
    await adjust(gateway, theirs, carol, cash=700)
    bound: Console = await consoles("operator", merchant_id=mine.id)
    for path in (f"/merchants/{theirs.id}/wallets", f"/merchants/{theirs.id}/wallets/{carol}"):
        assert (await bound.get(path))[0] == 404, path
    r = await bound.post(f"/merchants/{theirs.id}/wallets/{carol}/freeze")
    assert r.status == 404 and (await wallet(gateway, theirs, carol))["status"] == "active"
    viewer: Console = await consoles("viewer")
    page = f"/merchants/{theirs.id}/wallets/{carol}"
    status, html = await viewer.get(page)
    assert status == 200 and 'id="freeze"' not in html and 'id="adjust-form"' not in html
    assert (await viewer.post(f"{page}/freeze")).status == 403
    r = await viewer.post(f"{page}/adjust", {"cash": "1", "reason": "x", "totp": viewer.code(viewer.base + 1)})
    assert r.status == 403 and (await wallet(gateway, theirs, carol))["cash"] == 700
    r = await viewer.post(f"{page}/freeze", csrf=False)
    assert r.status == 403
