"""The merchant-scoped read API over reconciliation batches, in the documented shapes."""
from __future__ import annotations

from gateway.api.reconciliation import ReconBatch, ReconBatchList
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, inject, payment, run


async def test_batches_are_listed_and_shown_to_their_merchant_only(gw: Gateway) -> None:
    m = await gw.merchant()
    other = await gw.merchant(name="Other shop")
    account = await account_of(gw, m, "wechat")
    _, attempt = await payment(gw, m, "wechat", 1000)
    await inject(gw, "wechat", "amount", trade_no=attempt, amount=900)
    batch = await run(gw, account)
    listed = await gw.api(m, "GET", f"/reconciliation/batches?date={batch['bill_date']}")
    assert listed.status == 200
    page = ReconBatchList.model_validate(listed.body)
    assert [b.id for b in page.data] == [batch["id"]] and page.data[0].open == 1
    shown = await gw.api(m, "GET", f"/reconciliation/batches/{batch['id']}")
    detail = ReconBatch.model_validate(shown.body)
    assert detail.discrepancies and detail.discrepancies[0].type == "pay_amount_mismatch"
    assert (detail.discrepancies[0].channel.amount, detail.discrepancies[0].local.amount) == (900, 1000)
    assert (await gw.api(other, "GET", f"/reconciliation/batches/{batch['id']}")).status == 404
    assert (await gw.api(other, "GET", "/reconciliation/batches")).body["data"] == []
    assert (await gw.api(m, "GET", "/reconciliation/batches?status=nope")).status == 422
    async with gw.http.get(f"{gw.url}/api/v1/openapi.json") as r:
        doc = await r.json()
    assert "/reconciliation/batches/{id}" in doc["paths"]
