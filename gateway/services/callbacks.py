"""Channel callback ingress: one fixed pipeline for every channel.

raw body → verify (and decrypt) → find our attempt → cross-check (account, identities, amount,
currency) → conditional transition → store the raw callback in the notify log → acknowledge in the
channel's exact format. A duplicate is acknowledged with no second effect; anything forged, tampered,
stale or mismatched gets the channel's failure answer and changes nothing but the log.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from gateway.channels.base import Channel, Notification, RawCallback, VerificationError
from gateway.domain.errors import Rejected
from gateway.domain.outcomes import Outcome
from gateway.services import refunds as refund_service
from gateway.services import risk
from gateway.services.context import Services
from gateway.services.payments import after_settle
from gateway.services.settlement import Settled, SettleResult, settle_attempt_closed, settle_paid_with_policy
from gateway.store import merchants as merchants_repo
from gateway.store import notify_log
from gateway.store import payments as repo
from gateway.store.base import Row, utcnow
from gateway.store.rows import AttemptRow

log = logging.getLogger(__name__)

# Headers worth keeping in the log, besides those the channel's factory names; never Authorization or cookies.
_LOGGED_HEADERS = ("content-type", "user-agent", "x-forwarded-for")
# Rejection codes kept as a metrics label; anything else (a channel's own verification code) is "other".
REJECTION_CODES = frozenset({
    "unknown_account", "no_usable_account", "account_mismatch", "unknown_trade", "identity_mismatch",
    "identity_missing", "amount_mismatch", "unsupported_event", "unknown_refund",
    # the channels' verification codes (VerificationError)
    "malformed", "bad_signature", "missing_signature", "wrong_account", "wrong_owner", "bad_certificate",
    "missing_certificate", "unknown_serial", "stale_timestamp", "signature_probe", "no_callbacks",
    "decrypt_failed", "unsupported_sign_type", "unsupported_sign_method"})
EXCERPT_BYTES = 2048  # how much of a refused callback's body the notify log keeps


@dataclass(frozen=True)
class Ack:
    status: int
    content_type: str
    body: bytes


async def _verify(svc: Services, channel_name: str, raw: RawCallback) -> tuple[Row, Channel, Notification]:
    factory = svc.registry.channel(channel_name)
    hint = factory.callback_account_hint(raw)
    async with svc.db.read() as conn:
        accounts = await merchants_repo.accounts_for_callback(conn, channel_name, hint)
    if not accounts:
        raise Rejected("unknown_account", f"no {channel_name} account {hint or ''}".strip())
    error = Rejected("no_usable_account")
    for account in accounts:
        try:
            channel = svc.pool.get(account)
        except Exception:  # credentials we cannot unseal (another master key?): skip, loudly
            log.error("cannot open %s account %s", channel_name, account["id"], exc_info=True)
            continue
        try:
            return account, channel, await channel.parse_callback(raw)
        except VerificationError as exc:
            error = Rejected(exc.code, str(exc))
    raise error


async def _owner(svc: Services, channel_name: str, raw: RawCallback, account: Row, channel: Channel,
                 note: Notification, attempt: Row | None) -> tuple[Row, Channel, Notification]:
    """Several accounts may share channel credentials (sandbox merchants do): the callback must verify
    under the account that owns the trade, not merely under some account."""
    if attempt is None or attempt["account_id"] == account["id"]:
        return account, channel, note
    async with svc.db.read() as conn:
        owner = await merchants_repo.get_account(conn, attempt["account_id"])
    if owner is None or owner["channel"] != channel_name:
        raise Rejected("account_mismatch", "the trade belongs to another channel")
    owner_channel = svc.pool.get(owner)
    try:
        return owner, owner_channel, await owner_channel.parse_callback(raw)
    except VerificationError as exc:
        raise Rejected("account_mismatch", f"not verifiable by the trade's account: {exc.code}") from None


def _cross_check(account: Row, channel: Channel, required: tuple[str, ...], note: Notification,
                 attempt: AttemptRow | None) -> AttemptRow:
    if attempt is None:
        raise Rejected("unknown_trade", f"no attempt {note.trade_no}")
    if attempt["account_id"] != account["id"]:
        raise Rejected("account_mismatch", "the trade belongs to another channel account")
    for name, expected in channel.identities.items():
        got = note.identities.get(name)
        if got is not None and got != expected:
            raise Rejected("identity_mismatch", f"{name} {got!r} is not ours")
        if got is None and name in required:
            raise Rejected("identity_missing", f"{name} missing")
    if note.amount is not None and (note.amount.minor != attempt["amount"]
                                    or note.amount.currency != attempt["currency"]):
        raise Rejected("amount_mismatch", f"{note.amount} is not {attempt['amount']} {attempt['currency']}")
    return attempt


async def handle(svc: Services, channel_name: str, raw: RawCallback) -> Ack:
    """The pipeline, counted once per callback in ``gateway_callbacks_total`` (result: applied, duplicate,
    rejected with the rejection's code, ignored) and timed."""
    started = time.perf_counter()
    counted = ["error", ""]  # what the metrics say if the pipeline raises (the channel gets a 5xx)
    try:
        return await _handle(svc, channel_name, raw, counted)
    finally:
        svc.metrics.callbacks.labels(channel_name, counted[0], counted[1]).inc()
        svc.metrics.callback_duration.labels(channel_name).observe(time.perf_counter() - started)


async def _handle(svc: Services, channel_name: str, raw: RawCallback, counted: list[str]) -> Ack:
    factory = svc.registry.channel(channel_name)
    logged = {*_LOGGED_HEADERS, *factory.logged_headers}
    headers = {k: v for k, v in raw.headers.items() if k.lower() in logged}
    account: Row | None = None
    note: Notification | None = None
    try:
        account, channel, note = await _verify(svc, channel_name, raw)
        if note.kind == "unsupported":
            await _check_source(svc, channel_name, raw, account)
            # Genuine, but an event we do not act on: acknowledged so the channel stops retrying.
            log.info("ignored %s callback for %s", channel_name, note.trade_no or "no trade")
            async with svc.db.begin() as conn:
                await notify_log.record(conn, channel=channel_name, headers=headers, body=raw.body,
                                        remote=raw.remote, result="ignored", account_id=account["id"],
                                        trade_no=note.trade_no or None, error=None)
            status, ctype, body = channel.acknowledge(True)
            counted[:] = ["ignored", note.kind]
            return Ack(status, ctype, body)
        async with svc.db.read() as conn:
            attempt = await repo.get_attempt(conn, note.trade_no)
        account, channel, note = await _owner(svc, channel_name, raw, account, channel, note, attempt)
        await _check_source(svc, channel_name, raw, account)  # the rules of the merchant owning the trade
        # What the cross-check reads of the attempt (account, amount, currency) never changes, and every
        # write below is a conditional update from the state it expects: the attempt is not read again.
        attempt = _cross_check(account, channel, factory.required_identities, note, attempt)
        async with svc.db.begin() as conn:
            result = await _apply(svc, conn, attempt, note)
            await notify_log.record(conn, channel=channel_name, headers=headers, body=raw.body, remote=raw.remote,
                                    result="duplicate" if result.outcome in (Settled.DUPLICATE, Settled.UNCHANGED)
                                    else "applied", account_id=account["id"], trade_no=note.trade_no,
                                    error=None if result.outcome != Settled.DOUBLE else "double_payment")
        duplicate = result.outcome in (Settled.DUPLICATE, Settled.UNCHANGED)
        counted[:] = ["duplicate" if duplicate else "applied", "" if duplicate else result.outcome.value]
        if result.outcome in (Settled.PAID, Settled.PAID_LATE) and note.paid_at is not None:
            lag = (utcnow() - note.paid_at).total_seconds()
            svc.metrics.callback_lag.labels(channel_name).observe(max(lag, 0.0))
        await after_settle(svc, result)  # publishes, and submits a double/late payment's refund
        status, ctype, body = channel.acknowledge(True)
    except Rejected as exc:
        counted[:] = ["rejected", exc.code if exc.code in REJECTION_CODES else "other"]
        log.warning("rejected %s callback from %s: %s", channel_name, raw.remote, exc,
                    extra={"channel": channel_name, "reason": exc.code})
        async with svc.db.begin() as conn:
            # An excerpt only: what we refuse is anyone's junk, and the log of it is purged on a schedule.
            await notify_log.record(conn, channel=channel_name, headers=headers, body=raw.body[:EXCERPT_BYTES],
                                    remote=raw.remote, result="rejected", error=f"{exc.code}: {exc}",
                                    account_id=account["id"] if account else None,
                                    trade_no=note.trade_no if note else None)
        status, ctype, body = factory.acknowledge(False)
    return Ack(status, ctype, body)


async def _check_source(svc: Services, channel_name: str, raw: RawCallback, account: Row) -> None:
    """Callback source rules (gateway.services.risk): log-only unless a rule enforces them."""
    if await risk.check_callback(svc, channel_name, raw.remote, account["merchant_id"]):
        raise Rejected("source_refused", f"source {raw.remote} is outside the channel's address ranges")


async def _apply(svc: Services, conn, attempt: Row, note: Notification) -> SettleResult:  # type: ignore[no-untyped-def]
    if note.kind == "payment":
        if note.outcome == Outcome.SUCCESS and note.amount is not None:
            return await settle_paid_with_policy(svc, conn, attempt, note.amount,
                                                 channel_trade_no=note.channel_trade_no, paid_at=note.paid_at)
        if note.outcome == Outcome.FAIL:
            return await settle_attempt_closed(conn, attempt)
        return SettleResult(Settled.UNCHANGED, attempt["payment_id"])
    if note.kind == "refund":
        return await refund_service.apply_refund_notification(svc, conn, attempt, note)
    raise Rejected("unsupported_event", f"event kind {note.kind!r} not supported")
