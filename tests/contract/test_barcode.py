"""Barcode pay (付款码) through the merchant API, against each channel's sandbox over HTTP: the code's
prefix picks the channel; paid at once, paid after the shopper's password, declined, undone at the
deadline (Alipay cancel, WeChat reverse over mutual TLS), never charged twice.

The sandboxes' cues are the code's last digit: ``0`` password (paid ~3 s later, scaled), ``8`` the
shopper never finishes, ``9`` declined, anything else paid at once.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from gateway.channels.base import TradeRef
from gateway.domain.outcomes import Outcome
from tests.conftest import REDIS_URL
from tests.contract import steps
from tests.contract.drivers import DRIVERS
from tests.contract.drivers.base import ChannelDriver
from tests.factories import Gateway, Merchant, start_gateway, unique
from tests.support.waiting import wait_status


class BarcodeDriver(ChannelDriver, Protocol):
    barcode_method: str
    undone_state: str

    def payment_code(self, last: str) -> str: ...


BARCODE_DRIVERS = [d for d in DRIVERS if hasattr(d, "payment_code")]
# Background time runs 10x faster (the answer after 0.5 s, the deadline's expiry after 3 s), the
# sandboxes' 2x (the password takes 1.5 s): the API answers well before the password is typed, and the
# deadline comes well after it, even on a loaded machine.
TIMING = {"task_time_scale": 0.1, "task_interval": 0.02, "sandbox_time_scale": 0.5, "channel_timeout": 1.0}


@pytest.fixture(params=BARCODE_DRIVERS, ids=[d.name for d in BARCODE_DRIVERS])
def channel(request: pytest.FixtureRequest) -> BarcodeDriver:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def counter(database_url: str | None, tmp_path: Path, backend: str) -> AsyncIterator[Gateway]:
    """A gateway with the sandboxes mounted and the barcode timing above."""
    async with start_gateway(tmp_path, database_url=database_url,
                             redis_url=REDIS_URL if backend == "mysql" else None, **TIMING) as gw:
        yield gw


async def _scan(gw: Gateway, m: Merchant, code: str, *, method: str = "barcode", amount: int = 1234,
                out_trade_no: str | None = None, headers: dict[str, str] | None = None) -> Any:
    body = {"amount": amount, "subject": "Counter sale", "out_trade_no": out_trade_no or unique("pos"),
            "channel": method, "auth_code": code}
    return await gw.api(m, "POST", "/payments", json_body=body, headers=headers)


async def _sandbox_trade(gw: Gateway, channel: BarcodeDriver, trade_no: str) -> dict[str, Any]:
    async with gw.http.get(f"{gw.url}/sandbox/{channel.name}/_control/trades/{trade_no}") as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


def _state(view: dict[str, Any]) -> str:
    return str(view.get("trade_state") or view.get("trade_status"))


async def test_paid_at_once(counter: Gateway, channel: BarcodeDriver) -> None:
    m = await counter.merchant()
    answer = await _scan(counter, m, channel.payment_code("1"))
    assert answer.status == 201, answer.text
    assert (answer.body["status"], answer.body["channel"]) == ("paid", channel.barcode_method)
    assert answer.body["refundable_amount"] == 1234 and answer.body["paid_at"]
    (attempt,) = await counter.attempts(answer.body["id"])
    assert attempt["status"] == "succeeded" and attempt["channel_trade_no"]
    assert await steps.event_count(counter, answer.body["id"], "payment.succeeded") == 1
    await steps.assert_books_balance(counter)


async def test_channel_specific_method_takes_its_own_code(counter: Gateway, channel: BarcodeDriver) -> None:
    m = await counter.merchant()
    answer = await _scan(counter, m, channel.payment_code("2"), method=channel.barcode_method)
    assert answer.status == 201 and answer.body["status"] == "paid", answer.text


async def test_password_wait_then_paid(counter: Gateway, channel: BarcodeDriver) -> None:
    m = await counter.merchant()
    answer = await _scan(counter, m, channel.payment_code("0"))
    assert answer.status == 201, answer.text
    assert answer.body["status"] == "pending"  # the shopper is still typing the password
    assert answer.body["next_action"] == {"type": "confirm"}
    done = await wait_status(counter, m, answer.body["id"], "paid")
    assert done["status"] == "paid" and done["refundable_amount"] == 1234
    assert await steps.event_count(counter, answer.body["id"], "payment.succeeded") == 1
    await steps.assert_books_balance(counter)


async def test_declined(counter: Gateway, channel: BarcodeDriver) -> None:
    m = await counter.merchant()
    answer = await _scan(counter, m, channel.payment_code("9"))
    assert answer.status == 402, answer.text
    assert answer.body["code"] == "payment_declined"
    assert answer.body["channel_code"] in ("ACQ.BUYER_BALANCE_NOT_ENOUGH", "NOTENOUGH")
    payment = (await counter.api(m, "GET", f"/payments/{answer.body['payment_id']}")).body
    assert payment["status"] == "closed" and payment["refundable_amount"] == 0
    assert await steps.entries(counter, payment_id=payment["id"]) == []
    assert await steps.event_count(counter, payment["id"], "payment.closed") == 1


async def test_undone_at_the_deadline(counter: Gateway, channel: BarcodeDriver) -> None:
    m = await counter.merchant()
    answer = await _scan(counter, m, channel.payment_code("8"))  # the shopper never finishes
    assert answer.status == 201 and answer.body["status"] == "pending", answer.text
    closed = await wait_status(counter, m, answer.body["id"], "closed")
    assert closed["status"] == "closed"
    (attempt,) = await counter.attempts(answer.body["id"])
    assert attempt["status"] == "closed"
    # Undone at the channel by its own call (WeChat's reverse only answers over the client certificate).
    assert _state(await _sandbox_trade(counter, channel, attempt["id"])) == channel.undone_state
    state = await channel.open(counter).query(TradeRef(attempt["id"], pay_method=channel.barcode_method))
    assert state.outcome is Outcome.FAIL, state
    assert await steps.event_count(counter, answer.body["id"], "payment.closed") == 1
    assert await steps.entries(counter, payment_id=answer.body["id"]) == []


async def test_duplicate_submit_is_not_charged_twice(counter: Gateway, channel: BarcodeDriver) -> None:
    m = await counter.merchant()
    code, number = channel.payment_code("3"), unique("pos")
    first = await _scan(counter, m, code, out_trade_no=number)
    again = await _scan(counter, m, code, out_trade_no=number)
    assert (first.status, first.body["status"]) == (201, "paid"), first.text
    assert again.status == 409 and again.body["code"] == "duplicate_out_trade_no", again.text
    key = {"Idempotency-Key": unique("idem")}
    replay = [await _scan(counter, m, code, headers=key, out_trade_no="pos-" + key["Idempotency-Key"])
              for _ in range(2)]
    assert [r.status for r in replay] == [201, 201] and replay[0].body["id"] == replay[1].body["id"]
    for payment_id in (first.body["id"], replay[0].body["id"]):
        assert len(await counter.attempts(payment_id)) == 1  # one trade at the channel
        assert len(await steps.entries(counter, payment_id=payment_id)) == 1
    await steps.assert_books_balance(counter)


async def test_lost_answer_is_resent_with_the_same_number(counter: Gateway, channel: BarcodeDriver) -> None:
    """The channel charges the code but its answer is lost: the same order number goes again, and the
    channel's "already paid" is read with a query -- one charge, recorded as paid."""
    m = await counter.merchant()
    operation = "alipay.trade.pay" if channel.name == "alipay" else "micropay"
    await counter.fault(channel.name, {"api": [{"mode": "http500", "operation": operation, "after": True}]})
    answer = await _scan(counter, m, channel.payment_code("4"))
    assert answer.status == 201 and answer.body["status"] == "paid", answer.text
    (attempt,) = await counter.attempts(answer.body["id"])
    view = await _sandbox_trade(counter, channel, attempt["id"])
    assert _state(view) in ("TRADE_SUCCESS", "SUCCESS"), view
    assert len(await steps.entries(counter, payment_id=answer.body["id"])) == 1


