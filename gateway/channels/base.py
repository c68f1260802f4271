"""The small protocol every channel speaks, and the plain data that crosses it.

The core never imports a channel package: it asks :mod:`gateway.channels.registry` for the channel of a
pay-method code and talks to it only through :class:`Channel`. Amounts cross as :class:`Money` (integer
fen); each channel converts to its own wire format inside its transformers. Channel field names
(``out_trade_no``, ``trade_state``, …) never leave the channel package.

Every method answers with an :class:`~gateway.domain.outcomes.Outcome`; network failures, 5xx answers
and answers whose signature does not verify are ``UNKNOWN`` -- a method never raises for them.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

import aiohttp

from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Open a trade at the channel for one payment attempt.

    ``trade_no`` is our attempt id: the channel's ``out_trade_no``, unique across the gateway.
    """

    trade_no: str
    pay_method: str
    amount: Money
    subject: str
    expires_at: datetime          # aware; the channel's QR code / order dies with the payment
    notify_url: str
    return_url: str | None = None  # where the channel's page sends the shopper back (Alipay page/wap)
    description: str | None = None
    client_ip: str | None = None   # WeChat H5 scene_info.payer_client_ip
    openid: str | None = None      # WeChat JSAPI payer
    quit_url: str | None = None    # Alipay WAP: where "back" goes


@dataclass(frozen=True, slots=True)
class CreateResult:
    outcome: Outcome               # SUCCESS (pay_data ready) | CHANNEL_ERROR | UNKNOWN
    pay_data: Mapping[str, Any] = field(default_factory=dict)  # code_url, qr_code, h5_url, pay_url, jsapi params…
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class TradeState:
    """The channel's view of one trade: SUCCESS = paid, WAITING = unpaid and open, FAIL = closed/never
    paid, UNKNOWN = could not tell."""

    outcome: Outcome
    channel_trade_no: str | None = None
    amount: Money | None = None
    paid_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class CloseResult:
    """SUCCESS = the trade is closed (or never existed) at the channel and can no longer be paid;
    FAIL = it cannot be closed because it is paid (query it); UNKNOWN / CHANNEL_ERROR as usual."""

    outcome: Outcome
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """``refund_no`` is our refund id, sent as the channel's idempotency key (Alipay ``out_request_no``,
    WeChat ``out_refund_no``): retrying with it never refunds twice."""

    refund_no: str
    trade_no: str
    amount: Money
    total: Money
    reason: str | None = None
    notify_url: str | None = None
    channel_trade_no: str | None = None


@dataclass(frozen=True, slots=True)
class RefundResult:
    """SUCCESS = refunded; WAITING = accepted, processing; FAIL = the channel will not refund it
    (closed/abnormal); CHANNEL_ERROR = refused outright; UNKNOWN = resolve by :meth:`Channel.query_refund`."""

    outcome: Outcome
    channel_refund_no: str | None = None
    amount: Money | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class RawCallback:
    """A callback exactly as it arrived -- verification needs the raw bytes."""

    body: bytes
    headers: Mapping[str, str]
    content_type: str
    remote: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified (and decrypted) channel notification, in our terms.

    ``kind`` is ``"payment"`` or ``"refund"``. For a payment, ``outcome`` SUCCESS = paid, FAIL = closed.
    For a refund, SUCCESS = refunded, FAIL = failed/closed/abnormal, WAITING = still processing.
    ``account_id`` is the channel-side identity the callback claims (Alipay app_id, WeChat mchid) and
    ``seller_id``/``app_id`` further identities to cross-check against the attempt's account.
    """

    kind: str
    outcome: Outcome
    trade_no: str
    amount: Money | None
    channel_trade_no: str | None = None
    refund_no: str | None = None
    refund_amount: Money | None = None
    paid_at: datetime | None = None
    event_id: str | None = None
    identities: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)


class VerificationError(Exception):
    """A callback that is forged, tampered, stale or malformed. ``code`` is stable, for the notify log."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class BillUnavailable(Exception):
    """A channel's bill could not be fetched or did not check out (not "no bill that day", which is an
    empty list); ``code`` says why. A bill is a batch job: it is simply tried again later.
    ``not_ready``: the channel has not published the day's bill yet (too early, or still being built)."""

    def __init__(self, code: str, message: str = "", *, not_ready: bool = False) -> None:
        super().__init__(message or code)
        self.code = code
        self.not_ready = not_ready


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of a channel's bill, in our terms: ``kind`` is ``"payment"`` or ``"refund"``."""

    kind: str
    trade_no: str
    channel_trade_no: str
    amount: Money
    refund_no: str | None = None
    at: datetime | None = None
    # The channel's fee in units of 0.00001 yuan (1/1000 fen, WeChat's precision); negative = given back.
    fee: int = 0
    status: str = "SUCCESS"  # a refund line's state at the channel (WeChat: SUCCESS | PROCESSING)


