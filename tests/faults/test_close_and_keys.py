"""Close is idempotent at the channel, the Idempotency-Key layer keeps final answers only, and the refund
sync's first check follows GATEWAY_TASK_TIME_SCALE."""
from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store import refunds as refunds_repo
from tests.conftest import FAST
from tests.factories import Gateway, start_gateway, unique
from tests.support.paying import pay_as_shopper
from tests.support.waiting import wait_status


@pytest.mark.parametrize("channel", ["alipay_qr", "wechat_native"])
async def test_closing_a_trade_the_shopper_already_cancelled_is_closed(sqlite_gateway: Gateway, channel: str) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel=channel)
    # The cancel's callback is lost: the gateway still believes the trade is open.
    await gw.fault(channel.split("_")[0], {"callbacks": {"mode": "drop", "count": 100}})
    await pay_as_shopper(gw, p, action="cancel")
    key = {"Idempotency-Key": unique("close")}
    closed = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert closed.status == 200 and closed.body["status"] == "closed", closed.text
    again = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert again.status == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert (await gw.api(m, "POST", f"/payments/{p['id']}/close")).status == 409  # closed: nothing to close


async def test_closing_a_paid_trade_whose_callback_was_lost_ends_paid(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    await gw.fault("alipay", {"callbacks": {"mode": "drop", "count": 100}})
    await pay_as_shopper(gw, p)
    closed = await gw.api(m, "POST", f"/payments/{p['id']}/close")
    assert closed.status == 409 and closed.body.get("payment_status") == "paid", closed.text
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"


async def test_a_503_is_not_kept_the_retry_runs_again(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    await gw.fault("alipay", {"api": {"operation": "alipay.trade.close", "mode": "http500", "count": 1}})
    key = {"Idempotency-Key": unique("close")}
    first = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert first.status == 503 and first.body["code"] == "channel_unavailable", first.text
    retry = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert retry.status == 200 and retry.body["status"] == "closed", retry.text
    assert "Idempotent-Replayed" not in retry.headers


async def test_the_first_refund_sync_follows_the_time_scale(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, **FAST) as gw:
        m = await gw.merchant()
        p = await gw.create_payment(m, channel="alipay_qr")
        await gw.fault("alipay", {"api": {"operation": "alipay.trade.refund", "mode": "http500", "count": 1}})
        await pay_as_shopper(gw, p)
        await wait_status(gw, m, p["id"], "paid")
        refund = await gw.api(m, "POST", f"/payments/{p['id']}/refunds", json_body={"amount": 100,
                                                                                   "out_refund_no": unique("r")})
        assert refund.status == 201, refund.text
        async with gw.svc.db.read() as conn:
            row = await refunds_repo.get_refund(conn, refund.body["id"])
        assert row is not None
        if row["status"] == "pending":  # not already resolved by the sync
            assert (row["next_sync_at"] - row["created_at"]).total_seconds() < 1
        await wait_status(gw, m, p["id"], "partially_refunded")


async def test_a_retry_after_the_database_went_away_mid_request_gets_the_committed_result(
        sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refund row commits, then the database goes away: 503. The retry with the same key finds its
    own refund (not 409 duplicate): the answer is the committed result, nobody looks anything up."""
    from gateway.domain.errors import DatabaseUnavailable
    from gateway.services import refunds as refund_service

    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    await pay_as_shopper(gw, p)
    await wait_status(gw, m, p["id"], "paid")
    real_submit = refund_service.submit

    async def gone(*args: object, **kwargs: object) -> None:
        raise DatabaseUnavailable("gone")

    monkeypatch.setattr(refund_service, "submit", gone)
    key, body = {"Idempotency-Key": unique("refund")}, {"amount": 100, "out_refund_no": unique("r")}
    first = await gw.api(m, "POST", f"/payments/{p['id']}/refunds", json_body=body, headers=key)
    assert first.status == 503 and first.body["code"] == "database_unavailable", first.text
    monkeypatch.setattr(refund_service, "submit", real_submit)
    retry = await gw.api(m, "POST", f"/payments/{p['id']}/refunds", json_body=body, headers=key)
    assert retry.status == 201 and retry.body["out_refund_no"] == body["out_refund_no"], retry.text
    again = await gw.api(m, "POST", f"/payments/{p['id']}/refunds", json_body=body, headers=key)
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body["id"] == retry.body["id"]
    other = await gw.api(m, "POST", f"/payments/{p['id']}/refunds", json_body=body)  # no key: a plain duplicate
    assert other.status == 409 and other.body["code"] == "duplicate_out_refund_no"


async def test_a_create_retried_after_the_database_went_away_opens_its_trade(
        sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.domain.errors import DatabaseUnavailable
    from gateway.services import payments as payment_service

    gw = sqlite_gateway
    m = await gw.merchant()
    real_open = payment_service.open_attempt

    async def gone(*args: object, **kwargs: object) -> None:
        raise DatabaseUnavailable("gone")

    monkeypatch.setattr(payment_service, "open_attempt", gone)
    key = {"Idempotency-Key": unique("create")}
    body = {"amount": 100, "subject": "s", "channel": "alipay_qr", "out_trade_no": unique()}
    first = await gw.api(m, "POST", "/payments", json_body=body, headers=key)
    assert first.status == 503, first.text
    monkeypatch.setattr(payment_service, "open_attempt", real_open)
    retry = await gw.api(m, "POST", "/payments", json_body=body, headers=key)
    assert retry.status == 201 and retry.body["next_action"] and retry.body["out_trade_no"] == body["out_trade_no"]


async def _create_losing_its_pay_data(gw: Gateway, m: object, body: dict[str, object],
                                     monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """POST /payments whose channel trade opens but whose pay data is not kept (the database goes away
    right after the channel answered): 503; then the retry with the same key."""
    from gateway.domain.errors import DatabaseUnavailable
    from gateway.store import payments as payments_repo

    real = payments_repo.set_pay_data

    async def gone(*args: object, **kwargs: object) -> None:
        raise DatabaseUnavailable("gone")

    monkeypatch.setattr(payments_repo, "set_pay_data", gone)
    key = {"Idempotency-Key": unique("create")}
    first = await gw.api(m, "POST", "/payments", json_body=body, headers=key)  # type: ignore[arg-type]
    assert first.status == 503, first.text
    monkeypatch.setattr(payments_repo, "set_pay_data", real)
    retry = await gw.api(m, "POST", "/payments", json_body=body, headers=key)  # type: ignore[arg-type]
    assert retry.status == 201 and retry.body["out_trade_no"] == body["out_trade_no"], retry.text
    return dict(retry.body)


@pytest.mark.parametrize("channel", ["alipay_qr", "wechat_native"])
async def test_a_create_whose_pay_data_was_lost_answers_with_a_pay_action_on_retry(
        sqlite_gateway: Gateway, channel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    body = {"amount": 100, "subject": "s", "channel": channel, "out_trade_no": unique()}
    payment = await _create_losing_its_pay_data(gw, m, body, monkeypatch)
    assert payment["status"] == "pending" and payment["next_action"], payment
    await pay_as_shopper(gw, payment)  # the action answered is one the shopper can pay
    await wait_status(gw, m, str(payment["id"]), "paid")


async def test_a_balance_payment_whose_answer_was_lost_is_debited_once(
        sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored-value channel debits within its create: the retry records that debit, not a second."""
    from tests.wallets.conftest import adjust, enable_stored_value, wallet

    gw = sqlite_gateway
    m = await gw.merchant()
    await enable_stored_value(gw, m)
    customer = unique("c")
    await adjust(gw, m, customer, cash=1000)
    body = {"amount": 400, "subject": "Tea", "channel": "balance", "customer_id": customer, "out_trade_no": unique()}
    payment = await _create_losing_its_pay_data(gw, m, body, monkeypatch)
    assert payment["status"] == "paid", payment
    assert (await wallet(gw, m, customer))["cash"] == 600

    body = {**body, "out_trade_no": unique(), "capture": False}  # a reservation is made once, too
    payment = await _create_losing_its_pay_data(gw, m, body, monkeypatch)
    assert payment["status"] == "pending" and payment["capture_method"] == "manual", payment
    w = await wallet(gw, m, customer)
    assert (w["cash"], w["held"]) == (200, 400), w
    captured = await gw.api(m, "POST", f"/payments/{payment['id']}/capture")
    assert captured.status == 200 and captured.body["status"] == "paid", captured.text


async def test_a_close_retried_after_the_database_went_away_answers_closed(
        sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.cache.status import StatusBus
    from gateway.domain.errors import DatabaseUnavailable

    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    real_changed = StatusBus.changed

    async def gone(*args: object, **kwargs: object) -> None:  # right after the close's commit
        raise DatabaseUnavailable("gone")

    monkeypatch.setattr(StatusBus, "changed", gone)
    key = {"Idempotency-Key": unique("close")}
    first = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert first.status == 503, first.text
    monkeypatch.setattr(StatusBus, "changed", real_changed)
    retry = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert retry.status == 200 and retry.body["status"] == "closed", retry.text


def test_alipay_reads_a_refused_close_with_the_trade_state() -> None:
    from gateway.channels.alipay import transformers as tx
    from gateway.channels.base import CloseResult, TradeState
    from gateway.domain.outcomes import Outcome

    refused = tx.close_result({"code": "40004", "sub_code": "ACQ.TRADE_STATUS_ERROR", "sub_msg": "交易状态不合法"})
    assert refused.outcome is Outcome.FAIL
    assert tx.close_after_query(refused, TradeState(Outcome.FAIL)).outcome is Outcome.SUCCESS  # TRADE_CLOSED
    assert tx.close_after_query(refused, TradeState(Outcome.SUCCESS)).outcome is Outcome.FAIL  # paid
    assert tx.close_after_query(refused, TradeState(Outcome.UNKNOWN)).outcome is Outcome.UNKNOWN
    assert tx.close_result({"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST"}).outcome is Outcome.SUCCESS
    assert isinstance(refused, CloseResult)
