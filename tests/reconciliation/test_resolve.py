"""Manual resolution of discrepancies: accept the channel's side (only through the settlement, after a
confirming query), accept ours, ignore; a reason required, the operator recorded; idempotent."""
from __future__ import annotations

import argparse
import json

import pytest

from gateway.domain.errors import InvalidState, NotFound, ValidationFailed
from gateway.services.reconciliation.command import run_command
from gateway.services.reconciliation.resolve import ChannelNotConfirmed, resolve
from gateway.store.tables import ledger_entries
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, drop_callbacks, inject, kinds, payment, run, wait_status


async def test_accept_channel_settles_through_the_settlement_once(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "alipay")
    await drop_callbacks(gw, "alipay")
    p, _ = await payment(gw, m, "alipay", 1500, callback=False)
    report = await run(gw, account, dry_run=True)  # found, not remedied: open for a person
    (d,) = report["discrepancies"]
    assert (d["type"], d["state"], report["open"]) == ("paid_local_pending", "open", 1)

    done = await resolve(gw.svc, d["id"], "accept_channel", "  bill shows it paid;\nchecked the portal ",
                         operator="alice")
    assert done.applied
    r = done.discrepancy
    assert (r["state"], r["resolved_by"], r["note"]) == ("resolved", "alice", "bill shows it paid; checked the portal")
    assert r["action"].startswith("accept_channel: queried, settled paid") and r["resolved_at"]
    await wait_status(gw, m, p["id"], "paid")
    entries = await gw.count(ledger_entries, ledger_entries.c.merchant_id == m.id)
    assert entries >= 1

    again = await resolve(gw.svc, d["id"], "accept_channel", "clicked twice", operator="bob")
    assert not again.applied and again.discrepancy == r  # the first resolution stands, nothing redone
    assert await gw.count(ledger_entries, ledger_entries.c.merchant_id == m.id) == entries
    with pytest.raises(InvalidState):
        await resolve(gw.svc, d["id"], "ignore", "changed my mind", operator="bob")

    rerun = await run(gw, account, rerun=True)  # a re-run keeps the person's resolution
    assert rerun["open"] == 0
    assert kinds(rerun) in ([], [("paid_local_pending", "resolved")])
    assert await gw.count(ledger_entries, ledger_entries.c.merchant_id == m.id) == entries


async def test_accept_channel_refused_where_it_would_change_an_amount(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "wechat")
    p, attempt = await payment(gw, m, "wechat", 1000)
    await inject(gw, "wechat", "amount", trade_no=attempt, amount=999)
    report = await run(gw, account)
    (d,) = report["discrepancies"]
    assert (d["type"], d["state"]) == ("pay_amount_mismatch", "open")
    entries = await gw.count(ledger_entries, ledger_entries.c.merchant_id == m.id)

    with pytest.raises(ChannelNotConfirmed):
        await resolve(gw.svc, d["id"], "accept_channel", "trust the bill", operator="alice")
    with pytest.raises(ValidationFailed):
        await resolve(gw.svc, d["id"], "accept_ours", "   ", operator="alice")
    with pytest.raises(ValidationFailed):
        await resolve(gw.svc, d["id"], "delete", "no such action", operator="alice")
    with pytest.raises(NotFound):
        await resolve(gw.svc, "dis_nope", "ignore", "x", operator="alice")
    with pytest.raises(NotFound):  # limited to a merchant: another's discrepancy is not found
        await resolve(gw.svc, d["id"], "ignore", "x", operator="alice", merchant_id="mch_other")
    after = await run(gw, account, rerun=True)
    assert kinds(after) == [("pay_amount_mismatch", "open")]  # still open, nothing changed

    done = await resolve(gw.svc, d["id"], "accept_ours", "channel confirmed 10.00 by ticket 123", operator="alice")
    assert (done.discrepancy["state"], done.discrepancy["action"]) == ("resolved", "accept_ours: no change")
    assert (await gw.api(m, "GET", f"/payments/{p['id']}")).body["amount"] == 1000
    assert await gw.count(ledger_entries, ledger_entries.c.merchant_id == m.id) == entries
    after = await run(gw, account, rerun=True)
    assert kinds(after) == [("pay_amount_mismatch", "resolved")] and after["open"] == 0
    assert after["discrepancies"][0]["note"] == "channel confirmed 10.00 by ticket 123"


async def test_cli_resolve(gw: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import parser

    m = await gw.merchant()
    account = await account_of(gw, m, "alipay")
    _, attempt = await payment(gw, m, "alipay", 1000)
    await inject(gw, "alipay", "duplicate", trade_no=attempt)
    (d,) = (await run(gw, account))["discrepancies"]
    assert d["type"] == "duplicate_line"

    def cli(*argv: str) -> argparse.Namespace:
        return parser().parse_args(["reconcile", "resolve", *argv])

    assert await run_command(gw.svc.settings, cli(d["id"], "--action", "accept_channel", "--reason", "r")) == 1
    assert json.loads(capsys.readouterr().err)["error"] == "channel_not_confirmed"
    assert await run_command(gw.svc.settings, cli("dis_nope", "--action", "ignore", "--reason", "r")) == 2
    capsys.readouterr()
    argv = (d["id"], "--action", "ignore", "--reason", "a known channel glitch", "--json")
    for applied in (True, False):
        assert await run_command(gw.svc.settings, cli(*argv)) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["applied"] is applied
        assert (out["discrepancy"]["state"], out["discrepancy"]["resolved_by"]) == ("ignored", "cli")
    with pytest.raises(SystemExit):  # --reason is required
        cli(d["id"], "--action", "ignore")
    capsys.readouterr()


async def test_a_partially_refunded_payment_mismatch_is_recorded(gw: Gateway) -> None:
    """Its local status (attempt/payment: ``succeeded/partially_refunded``) fits its column on MariaDB."""
    from tests.refunds.helpers import refund, refund_status

    m = await gw.merchant()
    account = await account_of(gw, m, "alipay")
    p, attempt = await payment(gw, m, "alipay", 1000)
    r = (await refund(gw, m, p["id"], 100)).body
    await refund_status(gw, m, r["id"], "succeeded")
    await inject(gw, "alipay", "amount", trade_no=attempt, amount=999)
    report = await run(gw, account)
    assert report["status"] == "done", report
    (d,) = report["discrepancies"]
    assert (d["type"], d["local"]["status"]) == ("pay_amount_mismatch", "succeeded/partially_refu")
