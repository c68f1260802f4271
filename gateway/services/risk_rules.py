"""Risk rules as typed data: one pydantic model per rule type, told apart by ``type`` (a discriminated
union), validated when saved -- no expression language. Each rule says where it runs (``hooks``), what
it does when it fires (``action``), whether that counts (``mode``: ``monitor`` records only, ``enforce``
decides) and what happens when its state (the cache) cannot be read (``on_unavailable``: ``open`` = the
rule does not fire, ``closed`` = it fires).

A rule's :meth:`fires` asks a :class:`Probe` for what it needs (counters, lists, today's totals) and
answers a short reason when it fires, ``None`` otherwise. The probe is :mod:`gateway.services.risk`.
"""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Annotated, Any, ClassVar, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, field_validator

from gateway.domain.money import MAX_AMOUNT

CREATE, CHECKOUT, REFUND, CALLBACK = "payment.create", "checkout.pay", "refund.create", "callback"
HOOKS = (CREATE, CHECKOUT, REFUND, CALLBACK)
Action = Literal["block", "throttle", "review"]
Mode = Literal["monitor", "enforce"]
SEVERITY = {"allow": 0, "review": 1, "throttle": 2, "block": 3}
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# WeChat Pay's published callback source ranges (pay.weixin.qq.com/doc/v3/merchant/4012075420).
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT, description="Integer minor units (fen).")]
Count = Annotated[StrictInt, Field(ge=1, le=1_000_000)]
Seconds = Annotated[StrictInt, Field(ge=1, le=7 * 86400)]


@dataclass(frozen=True)
class Subject:
    """What a hook knows about the request being judged."""

    hook: str
    merchant_id: str | None
    amount: int | None = None
    currency: str | None = None
    pay_method: str | None = None
    ip: str | None = None
    payer: str | None = None
    channel: str | None = None  # callbacks: the channel name
    opens_code: bool = False  # a channel order (a code to scan, a wallet page) is opened by this request


class Probe(Protocol):
    """The state rules read. Any method may raise when the state is unavailable."""

    subject: Subject

    async def count(self, key: str, window: int) -> int:
        """Add one to ``key``'s counter for the current ``window``-second bucket; the new count."""

    async def listed(self, kind: str, value: str) -> bool: ...
    async def today(self) -> tuple[int, int]:
        """The merchant's payments created today (Asia/Shanghai) so far: (count, amount)."""

    async def payer_history(self) -> tuple[int, int]:
        """The payer's paid payments at this merchant: (count, amount)."""

    def callback_sources(self, channel: str) -> Sequence[str]:
        """The address ranges a channel publishes for its callbacks (its factory's), if any."""

    async def paid_since(self, key: str, window: int) -> bool:
        """Whether a payment was paid from this IP / by this payer in the last ``window`` seconds."""

    async def refunds_ratio(self, window: int) -> tuple[int, int]:
        """(paid, refunded incl. this request) amounts of the merchant over the last ``window`` seconds."""

    async def block_temporarily(self, kind: str, value: str, seconds: int, note: str) -> None: ...


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hooks: ClassVar[frozenset[str]] = frozenset({CREATE})

    type: str
    mode: Mode = Field("monitor", description="monitor = record only; enforce = the action applies.")
    pay_method: Annotated[StrictStr, Field(max_length=24)] | None = Field(
        None, description="Only requests whose pay method is known to be this one (the rule's scope: an API "
                          "create with that channel, a checkout opening it); absent = all.")
    on_unavailable: Literal["open", "closed"] = Field(
        "open", description="When the rule's state (the cache) cannot be read: open = does not fire, "
                            "closed = fires.")

    def applies(self, subject: Subject) -> bool:
        return subject.hook in self.hooks and (self.pay_method is None or subject.pay_method == self.pay_method)

    async def fires(self, probe: Probe) -> str | None:
        raise NotImplementedError


_KEY_FIELDS = {"ip": "ip", "payer": "payer", "merchant": "merchant_id"}


def _key(probe: Probe, key: str) -> str | None:
    value: str | None = getattr(probe.subject, _KEY_FIELDS[key])
    return value


class IpBlocklist(_Rule):
    """The request's IP is on the merchant's (or the global) IP list -- an address or a network."""
    hooks: ClassVar[frozenset[str]] = frozenset({CREATE, CHECKOUT})
    type: Literal["ip_blocklist"]
    mode: Mode = "enforce"
    action: Action = "block"

    async def fires(self, probe: Probe) -> str | None:
        ip = probe.subject.ip
        return "ip listed" if ip and await probe.listed("ip", ip) else None


