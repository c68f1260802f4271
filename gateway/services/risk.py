"""The risk engine: the rules of :mod:`gateway.services.risk_rules` run at payment create (API and links),
when a shopper opens a pay method on the checkout, at refund create and on callback receipt; after a
payment is paid it feeds the payer's and the IP's history.

A decision is ``allow`` / ``review`` / ``throttle`` / ``block`` -- the strongest action of the rules that
fired in enforce mode (monitor-mode hits are recorded, never decide). Every decision with a hit goes
through :func:`record_decision` (the one place to count them) into ``risk_decisions``, and onto the
payment (``payments.risk``, the API's ``risk`` object). A block raises :class:`RiskBlocked` (403
``risk_blocked``), a throttle :class:`RateLimited` (429) -- before anything else is written.

State: counters and histories live in the cache (Redis when configured, in process otherwise); today's
totals and the refund ratio are read from the database; rules and lists are cached in process
(:mod:`gateway.services.risk_state`). When a rule's state cannot be read it fails open or closed, as the
rule says. Nothing here changes a payment's state or money: correctness never depends on it.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.domain.errors import RateLimited, RiskBlocked
from gateway.domain.ids import new_id
from gateway.services.context import Services
from gateway.services.risk_rules import (
    BEIJING,
    CALLBACK,
    CHECKOUT,
    CREATE,
    REFUND,
    SEVERITY,
    IpBlocklist,
    PayerBlocklist,
    Subject,
    _Rule,
    parse_rule,
    risk_summary,
)
from gateway.services.risk_state import FRESH_FOR, Lists
from gateway.store import risk as repo
from gateway.store.base import Row, dumps, utcnow

log = logging.getLogger(__name__)
CONTEXT_TTL = 7 * 86400  # how long a payment's risk context (its IP and payer) waits for the payment
HISTORY_TTL = 90 * 86400  # a payer's paid history is forgotten after this long without a payment
PAID_TTL = 7 * 86400


@dataclass(frozen=True)
class Loaded:
    """A rule ready to run: its id, the merchant it belongs to (None: global) and its model."""

    id: str
    merchant_id: str | None
    rule: _Rule


@dataclass(frozen=True)
class Hit:
    rule_id: str
    type: str
    action: str
    mode: str
    reason: str
    retry_after: int = 60

    def view(self) -> dict[str, str]:
        return {"id": self.rule_id, "type": self.type, "action": self.action, "mode": self.mode,
                "reason": self.reason}


@dataclass
class Decision:
    hits: list[Hit] = field(default_factory=list)
    id: str | None = None

    @property
    def decision(self) -> str:
        enforced = [h.action for h in self.hits if h.mode == "enforce"]
        return max(enforced, key=SEVERITY.__getitem__, default="allow")

    def summary(self) -> dict[str, Any]:
        """The ``risk`` object of a payment: ``{"decision": …, "rules": [...]}``."""
        return {"decision": self.decision, "rules": [h.view() for h in self.hits]}


# -- rules and lists, cached ---------------------------------------------------------------------------

def load_row(row: Row) -> Loaded:
    return Loaded(row["id"], row["merchant_id"], parse_rule({**json.loads(row["params"]), "type": row["type"],
                                                              "mode": row["mode"]}))


async def rules_for(svc: Services, merchant_id: str | None) -> list[Loaded]:
    """The merchant's enabled rules and the global ones; a list rule (ip/payer blocklist) that neither
    defines applies in enforce mode -- a listed value is blocked unless a rule says monitor."""
    cached = svc.risk.rules.get(merchant_id)
    if cached is not None:
        return list(cached)
    async with svc.db.read() as conn:
        rows = await repo.list_rules(conn, merchant_id, with_global=True, enabled_only=True)
    loaded = []
    for row in rows:
        try:
            loaded.append(load_row(row))
        except ValueError:  # a rule saved by an older version that no longer validates: skipped, loudly
            log.error("risk rule %s does not validate; skipped", row["id"])
    types = {item.rule.type for item in loaded}
    for implicit in (IpBlocklist(type="ip_blocklist"), PayerBlocklist(type="payer_blocklist")):
        if implicit.type not in types:
            loaded.append(Loaded(f"default:{implicit.type}", merchant_id, implicit))
    # The lists first: a value a rule lists during this evaluation (unpaid-code velocity) is blocked by the
    # list from the next request on, not counted twice now.
    loaded.sort(key=lambda item: item.rule.type not in ("ip_blocklist", "payer_blocklist"))
    svc.risk.rules.keep(merchant_id, loaded)
    return loaded


async def lists_for(svc: Services, merchant_id: str | None) -> Lists:
    cached = svc.risk.lists.get(merchant_id)
    if cached is not None:
        return cached
    async with svc.db.read() as conn:
        rows = await repo.list_entries(conn, merchant_id, with_global=True, limit=100_000)
    networks = []
    for row in rows:
        if row["kind"] == "ip":
            try:
                networks.append(ipaddress.ip_network(row["value"], strict=False))
            except ValueError:
                continue
    lists = Lists(tuple(networks), frozenset(r["value"] for r in rows if r["kind"] == "payer"))
    # Kept until the earliest entry expires, at most a few seconds.
    now = utcnow()
    expiries = [(r["expires_at"] - now).total_seconds() for r in rows if r["expires_at"] is not None]
    svc.risk.lists.keep(merchant_id, lists, min(expiries, default=FRESH_FOR))
    return lists


# -- the probe: the state rules read ---------------------------------------------------------------------

def _bucket(window: int) -> int:
    return int(time.time() // window)


def _day_start() -> datetime:
    local = datetime.now(BEIJING)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class StateUnavailable(Exception):
    """The shared cache is being skipped (Redis down): counts would be this process's only."""


