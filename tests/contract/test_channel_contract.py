"""The contract every channel keeps with the gateway, run against each channel's sandbox mounted in a
real gateway server: create for each pay method, pay, callback, duplicate and forged callbacks, query,
close, refund, refund notification, sync repair and the day's bill.

Channel-specific knowledge is asked of the channel's driver (``drivers/``); these tests never name a
channel.
"""
from __future__ import annotations

import asyncio

import pytest

from gateway.channels.base import TradeRef
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from tests.contract import steps
from tests.contract.drivers.base import DUPLICATE_CALLBACK, LOSE_CALLBACKS, ChannelDriver
from tests.factories import Gateway, unique
from tests.support.paying import next_action_of, pay_as_shopper, phone_page
from tests.support.waiting import eventually, wait_status

SETTLED = {"applied", "duplicate"}


async def test_create_for_each_pay_method(gateway: Gateway, driver: ChannelDriver, pay_method: str) -> None:
    m = await gateway.merchant()
    p = await steps.create(gateway, m, driver, pay_method, amount=2345)
    assert (p["status"], p["channel"], p["amount"]) == ("pending", pay_method, 2345)
    driver.check_next_action(pay_method, next_action_of(p))
    (attempt,) = await gateway.attempts(p["id"])
    assert (attempt["status"], attempt["pay_method"]) == ("pending", pay_method)
    state = await driver.open(gateway).query(attempt["id"])  # the trade exists at the channel, unpaid
    assert state.outcome is Outcome.WAITING, state


async def test_pay_for_each_pay_method(gateway: Gateway, driver: ChannelDriver, pay_method: str) -> None:
    m = await gateway.merchant()
    p = await steps.create(gateway, m, driver, pay_method, amount=2345)
    await pay_as_shopper(gateway, p)
    done = await wait_status(gateway, m, p["id"], "paid")
    assert done["status"] == "paid" and done["paid_at"] and done["refundable_amount"] == 2345
    assert next_action_of(done) == {}  # a pay action is shown only while pending
    (attempt,) = await gateway.attempts(p["id"])
    assert attempt["status"] == "succeeded"