@pytest.mark.parametrize(("code", "rule"), [
    ("6212345678901234567", "UnionPay: 19 digits starting 62"),
    ("9912345678901234567", "WeChat Pay: 18 digits starting 10–15"),
    ("13123", "Alipay: 16–24 digits starting 25–30"),
])
async def test_unknown_code_is_refused_naming_the_rule(counter: Gateway, code: str, rule: str) -> None:
    m = await counter.merchant()
    answer = await _scan(counter, m, code)
    assert answer.status == 422 and answer.body["code"] == "validation_error", answer.text
    assert rule in answer.text
    listed = await counter.api(m, "GET", "/payments")
    assert listed.body["data"] == []  # nothing was created


async def test_code_of_another_channel_is_refused(counter: Gateway) -> None:
    m = await counter.merchant()
    wechat_code = next(d for d in BARCODE_DRIVERS if d.name == "wechat").payment_code("1")
    answer = await _scan(counter, m, wechat_code, method="alipay_barcode")
    assert answer.status == 422 and "not an alipay_barcode code" in answer.text, answer.text


async def test_a_barcode_payment_refunds_like_any(counter: Gateway, channel: BarcodeDriver) -> None:
    m = await counter.merchant()
    answer = await _scan(counter, m, channel.payment_code("5"))
    assert answer.status == 201 and answer.body["status"] == "paid", answer.text
    await steps.refund(counter, m, answer.body["id"], 1234)
    assert (await steps.payment(counter, m, answer.body["id"]))["status"] == "refunded"
    await steps.assert_books_balance(counter)
