"""Payment use cases: create, read, open a channel attempt, query it, close -- the channel I/O. What the
channel confirms is applied through :mod:`gateway.services.settlement`."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Capturing, CreateRequest, TradeRef, TradeState
from gateway.domain.errors import (
    PAYER_DECLINES,
    ChannelDeclined,
    ChannelUnavailable,
    InvalidState,
    NotFound,
    PayMethodUnavailable,
)
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction
from gateway.domain.schedule import first_sync
from gateway.domain.states import AttemptStatus, PaymentStatus
from gateway.services import risk
from gateway.services.context import Services
from gateway.services.refunds import submit_automatic
from gateway.services.settlement import (
    Settled,
    SettleResult,
    settle_attempt_closed,
    settle_attempt_failed,
    settle_paid_with_policy,
    settle_payment_closed,
)
from gateway.services.views import payment_view
from gateway.store import merchants as merchants_repo
from gateway.store import payments as repo
from gateway.store.base import Row, dumps, utcnow

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class NewPayment:
    amount: int
    currency: str
    subject: str
    out_trade_no: str
    description: str | None = None
    channel: str | None = None
    return_url: str | None = None
    notify_url: str | None = None
    expires_in: int = 900
    metadata: dict[str, str] | None = None
    link_id: str | None = None
    capture: bool = True  # False: the channel only reserves the amount until capture_payment
    payer_id: str | None = None  # the payer's identity the fixed method needs (``PayMethodSpec.needs_payer``)
    customer_ip: str | None = None  # the shopper's IP as the merchant saw it (API); risk rules and the channel
    # Written in the payment's own insert transaction: what the payment is for (e.g. a wallet recharge).
    with_row: Callable[[AsyncConnection, Row], Awaitable[None]] | None = None


def _view(svc: Services, payment: Row, attempt: Row | None = None) -> dict[str, Any]:
    action = PayAction.loads(attempt["pay_data"]) if attempt and attempt["status"] == AttemptStatus.PENDING else None
    return payment_view(payment, base_url=svc.settings.public_url or "", next_action=action)


async def create_payment(svc: Services, merchant: Row, new: NewPayment, *,
                         client_ip: str | None = None) -> dict[str, Any]:
    """Insert the payment; with a fixed channel, also open its attempt and return the pay data.

    A channel that refuses or does not answer leaves the payment pending (the checkout page still works)
    and raises, naming the payment.
    """
    Money(new.amount, new.currency)
    if new.channel:  # refuse before writing anything
        _account_in(svc, await merchant_accounts(svc, merchant["id"]), new.channel)
    elif not await checkout_methods(svc, merchant["id"]):  # a checkout page that could only wait forever
        raise PayMethodUnavailable("The merchant has no pay method a shopper can use at the checkout",
                                   errors=[{"field": "pay_method", "message": "no usable pay method"}])
    client_ip = new.customer_ip or client_ip
    payment_id = new_id("pay")
    risk_record = await risk.check_create(svc, merchant_id=merchant["id"], payment_id=payment_id, amount=new.amount,
                                          currency=new.currency, pay_method=new.channel, ip=client_ip,
                                          payer=new.payer_id, expires_in=new.expires_in)
    now = utcnow()
    payment = {
        "id": payment_id, "merchant_id": merchant["id"], "out_trade_no": new.out_trade_no,
        "amount": new.amount, "currency": new.currency, "subject": new.subject,
        "description": new.description, "status": PaymentStatus.PENDING.value, "pay_method": new.channel,
        "return_url": new.return_url, "notify_url": new.notify_url,
        "metadata": dumps(new.metadata or {}), "link_id": new.link_id, "risk": risk_record,
        "capture_method": "automatic" if new.capture else "manual",
        "expires_at": now + timedelta(seconds=new.expires_in), "created_at": now, "updated_at": now,
    }
    try:
        async with svc.db.begin() as conn:
            await repo.insert_payment(conn, payment)
            if new.with_row is not None:
                await new.with_row(conn, payment)
    except IntegrityError as exc:
        async with svc.db.read() as conn:
            raise await repo.duplicate_out_trade_no(conn, exc, merchant["id"], new.out_trade_no) from None
    svc.metrics.payments_created.labels(new.channel or "none").inc()
    # The row as stored, without reading it back: the columns the insert left to their defaults.
    row = {**payment, "refundable_amount": 0, "refunded_amount": 0, "paid_attempt_id": None, "late": False,
           "channel_trade_no": None, "close_reason": None, "paid_at": None, "closed_at": None, "lease_until": None}
    await svc.status.remember(row["id"], row["status"])
    attempt = None
    if new.channel:
        attempt = await open_attempt(svc, row, new.channel, client_ip=client_ip, payer_id=new.payer_id)
        if attempt["status"] != AttemptStatus.PENDING:  # settled within the create (stored value)
            async with svc.db.read() as conn:
                row = dict(await repo.get_payment(conn, row["id"]) or row)
    return _view(svc, row, attempt)


async def get_payment(svc: Services, merchant_id: str, payment_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id, merchant_id)
        if payment is None:
            raise NotFound(f"No payment {payment_id}")
        # Pay data is shown only for a channel fixed through the API, while pending.
        attempts = await repo.attempts_of(conn, payment_id) \
            if payment["pay_method"] and payment["status"] == PaymentStatus.PENDING else []
    return _view(svc, payment, attempts[-1] if attempts else None)


async def resume_create(svc: Services, merchant_id: str, payment_id: str, *,
                        client_ip: str | None = None) -> dict[str, Any]:
    """A create whose payment was committed but whose answer was lost (the database went away before
    the channel's trade was opened, or before its pay data was kept): the payment, with a pay action.

    An attempt left pending without its action is closed at its channel (one the channel reports paid
    is recorded as paid instead) and a new attempt is opened, as the checkout does -- unless its method
    needs the payer's identity (a scanned code, a wallet's customer), which is not kept: then the
    channel is asked about that trade (a stored-value debit or a code charged meanwhile is recorded,
    never repeated) and the payment is answered as it stands."""
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id, merchant_id)
        if payment is None:
            raise NotFound(f"No payment {payment_id}")
        attempts = await repo.attempts_of(conn, payment_id)
    pay_method = payment["pay_method"]
    if not pay_method or payment["status"] != PaymentStatus.PENDING:
        return await get_payment(svc, merchant_id, payment_id)
    latest = attempts[-1] if attempts else None
    if latest is not None and latest["status"] == AttemptStatus.PENDING and PayAction.loads(latest["pay_data"]) is None:
        if svc.registry.spec(pay_method).needs_payer:
            # The payer's identity (a scanned code, a customer, an openid) is not kept: this trade is the
            # only one the create could make. What the channel says of it now is the answer.
            await apply_trade_state(svc, latest)
            return await get_payment(svc, merchant_id, payment_id)
        await close_attempts_at_channel(svc, payment_id)
        async with svc.db.read() as conn:
            payment = await repo.get_payment(conn, payment_id, merchant_id)
        if payment is None or payment["status"] != PaymentStatus.PENDING:
            return await get_payment(svc, merchant_id, payment_id)
        latest = None
    if latest is None:
        return _view(svc, payment, await open_attempt(svc, payment, pay_method, client_ip=client_ip))
    return await get_payment(svc, merchant_id, payment_id)


async def merchant_accounts(svc: Services, merchant_id: str) -> list[Row]:
    """The merchant's active channel accounts as this process read them at most :data:`FRESH_FOR` seconds
    ago: what it offers, not how it is paid (:func:`open_attempt` reads the account it uses)."""
    accounts = svc.accounts.get(merchant_id)
    if accounts is None:
        async with svc.db.read() as conn:
            accounts = await merchants_repo.accounts_of(conn, merchant_id)
        svc.accounts.keep(merchant_id, accounts)
    return accounts


def _account_in(svc: Services, accounts: list[Row], pay_method: str) -> Row:
    channel = svc.registry.for_method(pay_method).name
    for account in accounts:
        if account["channel"] == channel and pay_method in account["pay_methods"]:
            return account
    raise PayMethodUnavailable(f"Pay method {pay_method} is not enabled for this merchant",
                               errors=[{"field": "pay_method", "message": "not enabled"}])


async def enabled_methods(svc: Services, merchant_id: str) -> list[str]:
    known = svc.registry.knows
    return sorted({m for a in await merchant_accounts(svc, merchant_id) for m in a["pay_methods"] if known(m)})


async def checkout_methods(svc: Services, merchant_id: str) -> list[str]:
    """The merchant's enabled methods some shopper's browser can complete at the checkout."""
    return [m for m in await enabled_methods(svc, merchant_id) if svc.registry.spec(m).browsers]


async def open_attempt(svc: Services, payment: Row, pay_method: str, *, client_ip: str | None = None,
                       payer_id: str | None = None) -> Row:
    """Open a trade at the channel for this payment: a new attempt row, then the channel call.

    The row is written first, so a crash or a timeout during the call leaves an attempt that the sync
    task queries and, at expiry, closes at the channel -- never an untracked trade.
    """
    async with svc.db.read() as conn:
        accounts = await merchants_repo.accounts_of(conn, payment["merchant_id"])
    account = _account_in(svc, accounts, pay_method)
    now = utcnow()
    if payment["status"] != PaymentStatus.PENDING or payment["expires_at"] <= now:
        raise InvalidState(f"Payment {payment['id']} is {payment['status']} and cannot be paid")
    attempt = {
        "id": new_id("att"), "payment_id": payment["id"], "merchant_id": payment["merchant_id"],
        "account_id": account["id"], "channel": account["channel"], "pay_method": pay_method,
        "amount": payment["amount"], "currency": payment["currency"],
        "status": AttemptStatus.PENDING.value, "pay_data": "{}",
        "next_sync_at": first_sync(now, svc.settings.task_time_scale, svc.registry.spec(pay_method).query_at),
        "created_at": now, "updated_at": now,
    }
    async with svc.db.begin() as conn:
        await repo.insert_attempt(conn, attempt)
    channel = svc.pool.get(account)
    result = await channel.create(CreateRequest(
        trade_no=attempt["id"], pay_method=pay_method, amount=Money(payment["amount"], payment["currency"]),
        subject=payment["subject"], description=payment["description"], expires_at=payment["expires_at"],
        notify_url=svc.notify_url(account["channel"]), return_url=svc.url(f"/pay/{payment['id']}/return"),
        quit_url=svc.url(f"/pay/{payment['id']}"), client_ip=client_ip, payer_id=payer_id,
        capture=payment.get("capture_method") != "manual"))
    if result.outcome == Outcome.SUCCESS:
        assert result.action is not None
        attempt["pay_data"] = dumps(result.action.to_json())
        async with svc.db.begin() as conn:
            await repo.set_pay_data(conn, attempt["id"], attempt["pay_data"])
        if result.state is not None:  # paid within the create (stored value): settle it now
            return await _settle_now(svc, attempt["id"], result.state)
        return attempt
    if result.outcome == Outcome.CHANNEL_ERROR:
        async with svc.db.begin() as conn:
            await settle_attempt_failed(conn, attempt)
        if (declined := PAYER_DECLINES.get(result.error_code or "")) is not None:
            raise declined(result.error_message or declined.title, payment_id=payment["id"])
        raise ChannelDeclined(f"{account['channel']} refused the order: {result.error_code} {result.error_message}",
                              payment_id=payment["id"], channel_code=result.error_code)
    log.warning("channel %s gave no answer creating %s: %s", account["channel"], attempt["id"],
                result.error_message)
    raise ChannelUnavailable(f"{account['channel']} did not answer; the order is being checked",
                             payment_id=payment["id"])


async def capture_payment(svc: Services, merchant_id: str, payment_id: str) -> dict[str, Any]:
    """Take what a manual payment reserved: the channel captures its open attempt and the payment
    becomes paid through the settlement (events, ledger) -- or the channel's refusal is the answer."""
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id, merchant_id)
        if payment is None:
            raise NotFound(f"No payment {payment_id}")
        attempts = await repo.attempts_of(conn, payment_id)
    if payment["capture_method"] != "manual":
        raise InvalidState(f"Payment {payment_id} was captured when it was paid (capture_method automatic)")
    if payment["status"] != PaymentStatus.PENDING:
        if payment["paid_attempt_id"] is not None:  # captured before: the same answer
            return await get_payment(svc, merchant_id, payment_id)
        raise InvalidState(f"Payment {payment_id} is {payment['status']}; nothing is reserved to capture",
                           payment_status=payment["status"])
    held = [a for a in attempts if a["status"] == AttemptStatus.PENDING]
    if not held:
        raise InvalidState(f"Payment {payment_id} has nothing reserved to capture")
    attempt = held[-1]
    async with svc.db.read() as conn:
        account = await merchants_repo.get_account(conn, attempt["account_id"])
    assert account is not None
    channel = svc.pool.get(account)
    if not isinstance(channel, Capturing):
        raise InvalidState(f"{account['channel']} cannot capture")
    result = await channel.capture(_trade_ref(attempt))
    if result.outcome == Outcome.SUCCESS and result.state is not None:
        await _settle_now(svc, attempt["id"], result.state)
        return await get_payment(svc, merchant_id, payment_id)
    if (declined := PAYER_DECLINES.get(result.error_code or "")) is not None:
        raise declined(result.error_message or declined.title, payment_id=payment_id)
    if result.error_code == "authorization_ended":
        raise InvalidState(f"The reservation of payment {payment_id} ended (released or expired)")
    raise ChannelUnavailable(f"{account['channel']} did not capture: {result.error_code} {result.error_message}",
                             payment_id=payment_id)


