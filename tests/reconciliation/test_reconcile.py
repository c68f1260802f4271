"""Reconciliation end to end against the sandboxes: each discrepancy class injected into a real bill and
reported exactly, remedies through the settlement applied once across re-runs, fees in the ledger."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.services.ledger_check import check_database
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
