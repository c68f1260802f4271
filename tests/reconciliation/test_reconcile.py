"""Reconciliation end to end against the sandboxes: each discrepancy class injected into a real bill and
reported exactly, remedies through the settlement applied once across re-runs, fees in the ledger."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.domain.ids import new_id
from gateway.store.ledger_check import check_database
from gateway.store.tables import ledger_entries, refunds
from tests.factories import Gateway
from tests.reconciliation.helpers import (
    account_of,
    attempts_of,
    drop_callbacks,
    inject,
    kinds,
    payment,
    run,
    wait_status,
)
from tests.refunds.helpers import refund, refund_status

CHANNELS = ["alipay", "wechat"]


async def assert_books(gw: Gateway) -> None:
    report = await check_database(gw.svc.db)
    assert report.ok, report.as_json()["violations"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_consistent_day_with_fees(gw: Gateway, channel: str) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    p, _ = await payment(gw, m, channel, 1000)
    r = (await refund(gw, m, p["id"], 300)).body
    await refund_status(gw, m, r["id"], "succeeded")
    report = await run(gw, account)
    assert report["status"] == "done", report
    assert report["discrepancies"] == []
    assert report["matched"] == 2 and report["foreign"] == 0
    bill = report["totals"]["bill"]
    assert (bill["pay_count"], bill["pay_amount"], bill["refund_count"], bill["refund_amount"]) == (1, 1000, 1, 300)
    assert report["totals"]["local"] == {"pay_count": 1, "pay_amount": 1000, "refund_count": 1, "refund_amount": 300}
    if channel == "wechat":  # 0.60 % of 10.00 charged, 0.60 % of 3.00 given back: 4.2 fen → 4
        assert (bill["fee_units"], bill["fee_posted"]) == (4200, 4)
    again = await run(gw, account, rerun=True)
    assert again["discrepancies"] == [] and again["runs"] == 2
    fees = await gw.count(ledger_entries, ledger_entries.c.kind == "channel_fee",
                          ledger_entries.c.merchant_id == m.id)
    assert fees == (1 if channel == "wechat" else 0)
    await assert_books(gw)


async def set_attempt(gw: Gateway, attempt_id: str, **values: object) -> None:
    from gateway.store.tables import attempts

    async with gw.svc.db.begin() as conn:
        await conn.execute(sa.update(attempts).where(attempts.c.id == attempt_id).values(**values))


@pytest.mark.parametrize("channel", CHANNELS)
async def test_paid_at_channel_pending_here_is_settled_once(gw: Gateway, channel: str) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    await drop_callbacks(gw, channel)
    p, attempt = await payment(gw, m, channel, 1500, callback=False)
    assert (await gw.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "pending"
    report = await run(gw, account)
    assert kinds(report) == [("paid_local_pending", "auto_resolved")]
    d = report["discrepancies"][0]
    assert (d["payment_id"], d["attempt_id"], d["channel"]["amount"], d["local"]["amount"]) == (
        p["id"], attempt, 1500, 1500)
    assert d["action"].startswith("queried, settled paid")
    await wait_status(gw, m, p["id"], "paid")
    for _ in range(2):
        again = await run(gw, account, rerun=True)
        assert kinds(again) == [("paid_local_pending", "auto_resolved")]
        assert again["open"] == 0 and again["matched"] == 1
    assert await gw.count(ledger_entries, ledger_entries.c.payment_id == p["id"]) == 1
    await assert_books(gw)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_paid_at_channel_closed_here_takes_the_late_payment_policy(gw: Gateway, channel: str) -> None:
    from gateway.store.tables import payments

    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    await drop_callbacks(gw, channel)
    p, attempt = await payment(gw, m, channel, 800, callback=False)
    # The shopper paid just as the payment expired here (the close raced the payment).
    await set_attempt(gw, attempt, status="closed")
    async with gw.svc.db.begin() as conn:
        await conn.execute(sa.update(payments).where(payments.c.id == p["id"]).values(status="closed"))
    report = await run(gw, account)
    assert kinds(report) == [("paid_local_closed", "auto_resolved")]
    assert "paid_late" in report["discrepancies"][0]["action"]
    for _ in range(2):  # re-runs against a fresh bill (it now has the automatic refund)
        again = await run(gw, account, rerun=True, refetch=True)
        assert kinds(again, state="open") == []
        assert ("paid_local_closed", "auto_resolved") in kinds(again)
    assert await gw.count(refunds, refunds.c.payment_id == p["id"]) == 1
    assert await gw.count(refunds, refunds.c.payment_id == p["id"], refunds.c.automatic == "late_paid") == 1
    await assert_books(gw)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_two_attempts_paid_one_is_refunded_once(gw: Gateway, channel: str) -> None:
    from gateway.services.payments import open_attempt
    from gateway.store import payments as payments_repo
    from tests.reconciliation.helpers import METHOD, pay_at_channel

    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    await drop_callbacks(gw, channel)
    p, first = await payment(gw, m, channel, 700, callback=False)
    async with gw.svc.db.read() as conn:
        row = await payments_repo.get_payment(conn, p["id"])
    second = (await open_attempt(gw.svc, row, METHOD[channel]))["id"]
    await pay_at_channel(gw, channel, second)
    report = await run(gw, account)
    assert kinds(report) == [("paid_double", "auto_resolved"), ("paid_local_pending", "auto_resolved")]
    double = next(d for d in report["discrepancies"] if d["type"] == "paid_double")
    assert double["attempt_id"] == second and "double" in double["action"]
    for _ in range(2):
        again = await run(gw, account, rerun=True, refetch=True)
        assert ("paid_double", "auto_resolved") in kinds(again) and kinds(again, state="open") == []
    assert await gw.count(refunds, refunds.c.payment_id == p["id"]) == 1
    assert await gw.count(refunds, refunds.c.attempt_id == second, refunds.c.automatic == "double_paid") == 1
    assert {a["status"] for a in await attempts_of(gw, p["id"])} == {"succeeded"}
    await assert_books(gw)
    assert first != second


@pytest.mark.parametrize("channel", CHANNELS)
async def test_injected_bill_lines_are_reported_exactly(gw: Gateway, channel: str) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    _, a_amount = await payment(gw, m, channel, 1000)
    _, a_dup = await payment(gw, m, channel, 1100)
    _, a_drop = await payment(gw, m, channel, 1200)
    p_ok, a_ok = await payment(gw, m, channel, 1300)
    await inject(gw, channel, "amount", trade_no=a_amount, amount=999)
    await inject(gw, channel, "duplicate", trade_no=a_dup)
    await inject(gw, channel, "drop", trade_no=a_drop)
    unknown_attempt, unknown_refund = new_id("att"), new_id("re")
    await inject(gw, channel, "extra_payment", trade_no=unknown_attempt, amount=500)
    await inject(gw, channel, "extra_payment", trade_no="OTHERSYSTEM42", amount=700)
    await inject(gw, channel, "extra_refund", trade_no=a_ok, refund_no=unknown_refund, amount=100)
    report = await run(gw, account)
    assert report["status"] == "done"
    assert kinds(report) == [
        ("duplicate_line", "open"),
        ("local_paid_missing", "carried"),     # dropped from the bill, paid at the channel: timing until D+2
        ("paid_missing_local", "open"),        # our prefix, no such attempt
        ("pay_amount_mismatch", "open"),
        ("refund_missing_local", "open"),      # our refund prefix, no such refund
    ]
    by_type = {d["type"]: d for d in report["discrepancies"]}
    assert by_type["pay_amount_mismatch"]["attempt_id"] == a_amount
    assert (by_type["pay_amount_mismatch"]["channel"]["amount"], by_type["pay_amount_mismatch"]["local"]["amount"]) \
        == (999, 1000)
    assert by_type["duplicate_line"]["key"] == f"payment:{a_dup}"
    assert by_type["local_paid_missing"]["attempt_id"] == a_drop
    assert by_type["local_paid_missing"]["expected_until"] is not None
    assert by_type["paid_missing_local"]["key"] == unknown_attempt
    assert by_type["refund_missing_local"]["key"] == unknown_refund
    assert report["foreign"] == 1  # another system's trade on the same account: counted, not raised
    assert report["open"] == 4
    again = await run(gw, account, rerun=True)
    assert kinds(again) == kinds(report)
    assert {d["id"] for d in again["discrepancies"]} == {d["id"] for d in report["discrepancies"]}
    assert p_ok["id"]
    await assert_books(gw)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_portal_refund_is_imported_once(gw: Gateway, channel: str) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    p, attempt = await payment(gw, m, channel, 2000)
    made = await inject(gw, channel, "portal_refund", trade_no=attempt, amount=600)
    report = await run(gw, account)
    assert kinds(report) == [("refund_external", "auto_resolved")]
    assert report["discrepancies"][0]["key"] == made["refund_no"]
    body = (await gw.api(m, "GET", f"/payments/{p['id']}")).body
    assert (body["status"], body["refunded_amount"]) == ("partially_refunded", 600)
    for _ in range(2):
        again = await run(gw, account, rerun=True)
        assert kinds(again) == [("refund_external", "auto_resolved")]
    assert await gw.count(refunds, refunds.c.payment_id == p["id"], refunds.c.automatic == "channel_portal") == 1
    await assert_books(gw)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_totals_mismatch_fails_the_batch_and_writes_nothing(gw: Gateway, channel: str) -> None:
    from gateway.store.reconciliation import recon_lines

    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    _, attempt = await payment(gw, m, channel, 1000)
    await inject(gw, channel, "drop", trade_no=attempt)
    await inject(gw, channel, "extra_payment", trade_no=new_id("att"), amount=5)
    await inject(gw, channel, "totals")
    report = await run(gw, account)
    assert (report["status"], report["error_code"]) == ("failed", "totals_mismatch")
    assert report["discrepancies"] == []
    assert await gw.count(recon_lines, recon_lines.c.batch_id == report["id"]) == 0


async def test_wechat_hash_mismatch_fails_the_batch(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "wechat")
    await payment(gw, m, "wechat", 1000)
    await inject(gw, "wechat", "hash")
    report = await run(gw, account)
    assert (report["status"], report["error_code"], report["discrepancies"]) == ("failed", "hash_mismatch", [])


async def test_wechat_bill_with_bom_reconciles(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "wechat")
    await payment(gw, m, "wechat", 1000)
    await inject(gw, "wechat", "bom")
    report = await run(gw, account)
    assert (report["status"], report["discrepancies"], report["matched"]) == ("done", [], 1)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_refund_amount_mismatch_and_refund_failed_here(gw: Gateway, channel: str) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, channel)
    p, attempt = await payment(gw, m, channel, 2000)
    done = (await refund(gw, m, p["id"], 500)).body
    await refund_status(gw, m, done["id"], "succeeded")
    await inject(gw, channel, "amount", refund_no=done["id"], amount=499)
    # A refund we hold as failed, which the channel's bill shows as done.
    failed_id = new_id("re")
    await inject(gw, channel, "extra_refund", trade_no=attempt, refund_no=failed_id, amount=300)
    from gateway.services.refunds import open_refund, settle_refund_failed

    async with gw.svc.db.begin() as conn:
        row = await open_refund(conn, m.id, p["id"], amount=300, out_refund_no="failed-one")
        await conn.execute(sa.update(refunds).where(refunds.c.id == row["id"]).values(id=failed_id))
        row["id"] = failed_id
        await settle_refund_failed(conn, row, "ABNORMAL", "the card was closed")
    report = await run(gw, account)
    assert kinds(report) == [("refund_amount_mismatch", "open"), ("refund_local_failed", "open")]
    by_type = {d["type"]: d for d in report["discrepancies"]}
    assert (by_type["refund_amount_mismatch"]["refund_id"], by_type["refund_amount_mismatch"]["channel"]["amount"],
            by_type["refund_amount_mismatch"]["local"]["amount"]) == (done["id"], 499, 500)
    assert (by_type["refund_local_failed"]["local"]["status"], by_type["refund_local_failed"]["channel"]["status"]) \
        == ("failed", "SUCCESS")
    await assert_books(gw)