class _Probe:
    def __init__(self, svc: Services, subject: Subject) -> None:
        self.svc, self.subject = svc, subject
        self.current: Loaded | None = None
        self._lists: Lists | None = None
        self._counted: dict[str, int] = {}

    def callback_sources(self, channel: str) -> tuple[str, ...]:
        factory = next((f for f in self.svc.registry.factories if f.name == channel), None)
        return factory.callback_sources if factory is not None else ()

    def _shared(self) -> None:
        if getattr(self.svc.cache, "healthy", True) is False:
            raise StateUnavailable("the shared cache is unavailable")

    async def count(self, key: str, window: int) -> int:
        """One count per request and counter, whatever the number of rules reading it: rules of the same
        owner (a merchant, or the global ones) with the same key and window share it."""
        assert self.current is not None
        name = f"risk:{self.current.merchant_id or '*'}:{key}:{window}:{_bucket(window)}"
        if name not in self._counted:
            self._shared()
            # With the breaker around Redis: wait for the shared count (the rate limiter's few-ms budget
            # would let counts fall back to this process's own under load).
            incr = getattr(self.svc.cache, "incr_waiting", self.svc.cache.incr)
            self._counted[name] = int(await incr(name, window + 1))
        return self._counted[name]

    async def listed(self, kind: str, value: str) -> bool:
        if self._lists is None:
            self._lists = await lists_for(self.svc, self.subject.merchant_id)
        return self._lists.has_ip(value) if kind == "ip" else value in self._lists.payers

    async def today(self) -> tuple[int, int]:
        merchant_id = self.subject.merchant_id
        if merchant_id is None:
            return 0, 0
        key = (merchant_id, _day_start().date().isoformat())
        totals = self.svc.risk.totals.get(key)
        if totals is None:
            async with self.svc.db.read() as conn:
                totals = list(await repo.created_totals(conn, merchant_id, _day_start()))
            self.svc.risk.totals.keep(key, totals)
        return totals[0], totals[1]

    async def payer_history(self) -> tuple[int, int]:
        self._shared()
        raw = await self.svc.cache.get(f"risk:ph:{self.subject.merchant_id}:{self.subject.payer}")
        if not raw:
            return 0, 0
        count, _, total = raw.partition(" ")
        return int(count), int(total)

    async def paid_since(self, key: str, window: int) -> bool:
        self._shared()
        raw = await self.svc.cache.get(f"risk:paid:{self.subject.merchant_id}:{key}")
        return raw is not None and time.time() - float(raw) <= window

    async def refunds_ratio(self, window: int) -> tuple[int, int]:
        assert self.subject.merchant_id is not None
        async with self.svc.db.read() as conn:
            paid, refunded = await repo.paid_and_refunded(conn, self.subject.merchant_id,
                                                          utcnow() - timedelta(seconds=window))
        return paid, refunded + (self.subject.amount or 0)

    async def block_temporarily(self, kind: str, value: str, seconds: int, note: str) -> None:
        assert self.current is not None
        owner = self.current.merchant_id
        lists = await lists_for(self.svc, owner)
        if (lists.has_ip(value) if kind == "ip" else value in lists.payers):
            return
        now = utcnow()
        async with self.svc.db.begin() as conn:
            await repo.insert_entry(conn, {
                "id": new_id("rle"), "merchant_id": owner, "kind": kind, "value": value[:128],
                "note": f"rule {self.current.id}: {note}"[:256], "created_by": "risk",
                "expires_at": now + timedelta(seconds=seconds), "created_at": now})
        self.svc.risk.forget(owner)
        log.warning("risk: %s %s blocked for %ss by rule %s (%s)", kind, _mask(value) if kind == "payer" else value,
                    seconds, self.current.id, note)


