"""What the console can change, each through the same service function the merchant API, the CLI and
the background tasks use -- the console has no path of its own for money. This module is the console's
only caller of those services, so a change of their signatures is fixed here once.
"""
from __future__ import annotations

from typing import Any

from gateway.channels.base import CredentialCheck
from gateway.domain.errors import NotFound
from gateway.domain.states import AttemptStatus, RefundStatus
from gateway.services import api_keys, webhooks
from gateway.services import merchants as merchant_service
from gateway.services import payments as payment_service
from gateway.services import refunds as refund_service
from gateway.services.context import Services
from gateway.store import outbox
from gateway.store import payments as payments_repo
from gateway.store import refunds as refunds_repo
from gateway.store.base import Row


async def sync_payment(svc: Services, payment: Row) -> int:
    """Ask the channel now about every attempt and refund of the payment still in progress (what the
    sync task would do later). Returns how many were asked."""
    async with svc.db.read() as conn:
        tries = [a for a in await payments_repo.attempts_of(conn, payment["id"])
                 if a["status"] == AttemptStatus.PENDING]
        pending_refunds = [r for r in await refunds_repo.refunds_of(conn, payment["id"])
                           if r["status"] == RefundStatus.PENDING]
    for attempt in tries:
        await payment_service.apply_trade_state(svc, attempt)
    for refund in pending_refunds:
        await refund_service.sync(svc, refund["id"])
    return len(tries) + len(pending_refunds)


async def close_payment(svc: Services, payment: Row) -> Row:
    return await payment_service.close_payment(svc, payment, reason="operator")


async def refund(svc: Services, payment: Row, *, amount: int, out_refund_no: str, reason: str | None) -> dict[str, Any]:
    """A refund as the merchant's API would make it; ``out_refund_no`` comes from the form, so a double
    submit is refused as a duplicate instead of refunding twice."""
    return await refund_service.create_refund(svc, payment["merchant_id"], payment["id"], amount=amount,
                                              out_refund_no=out_refund_no, reason=reason)


async def resend_event(svc: Services, merchant_id: str, event_id: str) -> None:
    await webhooks.require_endpoint(svc, merchant_id, event_id)
    async with svc.db.begin() as conn:
        resent = await outbox.resend(conn, merchant_id, event_id)
    if not resent:
        raise NotFound(f"No event {event_id}")


async def rotate_webhook_secret(svc: Services, merchant_id: str) -> str:
    return str((await merchant_service.rotate_webhook_secret(svc.db, svc.settings, merchant_id))["webhook_secret"])


async def rotate_api_key(svc: Services, merchant_id: str, *, revoke: bool = False) -> str | None:
    """A new API key (shown once) replacing all the merchant's keys at once, or with ``revoke`` none at all:
    the old keys stop working at once in this process and within the authenticator's cache time (10 s) in
    the others."""
    if revoke:
        for key in await api_keys.list_keys(svc.db, merchant_id):
            if key["status"] == "active":
                await api_keys.revoke(svc.db, merchant_id, key["id"])
        svc.auth.forget_all()
        return None
    created = await api_keys.rotate(svc.db, svc.settings, merchant_id, revoke_old=True)
    svc.auth.forget_all()
    return str(created["api_key"])


async def revoke_api_key(svc: Services, merchant_id: str, key_id: str) -> None:
    """Stop one of the merchant's keys now."""
    await api_keys.revoke(svc.db, merchant_id, key_id)
    svc.auth.forget_all()


async def merchant_api_keys(svc: Services, merchant_id: str) -> list[dict[str, Any]]:
    """The merchant's keys as the console lists them: name, prefix, status, last use; never a secret."""
    return await api_keys.list_keys(svc.db, merchant_id)


async def sync_refund(svc: Services, refund_id: str) -> None:
    await refund_service.sync(svc, refund_id)


async def create_merchant(svc: Services, *, name: str, webhook_url: str | None,
                          return_domains: list[str]) -> dict[str, Any]:
    """A merchant without channel accounts (added on its page); its API key and webhook secret shown once."""
    return await merchant_service.create_merchant(svc.db, svc.settings, name=name, webhook_url=webhook_url,
                                                  return_domains=return_domains)


async def update_merchant(svc: Services, merchant_id: str, *, webhook_url: str | None,
                          return_domains: list[str]) -> None:
    try:
        await merchant_service.update_merchant(svc.db, merchant_id, webhook_url=webhook_url,
                                               clear_webhook=webhook_url is None, return_domains=return_domains)
    except LookupError:
        raise NotFound(f"No merchant {merchant_id}") from None
    finally:  # the checkout shows the change at once (other processes': within FRESH_FOR seconds)
        svc.merchants.forget(merchant_id)


# Credentials the channel refused (``.result`` is the :class:`CredentialCheck`): nothing was stored.
CredentialsRejected = merchant_service.CredentialsRejected


async def set_channel(svc: Services, merchant_id: str, channel: str, credentials: dict[str, Any]) -> str:
    """Replace (or add) the merchant's account at a channel; the keys are parsed and tried against the
    channel before they are stored (:class:`CredentialsRejected`)."""
    try:
        return await merchant_service.set_channel_account(svc.db, svc.settings, svc.registry, merchant_id,
                                                          channel, credentials)
    finally:  # what this process offers changes at once (other processes': within FRESH_FOR seconds)
        svc.accounts.forget(merchant_id)


async def check_account(svc: Services, merchant_id: str, account_id: str) -> CredentialCheck:
    """Try a stored account's credentials against its channel; changes nothing."""
    return await merchant_service.check_account(svc.db, svc.pool, merchant_id, account_id)