async def _settle_now(svc: Services, attempt_id: str, state: TradeState) -> Row:
    async with svc.db.begin() as conn:
        attempt = await repo.get_attempt(conn, attempt_id)
        assert attempt is not None
        if state.outcome == Outcome.SUCCESS and state.amount is not None:
            result = await settle_paid_with_policy(svc, conn, attempt, state.amount,
                                                   channel_trade_no=state.channel_trade_no, paid_at=state.paid_at)
        else:
            result = SettleResult(Settled.UNCHANGED, attempt["payment_id"])
        fresh = await repo.get_attempt(conn, attempt_id)
    await after_settle(svc, result)
    assert fresh is not None
    return fresh


def _trade_ref(attempt: Row) -> TradeRef:
    return TradeRef(attempt["id"], attempt["created_at"], attempt.get("channel_trade_no"), attempt.get("pay_method"))


async def apply_trade_state(svc: Services, attempt: Row) -> SettleResult:
    """Ask the channel about an attempt and apply a confirmed answer through the settlement. Used by
    close, sync, expiry and the checkout's return."""
    async with svc.db.read() as conn:
        account = await merchants_repo.get_account(conn, attempt["account_id"])
    assert account is not None
    state = await svc.pool.get(account).query(_trade_ref(attempt))
    async with svc.db.begin() as conn:
        fresh = await repo.get_attempt(conn, attempt["id"])
        assert fresh is not None
        if state.outcome == Outcome.SUCCESS and state.amount is not None:
            result = await settle_paid_with_policy(svc, conn, fresh, state.amount,
                                                   channel_trade_no=state.channel_trade_no, paid_at=state.paid_at)
        elif state.outcome == Outcome.FAIL:
            result = await settle_attempt_closed(conn, fresh)
        else:
            result = SettleResult(Settled.UNCHANGED, attempt["payment_id"])
    await after_settle(svc, result)
    return result


