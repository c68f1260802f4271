"""The stored-value channel: the :class:`~gateway.channels.base.Channel` protocol over the wallet port.

A create debits the wallet at once (idempotent by the attempt id) and reports the trade paid in
:attr:`CreateResult.state` -- or, asked not to capture, reserves the amount in a hold that
:meth:`PrepaidChannel.capture` turns into the debit and ``close`` releases; a refund credits it back (idempotent by the refund id). A decline is data:
``insufficient_balance`` or ``wallet_frozen`` as the create's error code.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import ClassVar

from gateway.channels.base import (
    BillFile,
    BillLine,
    CloseResult,
    CreateRequest,
    CreateResult,
    CredentialCheck,
    Notification,
    RawCallback,
    RefundRequest,
    RefundResult,
    TradeRef,
    TradeState,
    VerificationError,
)
from gateway.domain.money import POINTS
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import ActionKind, PayAction
from gateway.domain.wallet import Declined, Moved, StoredValue


class PrepaidChannel:
    name: ClassVar[str] = "prepaid"

    def __init__(self, book: StoredValue | None, *, label: str) -> None:
        self._book = book
        self.label = label

    @property
    def identities(self) -> Mapping[str, str]:
        return {}

    def _wallets(self) -> StoredValue:
        if self._book is None:
            raise RuntimeError("stored value is not bound: the composition root hands it in (Registry.bind)")
        return self._book

    async def check(self) -> CredentialCheck:
        """In process, with no credentials to get wrong: always fine."""
        return CredentialCheck.passed("in process")

    async def create(self, req: CreateRequest) -> CreateResult:
        if not req.payer_id:
            return CreateResult(Outcome.CHANNEL_ERROR, error_code="customer_required",
                                error_message="a payment from stored value names the customer")
        if (req.amount.currency == POINTS) != (req.pay_method == "points"):
            return CreateResult(Outcome.CHANNEL_ERROR, error_code="currency_mismatch",
                                error_message="points pay points (PTS); balance pays money")
        if not req.capture:  # reserved now, paid by capture(), released by close()
            held = await self._wallets().authorize(req.trade_no, req.payer_id, req.amount, req.expires_at)
            if isinstance(held, Declined):
                return CreateResult(Outcome.CHANNEL_ERROR, error_code=held.code.value, error_message=held.message)
            return CreateResult(Outcome.SUCCESS, action=PayAction(ActionKind.CONFIRM))
        return self._paid(await self._wallets().pay(req.trade_no, req.payer_id, req.amount))

    async def capture(self, trade: TradeRef | str) -> CreateResult:
        return self._paid(await self._wallets().capture(TradeRef.of(trade).trade_no))

    @staticmethod
    def _paid(moved: Moved | Declined) -> CreateResult:
        if isinstance(moved, Declined):
            return CreateResult(Outcome.CHANNEL_ERROR, error_code=moved.code.value, error_message=moved.message)
        return CreateResult(Outcome.SUCCESS, action=PayAction(ActionKind.CONFIRM), state=TradeState(
            Outcome.SUCCESS, channel_trade_no=moved.id, amount=moved.amount, paid_at=moved.at))

    async def query(self, trade: TradeRef | str) -> TradeState:
        moved = await self._wallets().paid(TradeRef.of(trade).trade_no)
        if moved is None:  # never debited: open until it is closed (a debit is only ever made by create)
            return TradeState(Outcome.WAITING)
        return TradeState(Outcome.SUCCESS, channel_trade_no=moved.id, amount=moved.amount, paid_at=moved.at)

    async def close(self, trade: TradeRef | str) -> CloseResult:
        trade_no = TradeRef.of(trade).trade_no
        if await self._wallets().paid(trade_no) is not None or not await self._wallets().release(trade_no):
            return CloseResult(Outcome.FAIL, error_code="paid", error_message="already paid from the wallet")
        return CloseResult(Outcome.SUCCESS)

    async def refund(self, req: RefundRequest) -> RefundResult:
        moved = await self._wallets().refund(req.refund_no, req.trade_no, req.amount)
        if isinstance(moved, Declined):
            return RefundResult(Outcome.CHANNEL_ERROR, error_code=moved.code.value, error_message=moved.message)
        return RefundResult(Outcome.SUCCESS, channel_refund_no=moved.id, amount=moved.amount)

    async def query_refund(self, req: RefundRequest) -> RefundResult:
        moved = await self._wallets().refunded(req.refund_no)
        if moved is None:
            return RefundResult(Outcome.UNKNOWN, not_found=True)
        return RefundResult(Outcome.SUCCESS, channel_refund_no=moved.id, amount=moved.amount)

    async def bill(self, day: date) -> list[BillLine]:
        """No bill: the wallets are our own books, reconciled by the ledger check (wallets included)."""
        return []

    async def bill_download(self, day: date, dest: Path) -> BillFile | None:
        """No bill file either: reconciliation passes in-process channels by."""
        return None

    async def parse_callback(self, raw: RawCallback) -> Notification:
        raise VerificationError("no_callbacks", "stored value never calls back")

    def acknowledge(self, ok: bool) -> tuple[int, str, bytes]:
        return 404, "text/plain", b"no callbacks"
