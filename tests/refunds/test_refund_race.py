"""Many simultaneous refunds whose sum exceeds the paid amount, over many rounds, on every backend:
never an over-refund. Two levels: the whole API with both channels, and the store's reservation with
far more concurrency (plus succeed/fail settlements racing new reservations)."""
from __future__ import annotations

import asyncio
import random

import sqlalchemy as sa

from gateway.domain.money import Money
from gateway.services import settlement
from gateway.store import payments as payments_repo
from gateway.store import refunds as refunds_repo
from gateway.store.tables import payments, refunds
from tests.factories import Gateway, unique
from tests.refunds.helpers import assert_books_balance, paid_payment, refund
from tests.support.waiting import eventually

API_ROUNDS, API_CONCURRENCY = 6, 12
STORE_ROUNDS, STORE_CONCURRENCY = 25, 40


async def _reserved(gw: Gateway, payment_id: str) -> tuple[int, int, int, int]:
    """(amount, refundable, pending+succeeded refunds, succeeded refunds) from the database."""
    async with gw.svc.db.read() as conn:
        p = (await conn.execute(sa.select(payments).where(payments.c.id == payment_id))).mappings().one()
        rows = (await conn.execute(sa.select(refunds.c.status, refunds.c.amount)
                                   .where(refunds.c.payment_id == payment_id))).all()
    live = sum(a for s, a in rows if s in ("pending", "succeeded"))
    done = sum(a for s, a in rows if s == "succeeded")
    return p["amount"], p["refundable_amount"], live, done


async def test_simultaneous_api_refunds_never_over_refund(gateway: Gateway) -> None:
    rng = random.Random(5)
    m = await gateway.merchant()
    over_refunds = accepted_total = refused = 0
    for round_no in range(API_ROUNDS):
        method = "alipay_qr" if round_no % 2 == 0 else "wechat_native"
        p = await paid_payment(gateway, m, 1000, method)
        amounts = [rng.randint(50, 250) for _ in range(API_CONCURRENCY)]
        assert sum(amounts) > 1000
        answers = await asyncio.gather(*(refund(gateway, m, p["id"], a) for a in amounts))
        created = [a.body for a in answers if a.status == 201]
        for a in answers:
            assert a.status in (201, 409, 422), a.text
            if a.status == 422:
                assert a.body["code"] == "refund_exceeds_refundable" and a.body["refundable_amount"] >= 0
            if a.status == 409:  # fully reserved and refunded before this one arrived
                assert a.body["code"] == "invalid_state"
        refused += len(answers) - len(created)
        accepted_total += len(created)
        assert all(r["status"] in ("pending", "succeeded") for r in created)
        # WeChat settles by notification: wait until nothing is pending
        for r in created:
            await eventually(lambda r=r: gateway.api(m, "GET", f"/refunds/{r['id']}"),
                             lambda a: a.body["status"] != "pending")
        amount, refundable, live, done = await _reserved(gateway, p["id"])
        over_refunds += live > amount
        assert live == sum(r["amount"] for r in created) and refundable == amount - live
        final = (await gateway.api(m, "GET", f"/payments/{p['id']}")).body
        assert final["refunded_amount"] == done
        assert final["status"] == ("refunded" if done == amount else "partially_refunded")
    print(f"\nAPI race [{gateway.svc.db.dialect}]: {API_ROUNDS} rounds x {API_CONCURRENCY} concurrent refunds,"
          f" {accepted_total} accepted, {refused} refused, over-refunds: {over_refunds}")
    assert over_refunds == 0
    await assert_books_balance(gateway)


async def _paid_directly(gw: Gateway, m, amount: int) -> str:  # type: ignore[no-untyped-def]
    """A payment confirmed paid through settle_paid (the path every channel confirmation takes),
    without a shopper: the store race needs many, fast."""
    p = await gw.create_payment(m, amount=amount, channel="alipay_qr")
    async with gw.svc.db.begin() as conn:
        attempt = (await payments_repo.attempts_of(conn, p["id"]))[0]
        await settlement.settle_paid(conn, attempt, Money(amount), channel_trade_no=unique("t"), paid_at=None, base_url="")
    return p["id"]