async def after_settle(svc: Services, result: SettleResult) -> None:
    """After the settlement's commit: publish the status change, and send an automatic refund."""
    if result.status_changed and result.payment_id and result.status:
        await svc.status.changed(result.payment_id, result.status)
        if result.outcome == Settled.PAID:
            await risk.after_paid(svc, result.payment_id)  # feeds the payer's and the IP's history
    if result.outcome == Settled.MISMATCH:
        log.error("channel amount mismatch on payment %s: nothing changed", result.payment_id)
    if result.refund_id:  # double or late payment: its refund row is committed, send it now
        await submit_automatic(svc, result.refund_id)


async def close_attempts_at_channel(svc: Services, payment_id: str, *, keep: str | None = None) -> bool:
    """Close every pending attempt of a payment at its channel (except ``keep``). Returns True when all
    are closed. An attempt the channel reports paid is settled as paid instead."""
    async with svc.db.read() as conn:
        pending = [a for a in await repo.attempts_of(conn, payment_id)
                   if a["status"] == AttemptStatus.PENDING and a["id"] != keep]
    all_closed = True
    for attempt in pending:
        async with svc.db.read() as conn:
            account = await merchants_repo.get_account(conn, attempt["account_id"])
        assert account is not None
        closed = await svc.pool.get(account).close(_trade_ref(attempt))
        if closed.outcome == Outcome.SUCCESS:
            async with svc.db.begin() as conn:
                await settle_attempt_closed(conn, attempt)
        elif closed.outcome == Outcome.FAIL:  # not closable: paid (record it) -- or closed after all
            result = await apply_trade_state(svc, attempt)
            if result.outcome != Settled.CLOSED and not await _attempt_closed(svc, attempt["id"]):
                all_closed = False
        else:
            all_closed = False
    return all_closed