# -- evaluation ------------------------------------------------------------------------------------------

async def evaluate(svc: Services, subject: Subject) -> Decision:
    """Run every rule that applies to ``subject``; the decision with every rule that fired."""
    probe = _Probe(svc, subject)
    decision = Decision()
    for item in await rules_for(svc, subject.merchant_id):
        rule = item.rule
        if not rule.applies(subject):
            continue
        probe.current = item
        try:
            reason = await rule.fires(probe)
        except Exception as exc:  # its state is unavailable: the rule says which way it fails
            log.warning("risk rule %s: state unavailable (%s: %s); fails %s", item.id, type(exc).__name__, exc,
                        rule.on_unavailable)
            reason = "state unavailable" if rule.on_unavailable == "closed" else None
        if reason is not None:
            decision.hits.append(Hit(item.id, rule.type, getattr(rule, "action", "block"), rule.mode, reason,
                                     int(getattr(rule, "window", 60))))
    return decision


def _mask(value: str | None) -> str | None:
    if not value:
        return None
    return value if len(value) <= 8 else f"{value[:4]}…{value[-4:]}"


async def record_decision(svc: Services, subject: Subject, decision: Decision, *,
                          object_id: str | None = None) -> Decision:
    """Keep a decision that has hits (allow with nothing fired is not written): the one place decisions
    pass through -- count them here."""
    if not decision.hits:
        return decision
    decision.id = new_id("rdec")
    svc.metrics.risk_decisions.labels(subject.hook, decision.decision).inc()
    log.info("risk %s at %s for %s: %s", decision.decision, subject.hook, object_id or subject.merchant_id,
             ", ".join(f"{h.type}({h.mode})" for h in decision.hits))
    async with svc.db.begin() as conn:
        await repo.insert_decision(conn, {
            "id": decision.id, "merchant_id": subject.merchant_id, "hook": subject.hook, "object_id": object_id,
            "decision": decision.decision, "rules": dumps([h.view() for h in decision.hits]),
            "ip": (subject.ip or "")[:64] or None, "payer": _mask(subject.payer), "amount": subject.amount,
            "created_at": utcnow()})
    return decision


def enforce(decision: Decision) -> None:
    """Raise what an enforced block or throttle answers."""
    if decision.decision == "block":
        raise RiskBlocked("A risk rule refused this request", decision_id=decision.id)
    if decision.decision == "throttle":
        retry = max(h.retry_after for h in decision.hits if h.mode == "enforce" and h.action == "throttle")
        raise RateLimited("Too many requests; try again later", retry_after=min(retry, 3600),
                          decision_id=decision.id)


async def check(svc: Services, subject: Subject, *, object_id: str | None = None) -> Decision:
    decision = await record_decision(svc, subject, await evaluate(svc, subject), object_id=object_id)
    enforce(decision)
    return decision


# -- the hooks -------------------------------------------------------------------------------------------

