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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import aiohttp

from gateway.domain.barcode import CodeRule
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import ActionKind, PayAction
from gateway.domain.wallet import StoredValue


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
    payer_id: str | None = None    # the payer's identity a method needs (WeChat JSAPI: openid)
    quit_url: str | None = None    # Alipay WAP: where "back" goes
    capture: bool = True           # False: only reserve the amount until captured (a :class:`Capturing` channel)


@dataclass(frozen=True, slots=True)
class CreateResult:
    outcome: Outcome               # SUCCESS (action ready) | CHANNEL_ERROR | UNKNOWN
    action: PayAction | None = None  # what the shopper's browser does next; set on SUCCESS
    error_code: str | None = None
    error_message: str | None = None
    # A channel that completes the trade within the create call (in-process stored value) reports its
    # state here; the core settles a SUCCESS at once, through the settlement, like a query's answer.
    state: TradeState | None = None


@dataclass(frozen=True, slots=True)
class TradeRef:
    """One trade at the channel: our attempt id, when we opened it (some channels key trades on both),
    the channel's own number once known, and the pay method it was opened with (a barcode trade is
    queried and undone by calls of its own)."""

    trade_no: str
    created_at: datetime | None = None
    channel_trade_no: str | None = None
    pay_method: str | None = None

    @staticmethod
    def of(trade: TradeRef | str) -> TradeRef:
        """A bare attempt id is still accepted (tests and tools that know only the id)."""
        return trade if isinstance(trade, TradeRef) else TradeRef(trade)


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
    (closed/abnormal); CHANNEL_ERROR = refused outright; UNKNOWN = resolve by :meth:`Channel.query_refund`.

    ``not_found`` (from :meth:`Channel.query_refund`): the channel has no refund with this number -- it
    never arrived, and re-sending it with the same number is safe."""

    outcome: Outcome
    not_found: bool = False
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

    ``kind`` is ``"payment"``, ``"refund"`` or ``"unsupported"`` (a genuine event we do not act on: it is
    acknowledged and logged as ignored). For a payment, ``outcome`` SUCCESS = paid, FAIL = closed.
    For a refund, SUCCESS = refunded, FAIL = failed/closed/abnormal, WAITING = still processing.
    ``identities`` are the channel-side identities the callback claims, cross-checked against the
    attempt's account (:attr:`Channel.identities`; :attr:`ChannelFactory.required_identities` must be there).
    """

    kind: str
    outcome: Outcome
    trade_no: str
    amount: Money | None
    channel_trade_no: str | None = None
    refund_no: str | None = None
    refund_amount: Money | None = None
    channel_refund_no: str | None = None
    paid_at: datetime | None = None
    event_id: str | None = None
    identities: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)


# Why a credential check failed (:class:`CredentialCheck`): stable codes, for the CLI, the console and logs.
SIGNATURE_REJECTED = "signature_rejected"    # the channel refused our signature: private key, serial, app id
ANSWER_UNVERIFIABLE = "answer_unverifiable"  # its answer did not verify with the configured keys/certificates
UNREACHABLE = "unreachable"                  # timeout, network, 5xx, an answer that is no answer
REFUSED = "refused"                          # another business error (``detail`` carries the channel's code)


@dataclass(frozen=True, slots=True)
class CredentialCheck:
    """What trying an account's credentials against the channel found (:meth:`Channel.check`): ``ok``,
    or ``problem`` (one of the codes above) and a one-line ``detail`` that never holds a secret."""

    ok: bool
    problem: str | None = None
    detail: str | None = None

    @staticmethod
    def passed(detail: str | None = None) -> CredentialCheck:
        return CredentialCheck(True, None, detail)

    @staticmethod
    def failed(problem: str, detail: str | None = None) -> CredentialCheck:
        return CredentialCheck(False, problem, detail)


def probe_trade_no() -> str:
    """A trade number in our format that no attempt has or will have: what a credential check asks about."""
    return new_id("chk")


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


