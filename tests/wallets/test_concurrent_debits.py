"""1,000 concurrent debits against one wallet never overdraw it, and the books balance after: once at
the movement primitive (a conditional UPDATE, its movement row and ledger entry per debit), once through
the whole stored-value channel (payment, attempt, debit, settlement per payment). Prints debits/s."""
from __future__ import annotations

import asyncio
import time

from gateway.domain.errors import InsufficientBalance
from gateway.domain.wallet import Parts
from gateway.services.payments import NewPayment, create_payment
from gateway.store import merchants as merchants_repo
from gateway.store import wallets as store
from gateway.store.base import Row
from tests.factories import Gateway, Merchant, unique
from tests.wallets.conftest import adjust, books_balance, wallet

DEBITS = 1000
PAYMENTS = 500  # each a payment, an attempt, a debit and a settlement: half as many keep CI quick


async def test_a_thousand_concurrent_debits_never_overdraw(gateway: Gateway, shop: Merchant, backend: str) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=60_000, bonus=5)  # covers 600 debits of 100, and 5 fen over
    db = gateway.svc.db
    async with db.read() as conn:
        w = await store.get_wallet(conn, shop.id, customer)
    assert w is not None

    async def debit(i: int) -> bool:
        async with db.begin() as conn:
            return await store.move(conn, w, ref=f"bench-{w['id']}-{i}:debit", kind="debit",
                                    delta=Parts(cash=-100), counters={"cash": f"channel:bench-{shop.id}"}) is not None

    started = time.perf_counter()
    results = await asyncio.gather(*(debit(i) for i in range(DEBITS)))
    elapsed = time.perf_counter() - started
    print(f"\n[{backend}] {DEBITS} concurrent debits of one wallet: {sum(results)} applied, "
          f"{DEBITS - sum(results)} refused, {DEBITS / elapsed:.0f} debits/s")
    assert sum(results) == 600
    after = await wallet(gateway, shop, customer)
    assert (after["cash"], after["bonus"]) == (0, 5)
    await books_balance(gateway)


async def test_concurrent_payments_from_balance_never_overdraw(gateway: Gateway, shop: Merchant, backend: str) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=30_000, bonus=1_000)  # covers 310 payments of 100
    svc = gateway.svc
    async with svc.db.read() as conn:
        merchant: Row | None = await merchants_repo.get_merchant(conn, shop.id)
    assert merchant is not None

    async def pay() -> str:
        try:
            view = await create_payment(svc, merchant, NewPayment(
                amount=100, currency="CNY", subject="Tea", out_trade_no=unique("cc"), channel="balance",
                payer_id=customer))
        except InsufficientBalance:
            return "declined"
        return str(view["status"])

    started = time.perf_counter()
    results = await asyncio.gather(*(pay() for _ in range(PAYMENTS)))
    elapsed = time.perf_counter() - started
    print(f"\n[{backend}] {PAYMENTS} concurrent payments from one wallet: {results.count('paid')} paid, "
          f"{results.count('declined')} declined, {PAYMENTS / elapsed:.0f} payments/s")
    assert results.count("paid") == 310 and results.count("declined") == PAYMENTS - 310
    after = await wallet(gateway, shop, customer)
    assert (after["cash"], after["bonus"]) == (0, 0)
    await books_balance(gateway)
