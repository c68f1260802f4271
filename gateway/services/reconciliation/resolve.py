"""Manual resolution of an open (or carried) discrepancy by a person: accept the channel's side, accept
ours, or ignore it -- always with a reason, and the operator (or ``cli``) recorded on the discrepancy.

* ``accept_channel`` acts only through :mod:`.remedy` (a confirming query, then the settlement
  entrance), and only where the channel's side can be taken without changing an amount or inventing a
  payment: a payment paid at the channel and pending/closed/second here is settled by query, a refund
  pending here is synced by query, a portal refund is imported if it fits. Anything else (an amount
  mismatch, a trade we do not know, a payment or refund missing from the bill, a failed refund, a
  duplicated line) is refused: the discrepancy stays open and the caller is told why.
* ``accept_ours`` records that our books are right; nothing changes but the discrepancy.
* ``ignore`` closes it as not worth acting on.

Idempotent: resolving an already resolved discrepancy with the same action returns the recorded
resolution and does nothing else; with another action it is refused. The remedies are idempotent in the
settlement itself, and the discrepancy's transition is a conditional UPDATE from an open state, so two
operators at once resolve it once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from gateway.domain.errors import GatewayError, InvalidState, NotFound, ValidationFailed
from gateway.services.context import Services
from gateway.services.reconciliation import match, remedy
from gateway.services.reconciliation.engine import discrepancy_view
from gateway.store import merchants as merchants_repo
from gateway.store import reconciliation as store
from gateway.store.base import Row, utcnow

Action = Literal["accept_channel", "accept_ours", "ignore"]
ACTIONS: tuple[str, ...] = get_args(Action)
STATE_AFTER = {"accept_channel": "resolved", "accept_ours": "resolved", "ignore": "ignored"}
REASON_MAX = 512


class ChannelNotConfirmed(GatewayError):
    code = "channel_not_confirmed"
    title = "The channel's side cannot be accepted"


@dataclass(frozen=True)
class Resolution:
    discrepancy: dict[str, Any]  # the discrepancy as it now stands (:func:`discrepancy_view`)
    applied: bool                # False: it had been resolved this way before; nothing was done now


async def resolve(svc: Services, discrepancy_id: str, action: str, reason: str, *, operator: str,
                  merchant_id: str | None = None) -> Resolution:
    """Resolve one discrepancy (``merchant_id`` limits it to that merchant's). Raises
    :class:`NotFound`, :class:`ValidationFailed` (action, reason), :class:`InvalidState` (not open, or
    resolved otherwise before) or :class:`ChannelNotConfirmed` (``accept_channel`` not possible)."""
    if action not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}",
                               errors=[{"field": "action", "message": f"one of {list(ACTIONS)}"}])
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationFailed("a reason is required", errors=[{"field": "reason", "message": "required"}])
    operator = operator.strip()[:64] or "unknown"
    d = await _get(svc, discrepancy_id, merchant_id)
    if d["state"] not in store.OPEN_STATES:
        return _already(d, action)

    detail = "no change"
    if action == "accept_channel":
        detail = await _take_channel_side(svc, d)
    now = utcnow()
    async with svc.db.begin() as conn:
        applied = await store.resolve_discrepancy(
            conn, d["id"], state=STATE_AFTER[action], action=f"{action}: {detail}"[:128], note=reason[:REASON_MAX],
            resolved_by=operator, resolved_at=now, updated_at=now)
        if applied:
            await store.recount_open(conn, d["batch_id"], now)
    d = await _get(svc, discrepancy_id, merchant_id)
    if not applied:  # another resolution won the race
        return _already(d, action)
    return Resolution(discrepancy_view(d), applied=True)


def resolution_of(d: Row) -> str | None:
    """The manual action a discrepancy was resolved with (``None`` if it was not resolved by hand)."""
    if d["state"] not in store.FINAL_STATES or not d["action"]:
        return None
    head = str(d["action"]).split(":", 1)[0]
    return head if head in ACTIONS else None


def _already(d: Row, action: str) -> Resolution:
    if resolution_of(d) == action:
        return Resolution(discrepancy_view(d), applied=False)
    raise InvalidState(f"discrepancy {d['id']} is {d['state']}"
                       + (f" ({d['action']})" if d["action"] else "") + ": only an open one can be resolved")


async def _get(svc: Services, discrepancy_id: str, merchant_id: str | None) -> Row:
    async with svc.db.read() as conn:
        d = await store.get_discrepancy(conn, discrepancy_id, merchant_id)
    if d is None:
        raise NotFound(f"No discrepancy {discrepancy_id}")
    return d


async def _take_channel_side(svc: Services, d: Row) -> str:
    """Make our records agree with the channel through the remedies, or raise ChannelNotConfirmed."""
    kind = d["type"]
    if kind in (match.PAID_LOCAL_PENDING, match.PAID_LOCAL_CLOSED, match.PAID_DOUBLE) and d["attempt_id"]:
        done = await remedy.settle_by_query(svc, d["attempt_id"])
    elif kind == match.REFUND_LOCAL_PENDING and d["refund_id"]:
        done = await remedy.sync_refund(svc, d["refund_id"])
    elif kind == match.REFUND_EXTERNAL and d["attempt_id"] and d["channel_amount"] is not None:
        async with svc.db.read() as conn:
            account = await merchants_repo.get_account(conn, d["account_id"])
        if account is None:
            raise ChannelNotConfirmed(f"channel account {d['account_id']} no longer exists")
        done = await remedy.import_portal_refund(svc, account, d["attempt_id"], d["key"], d["channel_amount"])
    else:
        raise ChannelNotConfirmed(
            f"a {kind} cannot be settled from the channel's side (the gateway never changes an amount nor "
            "invents a payment or refund); accept ours or ignore it, and correct it with the channel")
    if not done.applied:
        raise ChannelNotConfirmed(f"the channel did not confirm: {done.action}")
    return done.action