async def check_create(svc: Services, *, merchant_id: str, payment_id: str, amount: int, currency: str,
                       pay_method: str | None, ip: str | None, payer: str | None,
                       expires_in: int) -> str | None:
    """Before a payment is written: raises on an enforced block or throttle; else the risk record to keep
    with the payment (None: nothing fired)."""
    subject = Subject(CREATE, merchant_id, amount, currency, pay_method, ip, payer, opens_code=bool(pay_method))
    decision = await check(svc, subject, object_id=payment_id)
    svc.risk.created(merchant_id, _day_start().date().isoformat(), amount)
    await _remember(svc, payment_id, merchant_id, amount, ip, payer, expires_in)
    return dumps(decision.summary()) if decision.hits else None


async def check_checkout(svc: Services, payment: Row, pay_method: str, *, ip: str | None,
                         payer: str | None) -> None:
    """A shopper opens a pay method (a new channel order). Hits are added to the payment's record."""
    subject = Subject(CHECKOUT, payment["merchant_id"], payment["amount"], payment["currency"], pay_method, ip,
                      payer, opens_code=True)
    decision = await record_decision(svc, subject, await evaluate(svc, subject), object_id=payment["id"])
    if decision.hits:
        before = risk_summary(payment.get("risk"))
        merged = Decision([*(Hit(r["id"], r["type"], r["action"], r["mode"], r["reason"]) for r in before["rules"]),
                           *decision.hits])
        async with svc.db.begin() as conn:
            await repo.set_payment_risk(conn, payment["id"], dumps(merged.summary()))
    if ip or payer:
        await _remember(svc, payment["id"], payment["merchant_id"], payment["amount"], ip, payer,
                        max(60, int((payment["expires_at"] - utcnow()).total_seconds())))
    enforce(decision)


async def check_refund(svc: Services, merchant_id: str, payment_id: str, amount: int) -> None:
    """Before a merchant's refund is reserved: raises on an enforced block."""
    await check(svc, Subject(REFUND, merchant_id, amount), object_id=payment_id)


async def check_callback(svc: Services, channel: str, remote: str | None, merchant_id: str | None) -> bool:
    """On a verified callback: True when an enforced ``callback_source`` rule refuses its source address
    (the caller rejects it); a monitor-mode hit is recorded and logged only."""
    subject = Subject(CALLBACK, merchant_id, ip=remote, channel=channel)
    decision = await record_decision(svc, subject, await evaluate(svc, subject))
    for hit in decision.hits:
        log.warning("callback source: %s callback from %s (%s, rule %s)", channel, remote, hit.mode, hit.rule_id)
    return decision.decision == "block"


async def _remember(svc: Services, payment_id: str, merchant_id: str, amount: int, ip: str | None,
                    payer: str | None, expires_in: int) -> None:
    """The payment's IP and payer, for :func:`after_paid` (best effort: the cache may forget)."""
    if not (ip or payer):
        return
    try:
        await svc.cache.set(f"risk:ctx:{payment_id}", dumps({"m": merchant_id, "a": amount, "ip": ip, "payer": payer}),
                            min(CONTEXT_TTL, expires_in + 3600))
    except Exception:
        log.warning("risk context of %s not kept (cache unavailable)", payment_id)


async def after_paid(svc: Services, payment_id: str) -> None:
    """A payment was paid: its IP and payer have paid (unpaid-code velocity), the payer's history grows
    (the anomaly rule's average). Never raises: history is best effort."""
    try:
        raw = await svc.cache.get(f"risk:ctx:{payment_id}")
        if not raw:
            return
        ctx = json.loads(raw)
        now = str(time.time())
        for kind in ("ip", "payer"):
            if ctx.get(kind):
                await svc.cache.set(f"risk:paid:{ctx['m']}:{kind}:{ctx[kind]}", now, PAID_TTL)
        if ctx.get("payer"):
            key = f"risk:ph:{ctx['m']}:{ctx['payer']}"
            count, _, total = (await svc.cache.get(key) or "0 0").partition(" ")
            await svc.cache.set(key, f"{int(count) + 1} {int(total) + int(ctx['a'])}", HISTORY_TTL)
    except Exception:
        log.warning("risk history of %s not fed", payment_id, exc_info=True)
