"""Outgoing notifications, as WeChat sends them: encrypted resource, signed headers, retried on
WeChat's schedule until the merchant answers 200 or 204. Callback faults are applied here.

The delivery tasks belong to the app: :meth:`Notifier.close` (from a cleanup context) cancels them.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import string
import uuid
from collections.abc import Coroutine
from typing import Any

import aiohttp

from gateway.crypto import aead
from gateway.sandbox.wechat.state import SandboxState, now, rfc3339

log = logging.getLogger(__name__)

# WeChat's documented retry intervals after a failed delivery, in seconds (15 retries at most).
RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
ACK_STATUSES = frozenset({200, 204})


def _nonce() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))


class Notifier:
    def __init__(self, state: SandboxState, http: aiohttp.ClientSession, time_scale: float) -> None:
        self._state = state
        self._http = http
        self._scale = time_scale
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent = 0
        self._sent_changed = asyncio.Condition()

    def envelope(self, event_type: str, original_type: str, summary: str, resource: dict[str, Any]) -> bytes:
        nonce = _nonce()
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
        return json.dumps({
            "id": str(uuid.uuid4()), "create_time": rfc3339(now()), "resource_type": "encrypt-resource",
            "event_type": event_type, "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": aead.encrypt(self._state.apiv3_key, nonce, original_type, plaintext),
                         "associated_data": original_type, "nonce": nonce},
        }, ensure_ascii=False, separators=(",", ":")).encode()

    def send(self, url: str, event_type: str, original_type: str, summary: str,
             resource: dict[str, Any]) -> None:
        body = self.envelope(event_type, original_type, summary, resource)
        self.spawn(self._deliver(url, body, self._state.faults.take_callback()))

    async def _deliver(self, url: str, body: bytes, fault: dict[str, Any] | None) -> None:
        mode = (fault or {}).get("mode")
        seconds = float((fault or {}).get("seconds", 2))
        if mode == "delay":
            await asyncio.sleep(seconds)
        elif mode == "reorder":
            await self._wait_for_another(seconds)
        for attempt, wait in enumerate((0, *RETRY_SCHEDULE)):
            await asyncio.sleep(wait * self._scale)
            if mode == "drop" and attempt == 0:
                continue  # lost on the way: no ack, so WeChat's retries take over
            delivered = await self._post(url, body)
            if mode == "duplicate" and attempt == 0:
                delivered = await self._post(url, body) or delivered
            if delivered:
                return
        log.info("notification to %s abandoned after %d attempts", url, len(RETRY_SCHEDULE) + 1)

    async def _wait_for_another(self, seconds: float) -> None:
        """Hold this notification until a later one has been delivered (or ``seconds`` passed)."""
        start = self._sent
        try:
            async with self._sent_changed:
                await asyncio.wait_for(self._sent_changed.wait_for(lambda: self._sent > start), seconds)
        except TimeoutError:
            pass

    async def _post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> bool:
        headers = headers or self._state.signed_headers(body)
        status = await self.post_once(url, body, headers)
        if status is None:
            return False
        self._state.notifications_sent += 1
        self._sent += 1
        async with self._sent_changed:
            self._sent_changed.notify_all()
        return status in ACK_STATUSES

    async def post_once(self, url: str, body: bytes, headers: dict[str, str]) -> int | None:
        try:
            async with self._http.post(url, data=body, timeout=aiohttp.ClientTimeout(total=5),
                                       headers={**headers, "Content-Type": "application/json",
                                                "User-Agent": "Mozilla/4.0 (sandbox wechatpay notify)"}) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def probe(self, url: str) -> int | None:
        """A signature-probe callback: well formed, but its signature is WeChat's test marker; a
        merchant must refuse it (4xx/5xx)."""
        body = self.envelope("TRANSACTION.SUCCESS", "transaction", "支付成功", {"probe": True})
        headers = self._state.signed_headers(body)
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + base64.b64encode(secrets.token_bytes(192)).decode()
        return await self.post_once(url, body, headers)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run app-owned background work (refund completion) that :meth:`close` will cancel."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