class PayerBlocklist(_Rule):
    """The payer (their id at the channel, e.g. an openid, or your customer id) is on the payer list."""
    hooks: ClassVar[frozenset[str]] = frozenset({CREATE, CHECKOUT})
    type: Literal["payer_blocklist"]
    mode: Mode = "enforce"
    action: Action = "block"

    async def fires(self, probe: Probe) -> str | None:
        payer = probe.subject.payer
        return "payer listed" if payer and await probe.listed("payer", payer) else None


class AmountMin(_Rule):
    type: Literal["amount_min"]
    amount: Amount
    mode: Mode = "enforce"
    action: Action = "block"

    async def fires(self, probe: Probe) -> str | None:
        amount = probe.subject.amount
        return f"amount below {self.amount}" if amount is not None and amount < self.amount else None


class AmountMax(_Rule):
    type: Literal["amount_max"]
    amount: Amount
    mode: Mode = "enforce"
    action: Action = "block"

    async def fires(self, probe: Probe) -> str | None:
        amount = probe.subject.amount
        return f"amount above {self.amount}" if amount is not None and amount > self.amount else None


class DailyCountCap(_Rule):
    """At most ``count`` payments created per day (Asia/Shanghai) for the merchant."""
    type: Literal["daily_count_cap"]
    count: Count
    action: Action = "block"

    async def fires(self, probe: Probe) -> str | None:
        count, _ = await probe.today()
        return f"{count} payments today" if count >= self.count else None


class DailyAmountCap(_Rule):
    """At most ``amount`` fen of payments created per day (Asia/Shanghai) for the merchant."""
    type: Literal["daily_amount_cap"]
    amount: Annotated[StrictInt, Field(ge=1, le=10**15)]
    action: Action = "block"

    async def fires(self, probe: Probe) -> str | None:
        _, total = await probe.today()
        return f"{total} created today" if total + (probe.subject.amount or 0) > self.amount else None


class Velocity(_Rule):
    """More than ``count`` payments created per ``window`` seconds from one IP, by one payer, or for the
    merchant."""
    type: Literal["velocity"]
    key: Literal["ip", "payer", "merchant"] = "ip"
    count: Count = 20
    window: Seconds = 600
    action: Action = "throttle"

    async def fires(self, probe: Probe) -> str | None:
        value = _key(probe, self.key)
        if value is None:
            return None
        n = await probe.count(f"v:{self.key}:{value}", self.window)
        return f"{n} in {self.window}s by {self.key}" if n > self.count else None


class UnpaidVelocity(_Rule):
    """QR farming: more than ``count`` codes opened per ``window`` seconds from one IP (or by one payer)
    with none of them paid. In enforce mode the IP (payer) is also listed for ``block_for`` seconds."""
    hooks: ClassVar[frozenset[str]] = frozenset({CREATE, CHECKOUT})
    type: Literal["unpaid_velocity"]
    key: Literal["ip", "payer"] = "ip"
    count: Count = 10
    window: Seconds = 1800
    block_for: Annotated[StrictInt, Field(ge=0, le=30 * 86400)] = 3600
    action: Action = "block"

    async def fires(self, probe: Probe) -> str | None:
        value = _key(probe, self.key)
        if value is None or not probe.subject.opens_code:
            return None
        n = await probe.count(f"u:{self.key}:{value}", self.window)
        if n <= self.count or await probe.paid_since(f"{self.key}:{value}", self.window):
            return None
        if self.mode == "enforce" and self.block_for:
            await probe.block_temporarily(self.key, value, self.block_for, f"{n} unpaid codes in {self.window}s")
        return f"{n} unpaid codes in {self.window}s"


class RepeatAmount(_Rule):
    """The same amount ``count`` times or more in a day by one payer (or from one IP)."""
    type: Literal["repeat_amount"]
    key: Literal["payer", "ip"] = "payer"
    count: Count = 10
    action: Action = "review"

    async def fires(self, probe: Probe) -> str | None:
        value, amount = _key(probe, self.key), probe.subject.amount
        if value is None or amount is None:
            return None
        n = await probe.count(f"r:{self.key}:{value}:{amount}", 86400)
        return f"amount {amount} {n} times today" if n >= self.count else None