async def _attempt_closed(svc: Services, attempt_id: str) -> bool:
    async with svc.db.read() as conn:
        fresh = await repo.get_attempt(conn, attempt_id)
    return fresh is not None and fresh["status"] in (AttemptStatus.CLOSED, AttemptStatus.FAILED)


async def close_payment(svc: Services, payment: Row, *, reason: str = "merchant") -> Row:
    """Close at the channel first, then locally. A payment the channel reports paid becomes paid."""
    if payment["status"] != PaymentStatus.PENDING:
        raise InvalidState(f"Payment {payment['id']} is {payment['status']}; only a pending payment closes")
    if not await close_attempts_at_channel(svc, payment["id"]):
        async with svc.db.read() as conn:
            fresh = await repo.get_payment(conn, payment["id"])
        assert fresh is not None
        if fresh["status"] != PaymentStatus.PENDING:
            raise InvalidState(f"Payment {payment['id']} was paid before it could be closed", payment_status=fresh["status"])
        raise ChannelUnavailable("The channel did not confirm the close; try again", payment_id=payment["id"])
    async with svc.db.begin() as conn:
        applied = await settle_payment_closed(conn, payment["id"], reason=reason,
                                              base_url=svc.settings.public_url or "")
        fresh = await repo.get_payment(conn, payment["id"])
    assert fresh is not None
    if applied:
        svc.metrics.payments_closed.labels(fresh["pay_method"] or "none", reason).inc()
        await svc.status.changed(payment["id"], fresh["status"])
    elif fresh["status"] != PaymentStatus.CLOSED:
        raise InvalidState(f"Payment {payment['id']} is {fresh['status']}")
    return fresh


async def close_payment_for(svc: Services, merchant_id: str, payment_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id, merchant_id)
    if payment is None:
        raise NotFound(f"No payment {payment_id}")
    return _view(svc, await close_payment(svc, payment))