@dataclass(slots=True)
class BillLine:
    """One line of a channel's bill, in our terms: ``kind`` is ``"payment"`` or ``"refund"``. Not frozen:
    a frozen dataclass sets each field through ``object.__setattr__``, and a bill has a million lines."""

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
    async def query(self, trade: TradeRef | str) -> TradeState: ...
    async def close(self, trade: TradeRef | str) -> CloseResult: ...
    async def refund(self, req: RefundRequest) -> RefundResult: ...
    async def query_refund(self, req: RefundRequest) -> RefundResult: ...
    async def bill(self, day: date) -> list[BillLine]:
        """The day's bill in our terms; ``[]`` when there is none; :class:`BillUnavailable` otherwise."""

    async def bill_download(self, day: date, dest: Path) -> BillFile | None:
        """Stream the day's bill into ``dest`` while hashing it (never held in memory); ``None`` when
        the channel has no bill that day; :class:`BillUnavailable` otherwise (a channel hash that does
        not match is ``hash_mismatch``)."""

    async def check(self) -> CredentialCheck:
        """Try the credentials with a harmless signed call (a query of a trade that cannot exist) whose
        answer must verify; never raises for the channel's answers or their absence."""

    async def parse_callback(self, raw: RawCallback) -> Notification:
        """Verify (signature, time window, decryption) and parse; raise :class:`VerificationError`."""

    def acknowledge(self, ok: bool) -> tuple[int, str, bytes]:
        """The channel's exact answer to a callback: ``(status, content_type, body)``."""


@runtime_checkable
class Capturing(Protocol):
    """A channel that can reserve a payment's amount at create (``CreateRequest.capture=False``) and
    take it later: the trade stays open (WAITING) until :meth:`capture` pays it or ``close`` releases it."""

    async def capture(self, trade: TradeRef | str) -> CreateResult:
        """Take what the create reserved: SUCCESS with the paid :class:`TradeState`, or CHANNEL_ERROR
        with the channel's code (the reservation ended, the payer's account is frozen…)."""
        ...


@dataclass(frozen=True, slots=True)
class PayMethodSpec:
    """One pay method as the core sees it.

    ``browsers`` are where the shopper can complete it: ``"desktop"``, ``"mobile"``, or a channel name
    for that channel's wallet app browser (:class:`gateway.domain.pay.Browser`); ``rank`` orders the
    methods a browser is offered (lower first). ``needs_payer`` = the payer's identity is needed first
    (:meth:`ChannelFactory.payer_redirect`); such a method cannot be fixed by a payment link, and the API
    takes the identity as ``payer_field``. ``query_at``: the channel's own query timing for an attempt
    still waiting, as ages since it opened (UnionPay's front consume: 5, 10, 30, 60, 120 min); after the
    last one, or when empty, the gateway's generic sync schedule applies. ``currency``: a method that pays
    in a unit of its own (points) takes payments in that unit only, and no other method does."""

    code: str
    action: ActionKind
    browsers: frozenset[str]
    labels: Mapping[str, str]     # language → the button text
    rank: int = 50
    needs_payer: bool = False
    payer_field: str | None = None
    query_at: tuple[timedelta, ...] = ()
    currency: str | None = None   # the one currency it pays in, if not money (points: ``PTS``)
    manual_capture: bool = False  # can reserve now and be captured later (its channel is :class:`Capturing`)


@dataclass(frozen=True, slots=True)
class EndpointSetting:
    """A URL setting of a channel: the environment variable ``name`` overrides ``default``; in sandbox
    mode it is the sandbox base + ``sandbox_path``. ``browser_target``: shoppers' browsers are sent
    there by a form, so its host belongs in the checkout's CSP ``form-action``."""

    name: str
    default: str
    description: str
    sandbox_path: str
    browser_target: bool = False


@dataclass(frozen=True, slots=True)
class Ports:
    """The gateway's own services an in-process channel works on, handed to every factory once by the
    composition root (:meth:`ChannelFactory.bind`): a channel never imports the store or the services.
    ``stored_value``: customers' wallets (:class:`~gateway.domain.wallet.StoredValue`)."""

    stored_value: StoredValue | None = None


class PayerIdentityFailed(Exception):
    """The channel did not confirm the payer's identity (expired or reused code, wrong secret, no answer)."""