async def test_simultaneous_reservations_and_settlements_never_over_refund(gateway: Gateway) -> None:
    """Reservations race each other and racing succeed/fail settlements (a failure gives its amount
    back, which a racing reservation may take): the total reserved never passes the paid amount."""
    rng = random.Random(55)
    m = await gateway.merchant()
    svc = gateway.svc
    over_refunds = accepted = 0

    async def reserve(payment_id: str, amount: int) -> str | None:
        try:
            async with svc.db.begin() as conn:
                row = await settlement.open_refund(conn, m.id, payment_id, amount=amount, out_refund_no=unique("rr"))
            return str(row["id"])
        except Exception as exc:  # only the two refusals are allowed
            assert getattr(exc, "code", None) in ("refund_exceeds_refundable", "invalid_state"), exc
            return None

    async def settle(refund_id: str, succeed: bool) -> None:
        async with svc.db.begin() as conn:
            row = await refunds_repo.get_refund(conn, refund_id)
            assert row is not None
            if succeed:
                await settlement.settle_refund_succeeded(conn, row, None, "")
            else:
                await settlement.settle_refund_failed(conn, row, "test", "failed by the race")

    for _ in range(STORE_ROUNDS):
        amount = rng.randint(100, 5000)
        payment_id = await _paid_directly(gateway, m, amount)
        first = await asyncio.gather(*(reserve(payment_id, rng.randint(1, amount // 4 + 1))
                                       for _ in range(STORE_CONCURRENCY)))
        ids = [i for i in first if i]
        # second wave: settle every first-wave refund (twice each, to race duplicates) while new
        # reservations compete for what failures give back
        jobs = [settle(i, rng.random() < 0.6) for i in ids for _ in range(2)]
        jobs += [reserve(payment_id, rng.randint(1, amount // 3 + 1)) for _ in range(STORE_CONCURRENCY // 2)]
        rng.shuffle(jobs)
        second = await asyncio.gather(*jobs)
        accepted += len(ids) + sum(1 for r in second if isinstance(r, str))
        total, refundable, live, _ = await _reserved(gateway, payment_id)
        over_refunds += live > total
        assert refundable == total - live
        # settle what is left: no channel knows these refunds, so a sync task must find none pending
        async with svc.db.read() as conn:
            left = [r["id"] for r in await refunds_repo.refunds_of(conn, payment_id) if r["status"] == "pending"]
        await asyncio.gather(*(settle(i, True) for i in left))
    print(f"\nstore race [{svc.db.dialect}]: {STORE_ROUNDS} rounds x {STORE_CONCURRENCY} concurrent reservations"
          f" (+{STORE_CONCURRENCY // 2} during settlement), {accepted} accepted, over-refunds: {over_refunds}")
    assert over_refunds == 0
    await assert_books_balance(gateway)


async def test_refunds_completing_a_payment_together_make_it_refunded(gateway: Gateway) -> None:
    """Two refunds that together complete the amount, settled at the same moment: whichever commits last
    must see the other and make the payment ``refunded`` (a decision from a stale read left it
    ``partially_refunded`` with everything refunded)."""
    m = await gateway.merchant()
    svc = gateway.svc
    for _ in range(15):
        payment_id = await _paid_directly(gateway, m, 1000)
        ids = []
        for part in (400, 600):
            async with svc.db.begin() as conn:
                ids.append((await settlement.open_refund(conn, m.id, payment_id, amount=part,
                                                      out_refund_no=unique("rc")))["id"])

        async def settle(refund_id: str) -> None:
            async with svc.db.begin() as conn:
                row = await refunds_repo.get_refund(conn, refund_id)
                assert row is not None
                await settlement.settle_refund_succeeded(conn, row, None, "")

        await asyncio.gather(*(settle(i) for i in ids))
        async with svc.db.read() as conn:
            row = await payments_repo.get_payment(conn, payment_id)
        assert row is not None and (row["status"], row["refunded_amount"]) == ("refunded", 1000)
