"""Outgoing notifications, as WeChat sends them: an encrypted resource in a JSON envelope, signed headers
(fresh for every attempt), retried on WeChat's schedule until the merchant answers 200 or 204.
Delivery, time compression and callback faults are the kit's (:mod:`gateway.sandbox.kit.notifier`).
"""
from __future__ import annotations

import base64
import json
import secrets
import string
import uuid
from typing import Any

from gateway.crypto import aead
from gateway.sandbox.kit import Delivery, Message, Notifier, Schedule
from gateway.sandbox.wechat.state import SandboxState, now, rfc3339

# WeChat's documented retry intervals after a failed delivery, in seconds (15 retries at most).
SCHEDULE = Schedule(retry_delays=(15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600,
                                  21600), post_timeout=5.0)
ACK_STATUSES = frozenset({200, 204})
_HEADERS = {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0 (sandbox wechatpay notify)"}


def _nonce() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))


def envelope(state: SandboxState, event_type: str, original_type: str, summary: str,
             resource: dict[str, Any]) -> bytes:
    nonce = _nonce()
    plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
    return json.dumps({
        "id": str(uuid.uuid4()), "create_time": rfc3339(now()), "resource_type": "encrypt-resource",
        "event_type": event_type, "summary": summary,
        "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": aead.encrypt(state.apiv3_key, nonce, original_type, plaintext),
                     "associated_data": original_type, "nonce": nonce},
    }, ensure_ascii=False, separators=(",", ":")).encode()


def message(state: SandboxState, body: bytes) -> Message:
    return Message(body=body, headers=lambda: {**state.signed_headers(body), **_HEADERS},
                   acked=lambda status, _: status in ACK_STATUSES)


def send(notifier: Notifier, state: SandboxState, url: str, event_type: str, original_type: str, summary: str,
         resource: dict[str, Any]) -> Delivery:
    body = envelope(state, event_type, original_type, summary, resource)
    delivery = Delivery(trade=str(resource.get("out_trade_no", "")), event=event_type, url=url,
                        kind="payment" if original_type == "transaction" else original_type,
                        id=json.loads(body)["id"])
    return notifier.send(delivery, message(state, body))


async def probe(notifier: Notifier, state: SandboxState, url: str) -> int | None:
    """A signature-probe callback: well formed, but its signature is WeChat's test marker; a merchant must
    refuse it (4xx/5xx)."""
    body = envelope(state, "TRANSACTION.SUCCESS", "transaction", "支付成功", {"probe": True})
    headers = {**state.signed_headers(body), **_HEADERS}
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + base64.b64encode(secrets.token_bytes(192)).decode()
    status, _ = await notifier.post_once(url, body, headers)
    return status
