"""The stored-value channel through the channel protocol itself: every call idempotent by its reference,
close and query telling paid from unpaid, no callbacks -- and the ledger checker catching a wallet that
no longer equals its entries."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.channels.base import CreateRequest, RawCallback, RefundRequest, TradeRef, VerificationError
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.store import merchants as merchants_repo
from gateway.store.ledger_check import check_database
from gateway.store.tables import wallet_movements, wallets
from tests.factories import Gateway, Merchant, unique
from tests.wallets.conftest import STORED_VALUE, adjust, books_balance, wallet


async def _channel(gw: Gateway, m: Merchant):  # type: ignore[no-untyped-def]
    async with gw.svc.db.read() as conn:
        account = next(a for a in await merchants_repo.accounts_of(conn, m.id) if a["channel"] == STORED_VALUE)
    return gw.svc.pool.get(account)


async def test_every_call_is_idempotent_by_its_reference(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=1000)
    paid = await gateway.api(shop, "POST", "/payments", json_body={
        "amount": 400, "subject": "Tea", "out_trade_no": unique("o"), "channel": "balance", "customer_id": customer})
    assert paid.body["status"] == "paid"
    trade = (await gateway.attempts(paid.body["id"]))[-1]["id"]
    channel = await _channel(gateway, shop)

    state = await channel.query(TradeRef(trade))
    assert state.outcome == Outcome.SUCCESS and state.amount == Money(400)
    assert (await channel.close(trade)).outcome == Outcome.FAIL  # paid: it cannot be closed
    # the same create again: the first debit stands
    again = await channel.create(CreateRequest(trade_no=trade, pay_method="balance", amount=Money(400), subject="Tea",
                                               expires_at=state.paid_at, notify_url="-", payer_id=customer))  # type: ignore[arg-type]
    assert again.outcome == Outcome.SUCCESS and again.state is not None
    assert again.state.channel_trade_no == state.channel_trade_no
    assert (await wallet(gateway, shop, customer))["cash"] == 600

    request = RefundRequest(refund_no=unique("re"), trade_no=trade, amount=Money(150), total=Money(400))
    assert (await channel.query_refund(request)).not_found
    first, second = await channel.refund(request), await channel.refund(request)
    assert first.outcome == second.outcome == Outcome.SUCCESS and first.channel_refund_no == second.channel_refund_no
    assert (await channel.query_refund(request)).outcome == Outcome.SUCCESS
    assert (await wallet(gateway, shop, customer))["cash"] == 750
    too_much = RefundRequest(refund_no=unique("re"), trade_no=trade, amount=Money(251), total=Money(400))
    assert (await channel.refund(too_much)).outcome == Outcome.CHANNEL_ERROR

    assert (await channel.query("att_never")).outcome == Outcome.WAITING
    assert (await channel.close("att_never")).outcome == Outcome.SUCCESS
    with pytest.raises(VerificationError):
        await channel.parse_callback(RawCallback(b"{}", {}, "application/json"))
    assert await channel.bill(state.paid_at.date()) == []  # type: ignore[union-attr]


async def test_the_checker_catches_a_wallet_that_left_its_entries(sqlite_gateway: Gateway) -> None:
    from tests.wallets.conftest import enable_stored_value

    gw = sqlite_gateway
    m = await gw.merchant()
    await enable_stored_value(gw, m)
    customer = unique("c")
    await adjust(gw, m, customer, cash=500, points=7)
    await books_balance(gw)
    async with gw.svc.db.begin() as conn:
        await conn.execute(sa.update(wallets).where(wallets.c.customer_id == customer).values(cash=wallets.c.cash + 1))
        await conn.execute(sa.update(wallet_movements).values(points=wallet_movements.c.points + 1))
    try:
        checks = {v.check for v in (await check_database(gw.svc.db)).violations}
        assert {"wallet_balance", "wallet_movements_sum", "wallet_entry"} <= checks, checks
    finally:
        async with gw.svc.db.begin() as conn:
            await conn.execute(sa.update(wallets).where(wallets.c.customer_id == customer).values(cash=wallets.c.cash - 1))
            await conn.execute(sa.update(wallet_movements).values(points=wallet_movements.c.points - 1))
    await books_balance(gw)