class PayerAnomaly(_Rule):
    """An amount more than ``factor`` × the payer's own average paid amount (after ``min_history`` paid
    payments) and above ``floor``."""
    hooks: ClassVar[frozenset[str]] = frozenset({CREATE, CHECKOUT})
    type: Literal["payer_anomaly"]
    factor: Annotated[float, Field(gt=1, le=1000)] = 5.0
    min_history: Count = 3
    floor: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] = 0
    action: Action = "review"

    async def fires(self, probe: Probe) -> str | None:
        amount = probe.subject.amount
        if probe.subject.payer is None or amount is None or amount <= self.floor:
            return None
        count, total = await probe.payer_history()
        if count < self.min_history or amount * count <= self.factor * total:
            return None
        return f"{amount} > {self.factor:g} × average {total // count}"


def _clock(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError("HH:MM expected") from None


class Hours(_Rule):
    """Payments created between ``start`` and ``end`` (Asia/Shanghai; the window may cross midnight),
    above ``min_amount``."""
    type: Literal["hours"]
    start: Annotated[StrictStr, Field(pattern=r"^\d{2}:\d{2}$")] = "02:00"
    end: Annotated[StrictStr, Field(pattern=r"^\d{2}:\d{2}$")] = "05:00"
    min_amount: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] = 0
    action: Action = "review"

    @field_validator("start", "end")
    @classmethod
    def _valid(cls, value: str) -> str:
        _clock(value)
        return value

    def inside(self, at: datetime) -> bool:
        now, start, end = at.astimezone(BEIJING).time(), _clock(self.start), _clock(self.end)
        return start <= now < end if start <= end else now >= start or now < end

    async def fires(self, probe: Probe) -> str | None:
        amount = probe.subject.amount or 0
        if amount <= self.min_amount or not self.inside(datetime.now(BEIJING)):
            return None
        return f"between {self.start} and {self.end}"


class RefundRatio(_Rule):
    """Refunds over ``window`` seconds above ``ratio`` of what was paid (once ``min_paid`` was paid)."""
    hooks: ClassVar[frozenset[str]] = frozenset({REFUND})
    type: Literal["refund_ratio"]
    ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    window: Seconds = 86400
    min_paid: Annotated[StrictInt, Field(ge=0, le=10**15)] = 0
    action: Action = "review"

    async def fires(self, probe: Probe) -> str | None:
        paid, refunded = await probe.refunds_ratio(self.window)
        if paid < self.min_paid or refunded <= self.ratio * paid:
            return None
        return f"refunds {refunded} of {paid} paid"


class CallbackSource(_Rule):
    """A channel callback from outside the channel's address ranges. Monitor by default: the signature
    decides whether a callback is genuine (WeChat probes verification with wrongly signed callbacks)."""
    hooks: ClassVar[frozenset[str]] = frozenset({CALLBACK})
    type: Literal["callback_source"]
    channel: Annotated[StrictStr, Field(min_length=1, max_length=16)]
    cidrs: Annotated[list[StrictStr], Field(max_length=200, description="Address ranges; empty = the ranges "
                                                                        "the channel publishes, if it does.")] = []
    action: Action = "block"

    @field_validator("cidrs")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    def networks(self, published: Sequence[str] = ()) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(c, strict=False) for c in (self.cidrs or published)]

    def applies(self, subject: Subject) -> bool:
        return super().applies(subject) and subject.channel == self.channel

    async def fires(self, probe: Probe) -> str | None:
        networks = self.networks(probe.callback_sources(self.channel))
        if not networks:
            return None
        try:
            ip = ipaddress.ip_address(probe.subject.ip or "")
        except ValueError:
            return "no source address"
        return None if any(ip in n for n in networks) else f"source {ip} outside the channel's ranges"


Rule = Annotated[IpBlocklist | PayerBlocklist | AmountMin | AmountMax | DailyCountCap | DailyAmountCap | Velocity
                 | UnpaidVelocity | RepeatAmount | PayerAnomaly | Hours | RefundRatio | CallbackSource,
                 Field(discriminator="type")]
RULE: TypeAdapter[_Rule] = TypeAdapter(Rule)
RULE_TYPES: dict[str, type[_Rule]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in (IpBlocklist, PayerBlocklist, AmountMin, AmountMax, DailyCountCap, DailyAmountCap, Velocity,
                UnpaidVelocity, RepeatAmount, PayerAnomaly, Hours, RefundRatio, CallbackSource)}


def parse_rule(data: dict[str, Any]) -> _Rule:
    """A rule from its JSON (raises pydantic's ValidationError)."""
    return RULE.validate_python(data)


def risk_summary(raw: str | None) -> dict[str, Any]:
    """A payment's stored risk record as the API shows it (none stored = allowed, nothing fired)."""
    if raw:
        try:
            return dict(json.loads(raw))
        except ValueError:
            pass
    return {"decision": "allow", "rules": []}
