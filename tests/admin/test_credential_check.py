"""The console tries channel credentials: "Test credentials" on a stored account shows what the channel
said (and is audited), and replacing credentials the channel refuses stores nothing."""
from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from gateway.cli import sandbox_accounts
from gateway.services.merchants import set_channel_account
from gateway.store.audit import audit_log
from gateway.store.tables import channel_accounts
from tests.admin.helpers import Console
from tests.factories import Gateway, shared_sandbox_keys


async def _account(gw: Gateway, merchant_id: str, channel: str) -> dict[str, Any]:
    async with gw.svc.db.read() as conn:
        row = (await conn.execute(sa.select(channel_accounts).where(
            channel_accounts.c.merchant_id == merchant_id, channel_accounts.c.channel == channel))).mappings().one()
    return dict(row)


def _result(html: str) -> str:
    found = re.search(r'id="check-result" data-problem="([a-z_]+)"', html)
    assert found, html[:3000]
    return found.group(1)


async def test_test_credentials_button_shows_the_channels_answer(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant()
    owner: Console = await consoles("owner")
    page = f"/merchants/{m.id}"
    wechat = await _account(gateway, m.id, "wechat")
    _, html = await owner.get(page)
    assert f'id="check-{wechat["id"]}"' in html and "Test credentials" in html

    r = await owner.post(f"{page}/check", {"account": wechat["id"]}, token_from=page)
    html = await r.text()
    assert r.status == 200 and _result(html) == "ok" and "credentials work" in html

    # The stored key goes wrong (stored without the check): the button says so, the channel's words too.
    wrong = sandbox_accounts(gateway.svc.settings)["wechat"] | {
        "merchant_private_key": json.loads(shared_sandbox_keys())["alipay"]["app_private_key"]}
    await set_channel_account(gateway.svc.db, gateway.svc.settings, gateway.svc.registry, m.id, "wechat", wrong,
                              check=False)
    r = await owner.post(f"{page}/check", {"account": wechat["id"]}, token_from=page)
    html = await r.text()
    assert r.status == 200 and _result(html) == "signature_rejected" and "SIGN_ERROR" in html

    other = await gateway.merchant()  # another merchant's account is not found through this one
    theirs = await _account(gateway, other.id, "wechat")
    r = await owner.post(f"{page}/check", {"account": theirs["id"]}, token_from=page)
    assert r.status == 404

    async with gateway.svc.db.read() as conn:
        entries = (await conn.execute(sa.select(audit_log.c.outcome, audit_log.c.detail).where(
            audit_log.c.action == "merchant.channel_check", audit_log.c.merchant_id == m.id)
            .order_by(audit_log.c.seq))).all()
    assert [e.outcome for e in entries] == ["success", "success", "failed"]
    assert "signature_rejected" in entries[1].detail


async def test_replacing_credentials_the_channel_refuses_stores_nothing(gateway: Gateway, consoles: Any) -> None:
    m = await gateway.merchant()
    owner: Console = await consoles("owner")
    page = f"/merchants/{m.id}"
    before = await _account(gateway, m.id, "alipay")
    unverifiable = sandbox_accounts(gateway.svc.settings)["alipay"] | {
        "alipay_public_key": json.loads(shared_sandbox_keys())["wechat"]["public_key"]}
    r = await owner.post(f"{page}/channel", {"channel": "alipay", "credentials": json.dumps(unverifiable)},
                         token_from=page)
    html = await r.text()
    assert r.status == 422 and "answer_unverifiable" in html
    assert (await _account(gateway, m.id, "alipay"))["credentials_sealed"] == before["credentials_sealed"]
    async with gateway.svc.db.read() as conn:
        detail = (await conn.execute(sa.select(audit_log.c.detail).where(
            audit_log.c.action == "merchant.channel_credentials", audit_log.c.merchant_id == m.id,
            audit_log.c.outcome == "failed"))).scalar_one()
    assert "answer_unverifiable" in detail
