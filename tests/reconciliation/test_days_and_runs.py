"""Bill days and runs: a day without a bill, a payment across midnight, a crash between a remedy's
steps, a refund pending here and done at the channel, not-ready days, the CLI and its exit codes."""
from __future__ import annotations

import argparse
import json
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.services.reconciliation import days, exit_code, remedy
from gateway.services.reconciliation.command import run_command
from gateway.store.tables import attempts, ledger_entries
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, drop_callbacks, kinds, payment, run, wait_status
from tests.reconciliation.test_reconcile import assert_books
from tests.refunds.helpers import refund


async def move_paid_at(gw: Gateway, attempt_id: str, when: datetime) -> None:
    async with gw.svc.db.begin() as conn:
        await conn.execute(sa.update(attempts).where(attempts.c.id == attempt_id).values(paid_at=when))


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
async def test_no_bill_day_with_local_success_then_found_across_midnight(gw: Gateway, channel: str) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    _, attempt = await payment(gw, m, channel, 1000)
    yesterday = days.today() - timedelta(days=1)
    # Recorded here a second before midnight; the channel's bill has it on the next day.
    await move_paid_at(gw, attempt, datetime.combine(yesterday, time(23, 59, 59), days.SHANGHAI))
    first = await run(gw, account, yesterday)
    assert first["status"] == "no_bill"
    assert kinds(first) == [("local_paid_missing", "carried")]
    assert first["discrepancies"][0]["action"].startswith("queried: paid at the channel")
    assert first["totals"]["local"]["pay_count"] == 1
    assert exit_code([first]) == 0  # carried is timing, not (yet) a discrepancy to act on
    second = await run(gw, account)
    assert second["status"] == "done" and second["discrepancies"] == [] and second["matched"] == 1
    # Today's run found it on its bill: yesterday's carried line is cleared (kept, as every discrepancy).
    cleared = await run(gw, account, yesterday)
    assert kinds(cleared) == [("local_paid_missing", "auto_resolved")]
    assert cleared["discrepancies"][0]["action"] == "found on a neighbouring day's bill"
    again = await run(gw, account, yesterday, rerun=True)
    assert kinds(again) == [("local_paid_missing", "auto_resolved")] and exit_code([again]) == 0


async def test_crash_between_settlement_and_record_is_repaired_by_the_rerun(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "wechat")
    await drop_callbacks(gw, "wechat")
    p, attempt = await payment(gw, m, "wechat", 900, callback=False)
    real = remedy.settle_by_query

    async def settle_then_die(svc: object, attempt_id: str) -> remedy.Remedy:
        await real(svc, attempt_id)  # type: ignore[arg-type]
        raise RuntimeError("process killed after the settlement committed")

    monkeypatch.setattr(remedy, "settle_by_query", settle_then_die)
    with pytest.raises(RuntimeError):
        await run(gw, account)
    monkeypatch.setattr(remedy, "settle_by_query", real)
    await wait_status(gw, m, p["id"], "paid")
    report = await run(gw, account)  # the failed batch is simply run again
    assert report["status"] == "done" and report["runs"] == 2
    assert kinds(report) == [("paid_local_pending", "auto_resolved")]
    assert await gw.count(ledger_entries, ledger_entries.c.payment_id == p["id"]) == 1
    assert attempt
    await assert_books(gw)


async def test_refund_pending_here_done_at_the_channel_is_synced(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "wechat")
    p, _ = await payment(gw, m, "wechat", 1000)
    await drop_callbacks(gw, "wechat")
    # The refund reaches WeChat but its answer is lost: pending here until someone asks.
    await gw.fault("wechat", {"api": {"path_contains": "/v3/refund/domestic/refunds", "mode": "timeout",
                                      "after": True, "seconds": 0.1, "count": 1}})
    r = (await refund(gw, m, p["id"], 400)).body
    assert r["status"] == "pending"
    report = await run(gw, account)
    assert kinds(report) == [("refund_local_pending", "auto_resolved")]
    assert report["discrepancies"][0]["refund_id"] == r["id"]
    assert (await gw.api(m, "GET", f"/refunds/{r['id']}")).body["status"] == "succeeded"
    again = await run(gw, account, rerun=True)
    assert kinds(again) == [("refund_local_pending", "auto_resolved")]
    await assert_books(gw)


async def test_day_not_over_is_not_ready_without_immediate_bills(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_SANDBOX_BILLS_IMMEDIATE", raising=False)
    m = await gw.merchant()
    for channel in ("alipay", "wechat"):
        account = await account_of(gw, m, channel)
        await payment(gw, m, channel, 1000)
        report = await run(gw, account)
        assert report["status"] == "not_ready", report
        assert exit_code([report]) == 3


def args(**kw: object) -> argparse.Namespace:
    base = dict(date=None, channel=None, account=None, file=None, rerun=False, refetch=False, dry_run=False,
                json=True)
    return argparse.Namespace(**{**base, **kw})


async def test_cli_json_and_exit_codes(gw: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.reconciliation.helpers import inject

    m = await gw.merchant()
    account = await account_of(gw, m, "alipay")
    _, attempt = await payment(gw, m, "alipay", 1000)
    day = days.today().isoformat()
    assert await run_command(gw.svc.settings, args(date=day, account=account)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exit_code"] == 0 and out["batches"][0]["matched"] == 1
    await inject(gw, "alipay", "amount", trade_no=attempt, amount=1)
    assert await run_command(gw.svc.settings, args(date=day, account=account, rerun=True, refetch=True)) == 1
    out = json.loads(capsys.readouterr().out)
    (d,) = out["batches"][0]["discrepancies"]
    assert (d["type"], d["state"], d["payment_id"] is not None, d["channel"]["amount"], d["local"]["amount"]) \
        == ("pay_amount_mismatch", "open", True, 1, 1000)
    await inject(gw, "alipay", "totals")
    assert await run_command(gw.svc.settings, args(date=day, account=account, rerun=True, refetch=True)) == 2
    capsys.readouterr()


async def test_uploaded_bill_file(gw: Gateway, tmp_path: Path) -> None:
    """A bill file given on the command line (as the channel serves it: a GBK zip) is reconciled the same."""
    m = await gw.merchant()
    account = await account_of(gw, m, "alipay")
    await payment(gw, m, "alipay", 1000)
    channel = gw.svc.pool.get(await _account_row(gw, account))
    bill = await channel.bill_download(days.today(), tmp_path / "downloaded.zip")
    assert bill is not None
    report = await run(gw, account, file=bill.path)
    assert (report["status"], report["source"], report["matched"], report["discrepancies"]) == ("done", "file", 1, [])
    assert report["file"]["sha256"] == bill.sha256


async def _account_row(gw: Gateway, account_id: str) -> dict:
    from gateway.store import merchants

    async with gw.svc.db.read() as conn:
        row = await merchants.get_account(conn, account_id)
    assert row is not None
    return row


async def test_dry_run_reports_without_remedy_or_fees(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "wechat")
    await drop_callbacks(gw, "wechat")
    p, _ = await payment(gw, m, "wechat", 1000, callback=False)
    report = await run(gw, account, dry_run=True)
    assert kinds(report) == [("paid_local_pending", "open")]
    assert report["discrepancies"][0]["action"] == "suggested: settle"
    assert report["totals"]["bill"]["fee_posted"] == 0
    assert (await gw.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "pending"
    assert await gw.count(ledger_entries, ledger_entries.c.merchant_id == m.id) == 0
    real = await run(gw, account, rerun=True)  # the real run then does it
    assert kinds(real) == [("paid_local_pending", "auto_resolved")] and real["totals"]["bill"]["fee_posted"] == 6