class ChannelFactory(Protocol):
    """Registered once per channel (:mod:`gateway.channels.registry`); describes the channel to the core --
    its pay methods, settings, display names, callback rules -- and opens accounts."""

    name: ClassVar[str]                  # "alipay", "wechat"
    methods: ClassVar[tuple[PayMethodSpec, ...]]
    settings: ClassVar[tuple[EndpointSetting, ...]]  # the first is the API endpoint :meth:`open` takes
    app_names: ClassVar[Mapping[str, str]]           # language → the wallet app's name ("scan with …")
    in_app_marker: ClassVar[str | None]              # User-Agent marker of the wallet app's browser
    form_targets: ClassVar[tuple[str, ...]]          # CSP form-action sources of the channel's cashier
    credential_fields: ClassVar[tuple[str, ...]]     # an account's credential fields; "name?" = optional
    required_identities: ClassVar[tuple[str, ...]]   # identities a genuine callback always carries
    logged_headers: ClassVar[tuple[str, ...]]        # callback headers worth keeping in the notify log
    callback_sources: ClassVar[tuple[str, ...]]      # the address ranges it publishes for its callbacks
    in_process: ClassVar[bool]                       # no endpoint, no callbacks: works on ports (bind)
    payment_codes: ClassVar[tuple[CodeRule, ...]]    # the wallet's payment codes (barcode pay), by rule

    @property
    def pay_methods(self) -> frozenset[str]: ...

    def bind(self, ports: Ports) -> None:
        """Take the gateway's own services an in-process channel needs (called once, before any open)."""

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str) -> Channel: ...

    def account_ref(self, credentials: Mapping[str, Any]) -> str:
        """The account's public identity at the channel (Alipay app_id, WeChat mchid)."""

    def acknowledge(self, ok: bool) -> tuple[int, str, bytes]:
        """The channel's exact answer to a callback, also when no account could be found for it."""

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        """Before verification: which account a callback claims to be for (Alipay ``app_id``), or
        ``None`` when only verification can tell (WeChat: try each account)."""

    def read_bill(self, path: Path, stated: BillTotals) -> Iterator[BillLine]:
        """Parse a bill file of :meth:`Channel.bill_download` line by line, in constant memory; fills
        ``stated`` from the bill's own summary when it gets there. Raises ``ValueError`` on a malformed
        file (the whole bill is then refused)."""

    def return_trade_no(self, params: Mapping[str, str]) -> str | None:
        """Our attempt id in the query of the channel's browser return to ``/pay/{id}/return``, if it is
        one of this channel's (then ``verify_params`` on the account's channel checks it)."""

    def payer_redirect(self, credentials: Mapping[str, Any], urls: Mapping[str, str], redirect_uri: str,
                       state: str) -> str | None:
        """Where to send the shopper so the channel identifies the payer (and sends them back to
        ``redirect_uri`` with ``code`` and ``state``); ``None`` when this account cannot. ``urls`` are
        the resolved :attr:`settings` by name."""

    async def payer_exchange(self, credentials: Mapping[str, Any], urls: Mapping[str, str],
                             http: aiohttp.ClientSession, code: str) -> str:
        """The payer's identity for the ``code`` the channel sent back; :class:`PayerIdentityFailed`."""


class FactoryBase:
    """Defaults for a :class:`ChannelFactory`: no payer-identity step, no extra browser targets."""

    name: ClassVar[str]
    methods: ClassVar[tuple[PayMethodSpec, ...]]
    settings: ClassVar[tuple[EndpointSetting, ...]]
    app_names: ClassVar[Mapping[str, str]]
    form_targets: ClassVar[tuple[str, ...]] = ()
    credential_fields: ClassVar[tuple[str, ...]] = ()
    in_app_marker: ClassVar[str | None] = None
    required_identities: ClassVar[tuple[str, ...]] = ()
    logged_headers: ClassVar[tuple[str, ...]] = ()
    callback_sources: ClassVar[tuple[str, ...]] = ()
    in_process: ClassVar[bool] = False
    payment_codes: ClassVar[tuple[CodeRule, ...]] = ()

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout

    @property
    def pay_methods(self) -> frozenset[str]:
        return frozenset(m.code for m in self.methods)

    def bind(self, ports: Ports) -> None:
        """A channel spoken to over the network needs none of the gateway's services."""

    def account_ref(self, credentials: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def payer_redirect(self, credentials: Mapping[str, Any], urls: Mapping[str, str], redirect_uri: str,
                       state: str) -> str | None:
        return None

    def return_trade_no(self, params: Mapping[str, str]) -> str | None:
        return None

    async def payer_exchange(self, credentials: Mapping[str, Any], urls: Mapping[str, str],
                             http: aiohttp.ClientSession, code: str) -> str:
        raise PayerIdentityFailed(f"{self.name} identifies no payer")
