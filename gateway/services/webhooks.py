"""Merchant webhooks, per the Standard Webhooks specification.

Every delivery carries ``webhook-id`` (the event id: the same on every retry, so a receiver can drop
repeats), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``: space-separated
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed by the base64-decoded part of the
merchant's ``whsec_`` secret. While a secret rotation is in its grace period the message is signed with
both the new and the previous secret, so a receiver holding either one verifies it.

Where: the merchant's ``webhook_url`` -- except for the events of a payment created with a
``notify_url`` (``payment.*``, and ``refund.*`` of its refunds), which go to that URL *instead* (see
:func:`target_url`). Instead, not as well: a merchant coming from Jeepay sets ``notify_url`` per order
and expects that order's notices there alone; sending each event to two endpoints would make a merchant
with both process it twice (the two could not even share the ``webhook-id`` dedupe across hosts). Signed
with the same secret, on the same schedule, with the same log.

Delivery is at least once: 2xx is done, anything else (including 3xx, timeouts and refused connections)
is retried on :data:`gateway.domain.schedule.WEBHOOK_BACKOFF` -- 8 attempts over 27.6 hours. Secrets are
rotated by :func:`gateway.services.merchants.rotate_webhook_secret`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.crypto.secrets import unseal
from gateway.domain.errors import InvalidState
from gateway.services.context import Services
from gateway.services.views import iso
from gateway.store import events as events_repo
from gateway.store import merchants as merchants_repo
from gateway.store import payments as payments_repo
from gateway.store.base import Row, utcnow

PREFIX = "whsec_"
TOLERANCE = 300  # seconds a receiver accepts a timestamp away from its clock
EXCERPT = 512


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets)}


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> bool:
    """What a receiver does (our tests check it against the reference library too)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts = lower.get("webhook-id", ""), lower.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit() or abs((now or time.time()) - int(ts)) > TOLERANCE:
        return False
    expected = sign(secret, msg_id, int(ts), body)
    return any(hmac.compare_digest(expected, s) for s in lower.get("webhook-signature", "").split())


def active_secrets(svc: Services, merchant: Row, now: datetime) -> list[str]:
    master = svc.settings.secret_key
    out = [unseal(master, "webhook", merchant["webhook_secret_sealed"])]
    prev_until = merchant["webhook_secret_prev_until"]
    if merchant["webhook_secret_prev_sealed"] and prev_until and prev_until > now:
        out.append(unseal(master, "webhook", merchant["webhook_secret_prev_sealed"]))
    return out


@dataclass(frozen=True)
class Attempt:
    url: str
    ok: bool
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None


def _data(event: Row) -> dict[str, Any]:
    return json.loads(event["payload"]).get("data") or {}


def _about_a_refund(data: Mapping[str, Any]) -> bool:
    """A refund event: where it goes depends on its payment's ``notify_url``, which must be read."""
    return data.get("object") == "refund" and bool(data.get("payment_id"))


def _target(data: Mapping[str, Any], merchant: Row | None, payment_notify_url: str | None) -> str | None:
    notify = data.get("notify_url") if data.get("object") == "payment" else payment_notify_url
    return notify or (merchant["webhook_url"] if merchant is not None else None) or None


async def target_url(conn: AsyncConnection, event: Row, merchant: Row | None) -> str | None:
    """Where an event goes: the ``notify_url`` of the payment it is about (a payment event carries it;
    a refund event's payment is read), if that payment has one; else the merchant's ``webhook_url``."""
    data = _data(event)
    notify = None
    if _about_a_refund(data):
        payment = await payments_repo.get_payment(conn, str(data["payment_id"]), event["merchant_id"])
        notify = payment["notify_url"] if payment is not None else None
    return _target(data, merchant, notify)


async def attempt(svc: Services, http: aiohttp.ClientSession, event: Row, merchant: Row | None = None) -> Attempt:
    """POST one event to its endpoint (:func:`target_url`), once. Never raises for the endpoint's faults.
    ``merchant``: its row if the caller has it (read for a whole batch); then only a refund event reads."""
    data = _data(event)
    if merchant is None or _about_a_refund(data):
        async with svc.db.read() as conn:
            merchant = merchant or await merchants_repo.get_merchant(conn, event["merchant_id"])
            url = await target_url(conn, event, merchant) or ""
    else:
        url = _target(data, merchant, None) or ""
    if merchant is None or not url:
        return Attempt(url or "-", False, None, 0, None, "no webhook_url configured")
    body = event["payload"].encode()
    headers = signed_headers(active_secrets(svc, merchant, utcnow()), event["id"], int(time.time()), body)
    headers["Content-Type"] = "application/json"
    started = time.monotonic()
    try:
        async with http.post(url, data=body, headers=headers, allow_redirects=False,
                             timeout=aiohttp.ClientTimeout(total=svc.settings.webhook_timeout)) as resp:
            text = (await resp.content.read(4096)).decode("utf-8", "replace")
            ms = int((time.monotonic() - started) * 1000)
            return Attempt(url, 200 <= resp.status < 300, resp.status, ms, text[:EXCERPT] or None,
                           None if 200 <= resp.status < 300 else f"HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        ms = int((time.monotonic() - started) * 1000)
        return Attempt(url, False, None, ms, None, f"{type(exc).__name__}: {exc}"[:256])


def event_view(e: Row, deliveries: list[Row] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": e["id"], "object": "event", "type": e["type"], "created_at": iso(e["created_at"]),
        "data": json.loads(e["payload"]).get("data"), "delivery_status": e["delivery_status"],
        "attempts": e["attempts"], "next_attempt_at": iso(e["next_attempt_at"]),
        "delivered_at": iso(e["delivered_at"]),
    }
    if deliveries is not None:
        view["deliveries"] = [{
            "attempt": d["attempt"], "url": d["url"], "status_code": d["status_code"],
            "latency_ms": d["latency_ms"], "response_excerpt": d["response_excerpt"], "error": d["error"],
            "attempted_at": iso(d["attempted_at"])} for d in deliveries]
    return view


async def require_endpoint(svc: Services, merchant_id: str, event_id: str | None = None) -> None:
    """409 unless there is somewhere to deliver to: the event's own target if ``event_id`` is given
    (an unknown event passes here, to be a 404 later), else the merchant's webhook_url."""
    async with svc.db.read() as conn:
        merchant = await merchants_repo.get_merchant(conn, merchant_id)
        event = await events_repo.get_event(conn, merchant_id, event_id) if event_id else None
        if event is not None:
            if await target_url(conn, event, merchant):
                return
        elif merchant is not None and merchant["webhook_url"]:
            return
    raise InvalidState("No webhook_url is configured for this merchant (nor a notify_url on the payment); "
                       "nothing to deliver to")
