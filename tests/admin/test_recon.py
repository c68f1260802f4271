"""The console's reconciliation pages: batches with both sides' totals, a batch side by side with its
discrepancies, and the resolve form -- finance and owners only, reason required, a fresh code, audited,
and acting only through :mod:`gateway.services.reconciliation.resolve`."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from gateway.admin import access
from gateway.store.audit import audit_log
from gateway.store.reconciliation import recon_discrepancies
from tests.admin.helpers import Console
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, drop_callbacks, payment, run, wait_status


async def _open_discrepancy(gateway: Gateway) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A payment paid at the channel whose callback never came, found by a dry run: left open."""
    m = await gateway.merchant()
    account = await account_of(gateway, m, "alipay")
    await drop_callbacks(gateway, "alipay")
    p, _ = await payment(gateway, m, "alipay", 1500, callback=False)
    report = await run(gateway, account, dry_run=True)
    (d,) = report["discrepancies"]
    assert (d["type"], d["state"]) == ("paid_local_pending", "open")
    return m, p, report, d


async def _discrepancy(gateway: Gateway, discrepancy_id: str) -> dict[str, Any]:
    async with gateway.svc.db.read() as conn:
        row = (await conn.execute(sa.select(recon_discrepancies)
                                  .where(recon_discrepancies.c.id == discrepancy_id))).mappings().one()
    return dict(row)


async def test_batches_and_a_batch_side_by_side(gateway: Gateway, consoles: Any) -> None:
    _, _, report, d = await _open_discrepancy(gateway)
    viewer: Console = await consoles("viewer")
    status, html = await viewer.get("/reconciliation", params={"day": report["bill_date"]})
    assert status == 200 and f'href="/admin/reconciliation/{report["id"]}"' in html
    status, html = await viewer.get(f"/reconciliation/{report['id']}")
    assert status == 200 and 'id="sides"' in html and d["id"] in html and "paid_local_pending" in html
    sides = html.split('id="sides"')[1].split("</table>")[0]
    assert "¥15.00" in sides  # the bill's side; ours has nothing paid yet
    assert "resolve-form" not in html  # a viewer sees no form
    assert (await viewer.get("/reconciliation", params={"day": "yesterday"}))[0] == 422
    other = await gateway.merchant()
    scoped: Console = await consoles("finance", other.id)
    assert (await scoped.get(f"/reconciliation/{report['id']}"))[0] == 404
    _, html = await scoped.get("/reconciliation")
    assert report["id"] not in html


async def test_resolve_needs_finance_a_reason_and_a_fresh_code(gateway: Gateway, consoles: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    m, p, report, d = await _open_discrepancy(gateway)
    page = f"/reconciliation/{report['id']}"
    action = f"/reconciliation/discrepancies/{d['id']}/resolve"
    form = {"action": "accept_channel", "reason": "paid at the channel, callback lost"}
    operator: Console = await consoles("operator")
    assert (await operator.post(action, form, token_from="/")).status == 403
    finance: Console = await consoles("finance")
    _, html = await finance.get(page)
    assert "resolve-form" in html and 'name="reason" required' in html
    assert (await finance.post(action, form | {"reason": "  "}, token_from=page)).status == 422
    monkeypatch.setattr(access, "STEP_UP_FOR", 0.0)  # the sign-in's code is no longer fresh
    r = await finance.post(action, form, token_from=page)
    assert r.status == 401 and 'name="totp"' in await r.text()
    assert (await _discrepancy(gateway, d["id"]))["state"] == "open"
    r = await finance.post(action, form | {"totp": finance.code(finance.base + 1)}, token_from=page)
    assert r.status == 303, await r.text()
    row = await _discrepancy(gateway, d["id"])
    assert (row["state"], row["resolved_by"], row["note"]) == ("resolved", finance.email, form["reason"])
    assert row["action"].startswith("accept_channel: queried, settled paid")
    await wait_status(gateway, m, p["id"], "paid")
    async with gateway.svc.db.read() as conn:
        entries = (await conn.execute(sa.select(audit_log.c.action, audit_log.c.outcome, audit_log.c.actor)
                                      .where(audit_log.c.object_id == d["id"]))).all()
    assert ("recon.resolve", "success", finance.email) in entries
    assert ("recon.resolve", "failed", finance.email) in entries  # the empty reason
    _, html = await finance.get(page)
    assert finance.email in html and "resolve-form" not in html


async def test_refused_accept_channel_is_shown_and_audited(gateway: Gateway, consoles: Any) -> None:
    from tests.reconciliation.helpers import inject

    m = await gateway.merchant()
    account = await account_of(gateway, m, "wechat")
    _, attempt = await payment(gateway, m, "wechat", 1000)
    await inject(gateway, "wechat", "amount", trade_no=attempt, amount=999)
    report = await run(gateway, account)
    (d,) = report["discrepancies"]
    owner: Console = await consoles("owner")
    page = f"/reconciliation/{report['id']}"
    r = await owner.post(f"/reconciliation/discrepancies/{d['id']}/resolve",
                         {"action": "accept_channel", "reason": "trust the bill"}, token_from=page)
    assert r.status == 400, await r.text()  # never an amount changed
    assert (await _discrepancy(gateway, d["id"]))["state"] == "open"
    r = await owner.post(f"/reconciliation/discrepancies/{d['id']}/resolve",
                         {"action": "accept_ours", "reason": "channel ticket 42: 10.00 is right"}, token_from=page)
    assert r.status == 303
    assert (await _discrepancy(gateway, d["id"]))["state"] == "resolved"