async def test_callback_is_applied(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    p = await steps.paid(gateway, m, driver, amount=1500)
    trade = await steps.trade_no(gateway, p["id"])
    assert (await steps.notify_results(gateway, trade))[0] == "applied"
    (entry,) = await steps.entries(gateway, payment_id=p["id"])
    assert entry["kind"] and entry["refund_id"] is None
    assert await steps.event_count(gateway, p["id"], "payment.succeeded") == 1
    await steps.assert_books_balance(gateway)


async def test_duplicate_callback_is_applied_once(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    await driver.fault(gateway, DUPLICATE_CALLBACK)
    p = await steps.paid(gateway, m, driver)
    trade = await steps.trade_no(gateway, p["id"])
    results = await eventually(lambda: steps.notify_results(gateway, trade), lambda rs: len(rs) >= 2)
    assert results[0] == "applied" and set(results[1:]) == {"duplicate"}, results
    # and the same genuine callback, sent again by anyone, has no effect either
    body, headers = driver.payment_callback(gateway, trade, 1000)
    assert steps.acknowledged(gateway, driver, await steps.post_callback(gateway, driver, body, headers))
    assert (await steps.notify_results(gateway, trade))[-1] == "duplicate"
    assert len(await steps.entries(gateway, payment_id=p["id"])) == 1
    assert await steps.event_count(gateway, p["id"], "payment.succeeded") == 1


async def test_forged_callback_is_rejected_and_changes_nothing(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    p = await steps.create(gateway, m, driver, amount=1999)
    trade = await steps.trade_no(gateway, p["id"])
    body, headers = driver.payment_callback(gateway, trade, 1999, genuine=False)
    assert not steps.acknowledged(gateway, driver, await steps.post_callback(gateway, driver, body, headers))
    assert (await steps.payment(gateway, m, p["id"]))["status"] == "pending"
    assert await steps.entries(gateway, payment_id=p["id"]) == []
    assert await steps.event_count(gateway, p["id"], "payment.succeeded") == 0
    assert await steps.notify_results(gateway, trade) in ([], ["rejected"])
    # the genuine one, built the same way, is applied: the rejection was the signature's doing
    body, headers = driver.payment_callback(gateway, trade, 1999)
    assert steps.acknowledged(gateway, driver, await steps.post_callback(gateway, driver, body, headers))
    assert (await steps.payment(gateway, m, p["id"]))["status"] == "paid"
    assert (await steps.notify_results(gateway, trade))[-1] == "applied"


async def test_query(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    channel = driver.open(gateway)
    p = await steps.create(gateway, m, driver, amount=1234)
    trade = await steps.trade_no(gateway, p["id"])
    assert (await channel.query(trade)).outcome is Outcome.WAITING
    await pay_as_shopper(gateway, p)
    await wait_status(gateway, m, p["id"], "paid")
    state = await channel.query(trade)
    assert state.outcome is Outcome.SUCCESS and state.amount is not None and state.amount.minor == 1234
    assert state.channel_trade_no and state.paid_at


async def test_query_by_the_channels_trade_number(gateway: Gateway, driver: ChannelDriver) -> None:
    """Where our number is unknown (a bill line, the console), the channel's own number finds the trade."""
    if not driver.queries_by_channel_trade_no:
        pytest.skip(f"{driver.name} finds trades by our number only")
    m = await gateway.merchant()
    channel = driver.open(gateway)
    p = await steps.paid(gateway, m, driver, amount=4321)
    (attempt,) = await gateway.attempts(p["id"])
    known = await channel.query(attempt["id"])
    assert known.channel_trade_no and attempt["channel_trade_no"] == known.channel_trade_no
    state = await channel.query(TradeRef("", channel_trade_no=known.channel_trade_no))
    assert (state.outcome, state.channel_trade_no, state.amount) == (Outcome.SUCCESS, known.channel_trade_no,
                                                                     Money(4321)), state
    assert state.paid_at == known.paid_at
    missing = await channel.query(TradeRef("", channel_trade_no=known.channel_trade_no[:-4] + "0000"))
    assert missing.outcome is Outcome.FAIL and missing.error_code, missing
    assert (await channel.query(TradeRef(""))).outcome is Outcome.CHANNEL_ERROR  # no number at all


async def test_close(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    p = await steps.create(gateway, m, driver)
    trade = await steps.trade_no(gateway, p["id"])
    closed = await gateway.api(m, "POST", f"/payments/{p['id']}/close")
    assert closed.status == 200 and closed.body["status"] == "closed", closed.text
    again = await gateway.api(m, "POST", f"/payments/{p['id']}/close")  # closing twice changes nothing
    assert again.status in (200, 409) and (await steps.payment(gateway, m, p["id"]))["status"] == "closed"
    assert await steps.event_count(gateway, p["id"], "payment.closed") == 1
    # The shopper still tries to pay. Either the channel refuses (the trade was closed there first), or
    # -- a channel may be unable to close a trade nobody has opened yet -- the money is not kept: the
    # late payment is refunded in full (the default late-payment policy).
    page = phone_page(f"{gateway.url}/sandbox", p["channel"], p)
    async with gateway.http.get(page) as resp:
        offers_pay = resp.status == 200 and 'name="action"' in await resp.text()
    if offers_pay:
        async with gateway.http.post(page, data={"action": "pay"}, allow_redirects=False) as resp:
            await resp.read()
    await asyncio.sleep(0.3)
    if (await driver.open(gateway).query(trade)).outcome is Outcome.SUCCESS:
        late = await wait_status(gateway, m, p["id"], "refunded")
        assert (late["status"], late["late_payment"], late["refunded_amount"]) == ("refunded", True, p["amount"])
        await steps.assert_books_balance(gateway)
    else:
        assert (await steps.payment(gateway, m, p["id"]))["status"] == "closed"
        assert await steps.entries(gateway, payment_id=p["id"]) == []


async def test_refund(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    p = await steps.paid(gateway, m, driver, amount=2000)
    first = await steps.refund(gateway, m, p["id"], 500)
    after = await steps.payment(gateway, m, p["id"])
    assert (after["status"], after["refunded_amount"], after["refundable_amount"]) == ("partially_refunded", 500, 1500)
    assert len(await steps.entries(gateway, refund_id=first["id"])) == 1
    rest = await steps.refund(gateway, m, p["id"], 1500)
    after = await steps.payment(gateway, m, p["id"])
    assert (after["status"], after["refunded_amount"], after["refundable_amount"]) == ("refunded", 2000, 0)
    assert len(await steps.entries(gateway, refund_id=rest["id"])) == 1
    too_much = await gateway.api(m, "POST", f"/payments/{p['id']}/refunds",
                                 json_body={"amount": 1, "out_refund_no": "one-fen-too-many"})
    assert too_much.status >= 400
    await steps.assert_books_balance(gateway)


async def test_refund_notification(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    p = await steps.paid(gateway, m, driver, amount=800)
    trade = await steps.trade_no(gateway, p["id"])
    r = await steps.refund(gateway, m, p["id"], 300)
    # the payment's callback, then the refund's: settled by it, or already settled by the refund's answer
    results = await eventually(lambda: steps.notify_results(gateway, trade), lambda rs: len(rs) >= 2)
    assert len(results) >= 2 and set(results) <= SETTLED, results
    await asyncio.sleep(0.2)  # nothing more arrives that changes anything
    assert len(await steps.entries(gateway, refund_id=r["id"])) == 1
    assert await steps.event_count(gateway, r["id"], "refund.succeeded") == 1
    after = await steps.payment(gateway, m, p["id"])
    assert (after["refunded_amount"], after["refundable_amount"]) == (300, 500)
    await steps.assert_books_balance(gateway)


async def test_sync_repairs_a_lost_callback(fast_gateway: Gateway, driver: ChannelDriver) -> None:
    gw = fast_gateway
    m = await gw.merchant()
    await driver.fault(gw, LOSE_CALLBACKS)
    p = await steps.create(gw, m, driver)
    trade = await steps.trade_no(gw, p["id"])
    await pay_as_shopper(gw, p)
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"  # the active query found it
    assert "applied" not in await steps.notify_results(gw, trade)
    (attempt,) = await gw.attempts(p["id"])
    assert attempt["status"] == "succeeded"
    assert len(await steps.entries(gw, payment_id=p["id"])) == 1
    assert await steps.event_count(gw, p["id"], "payment.succeeded") == 1
    await steps.assert_books_balance(gw)


async def test_bill_for_the_day_lists_the_payment_and_the_refund(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    p = await steps.paid(gateway, m, driver, amount=1250)
    trade = await steps.trade_no(gateway, p["id"])
    r = await steps.refund(gateway, m, p["id"], 250)
    lines = [line for line in await driver.open(gateway).bill(driver.today()) if line.trade_no == trade]
    assert sorted((line.kind, line.amount.minor, line.refund_no) for line in lines) == [
        ("payment", 1250, None), ("refund", 250, r["id"])], lines
    assert all(line.channel_trade_no for line in lines)


async def test_cancel_on_the_page_leaves_the_payment_pending(gateway: Gateway, driver: ChannelDriver) -> None:
    m = await gateway.merchant()
    p = await steps.create(gateway, m, driver)
    await pay_as_shopper(gateway, p, "cancel")
    await asyncio.sleep(0.3)
    assert (await steps.payment(gateway, m, p["id"]))["status"] == "pending"
    assert await steps.entries(gateway, payment_id=p["id"]) == []


async def test_a_refund_the_channel_is_still_processing_settles_later(fast_gateway: Gateway,
                                                                    driver: ChannelDriver) -> None:
    """Refunds are final only a little after the channel accepted them (Alipay fund_change=N, WeChat
    PROCESSING): the refund stays pending, then the notify or the refund sync settles it -- a partial
    refund and the rest (which, on an Alipay QR trade, no notify announces)."""
    gw = fast_gateway
    await gw.refund_timing(driver.name, {"mode": "delayed", "seconds": 300})  # 0.3 s at the time scale
    m = await gw.merchant()
    p = await steps.paid(gw, m, driver, amount=2000)
    for amount in (500, 1500):
        answer = await gw.api(m, "POST", f"/payments/{p['id']}/refunds",
                              json_body={"amount": amount, "out_refund_no": unique("rf")})
        assert answer.status in (200, 201) and answer.body["status"] == "pending", answer.text
        done = await eventually(lambda a=answer: gw.api(m, "GET", f"/refunds/{a.body['id']}"),
                                lambda got: got.body["status"] == "succeeded", every=0.05)
        assert done.body["status"] == "succeeded", done.body
        assert len(await steps.entries(gw, refund_id=answer.body["id"])) == 1
    after = await steps.payment(gw, m, p["id"])
    assert (after["status"], after["refunded_amount"]) == ("refunded", 2000)
    await steps.assert_books_balance(gw)
