"""Reconciliation reads UnionPay's ZM file: a consistent day (a consume and a refund on the file), a
payment the file lists that we missed (settled once), and "not ready" for a day whose file is not out."""
from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.store.ledger_check import check_database
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, drop_callbacks, kinds, payment, run
from tests.refunds.helpers import refund, refund_status


async def test_consistent_day(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "unionpay")
    p, _ = await payment(gw, m, "unionpay", 1000)
    r = (await refund(gw, m, p["id"], 300)).body
    await refund_status(gw, m, r["id"], "succeeded")
    report = await run(gw, account)
    assert report["status"] == "done" and report["discrepancies"] == [], report
    assert report["matched"] == 2 and report["foreign"] == 0
    bill = report["totals"]["bill"]
    assert (bill["pay_count"], bill["pay_amount"], bill["refund_count"], bill["refund_amount"]) == (1, 1000, 1, 300)
    assert (await check_database(gw.svc.db)).ok


async def test_a_payment_only_the_file_knows_is_settled_once(gw: Gateway) -> None:
    m = await gw.merchant()
    account = await account_of(gw, m, "unionpay")
    await drop_callbacks(gw, "unionpay")
    p, _ = await payment(gw, m, "unionpay", 700, callback=False)
    report = await run(gw, account)
    assert report["status"] == "done" and kinds(report) == [("paid_local_pending", "auto_resolved")], report
    assert (await gw.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "paid"
    assert (await check_database(gw.svc.db)).ok


async def test_tomorrow_is_not_ready(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.services.reconciliation.days import today

    m = await gw.merchant()
    account = await account_of(gw, m, "unionpay")
    monkeypatch.setenv("GATEWAY_SANDBOX_BILLS_IMMEDIATE", "0")
    report = await run(gw, account, today() + timedelta(days=1))
    assert report["status"] == "not_ready", report