FEE_UNITS_PER_FEN = 1000


@dataclass
class BillTotals:
    """Counts and sums of a bill (amounts in fen, ``fee`` in 1/1000 fen): what the parsed lines add up
    to, or what the bill's own summary rows say they add up to."""

    pay_count: int = 0
    pay_amount: int = 0
    refund_count: int = 0
    refund_amount: int = 0
    fee: int = 0
    stated: bool = False  # a summary was found in the file

    def add(self, line: BillLine) -> None:
        if line.kind == "payment":
            self.pay_count, self.pay_amount = self.pay_count + 1, self.pay_amount + line.amount.minor
        else:
            self.refund_count, self.refund_amount = self.refund_count + 1, self.refund_amount + line.amount.minor
        self.fee += line.fee

    def differences(self, stated: BillTotals) -> list[str]:
        """How these (parsed) totals disagree with a bill's ``stated`` ones. A summary that counts
        payments and refunds together says so with ``refund_count == -1``."""
        mine = {"pay_count": self.pay_count, "pay_amount": self.pay_amount, "refund_count": self.refund_count,
                "refund_amount": self.refund_amount, "fee": self.fee}
        if stated.refund_count < 0:
            mine["pay_count"], mine["refund_count"] = self.pay_count + self.refund_count, -1
        return [f"{name}: lines {value}, summary {getattr(stated, name)}"
                for name, value in mine.items() if value != getattr(stated, name)]


@dataclass(frozen=True, slots=True)
class BillFile:
    """A bill downloaded to ``path`` as the channel served it (compressed). ``sha256`` is of the file;
    ``channel_hash`` the digest the channel vouched for and that was verified (WeChat's SHA1)."""

    path: Path
    sha256: str
    size: int
    channel_hash: str | None = None


class Channel(Protocol):
    """One channel account (an Alipay app, a WeChat Pay merchant) with its keys, ready to talk.

    Built by a :class:`ChannelFactory` from the account's decrypted credentials and the app's shared
    ``aiohttp.ClientSession``.
    """

    name: ClassVar[str]

    @property
    def identities(self) -> Mapping[str, str]:
        """What a genuine callback for this account must carry (e.g. ``{"app_id": …, "seller_id": …}``)."""

    async def create(self, req: CreateRequest) -> CreateResult: ...
    async def query(self, trade_no: str) -> TradeState: ...
    async def close(self, trade_no: str) -> CloseResult: ...
    async def refund(self, req: RefundRequest) -> RefundResult: ...
    async def query_refund(self, req: RefundRequest) -> RefundResult: ...
    async def bill(self, day: date) -> list[BillLine]:
        """The day's bill in our terms; ``[]`` when there is none; :class:`BillUnavailable` otherwise."""

    async def bill_download(self, day: date, dest: Path) -> BillFile | None:
        """Stream the day's bill into ``dest`` while hashing it (never held in memory); ``None`` when
        the channel has no bill that day; :class:`BillUnavailable` otherwise (a channel hash that does
        not match is ``hash_mismatch``)."""

    async def parse_callback(self, raw: RawCallback) -> Notification:
        """Verify (signature, time window, decryption) and parse; raise :class:`VerificationError`."""

    def acknowledge(self, ok: bool) -> tuple[int, str, bytes]:
        """The channel's exact answer to a callback: ``(status, content_type, body)``."""


class ChannelFactory(Protocol):
    """Registered once per channel; knows its pay methods and how to open an account."""

    name: ClassVar[str]                  # "alipay", "wechat"
    pay_methods: ClassVar[frozenset[str]]

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str) -> Channel: ...

    def acknowledge(self, ok: bool) -> tuple[int, str, bytes]:
        """The channel's exact answer to a callback, also when no account could be found for it."""

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        """Before verification: which account a callback claims to be for (Alipay ``app_id``), or
        ``None`` when only verification can tell (WeChat: try each account)."""

    def read_bill(self, path: Path, stated: BillTotals) -> Iterator[BillLine]:
        """Parse a bill file of :meth:`Channel.bill_download` line by line, in constant memory; fills
        ``stated`` from the bill's own summary when it gets there. Raises ``ValueError`` on a malformed
        file (the whole bill is then refused)."""
