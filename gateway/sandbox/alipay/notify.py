"""Async notifies as Alipay sends them: a signed form POST to the trade's notify_url, retried until the
answer body is exactly ``success`` -- at 4m, 10m, 10m, 1h, 2h, 6h, 15h (times ``time_scale``).

Deliveries run as tasks owned by the sandbox app: :meth:`Notifier.close` (its cleanup context)
cancels and awaits them.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlencode

import aiohttp

from gateway.channels.alipay import signing
from gateway.sandbox.alipay.state import CallbackFault, Delivery, SandboxState

log = logging.getLogger(__name__)

RETRY_DELAYS = (240.0, 600.0, 600.0, 3600.0, 7200.0, 21600.0, 54000.0)
POST_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Notifier:
    def __init__(self, state: SandboxState, http: aiohttp.ClientSession, time_scale: float = 1.0) -> None:
        self._state = state
        self._http = http
        self._scale = time_scale
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held: list[asyncio.Event] = []

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def send(self, url: str | None, params: dict[str, str], *, kind: str) -> Delivery | None:
        """Sign ``params`` (rsaCheckV1: ``sign`` and ``sign_type`` are not signed) and deliver them."""
        if not url:
            return None  # the trade had no notify_url: Alipay sends nothing
        params = {k: v for k, v in params.items() if v not in (None, "")}
        charset = params.get("charset", "utf-8")
        params["sign"] = signing.sign(self._state.alipay_key, signing.notify_sign_content(params), charset)
        body = urlencode(params, encoding=charset).encode("ascii")
        delivery = Delivery(notify_id=params["notify_id"], out_trade_no=params["out_trade_no"], kind=kind,
                            trade_status=params["trade_status"], url=url)
        self._state.deliveries.append(delivery)
        self.spawn(self._deliver(delivery, body, charset, self._state.take_callback_fault()))
        return delivery

    async def _deliver(self, delivery: Delivery, body: bytes, charset: str, fault: CallbackFault | None) -> None:
        mode = fault.mode if fault else None
        if fault and mode == "delay":
            await asyncio.sleep(fault.seconds)
        elif fault and mode == "reorder":
            held = asyncio.Event()
            self._held.append(held)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(held.wait(), fault.seconds)
        for attempt in range(len(RETRY_DELAYS) + 1):
            if attempt:
                await asyncio.sleep(RETRY_DELAYS[attempt - 1] * self._scale)
            if attempt == 0 and mode == "drop":
                delivery.attempts += 1
                delivery.answers.append("dropped")
                continue
            ok = await self._post(delivery, body, charset)
            if attempt == 0 and mode == "duplicate":
                ok = await self._post(delivery, body, charset) or ok
            if attempt == 0 and mode != "reorder":
                self._release_held()
            if ok:
                delivery.acked = True
                return
        log.info("alipay sandbox: notify %s given up after %d attempts", delivery.notify_id, delivery.attempts)

    def _release_held(self) -> None:
        held, self._held = self._held, []
        for event in held:
            event.set()

    async def _post(self, delivery: Delivery, body: bytes, charset: str) -> bool:
        delivery.attempts += 1
        headers = {"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}
        try:
            async with self._http.post(delivery.url, data=body, headers=headers, timeout=POST_TIMEOUT) as resp:
                answer = await resp.read()
                delivery.answers.append(f"{resp.status} {answer[:40]!r}")
                # Only these 7 bytes stop the retries; "SUCCESS", "success\n" or a 204 do not.
                return answer == b"success"
        except (TimeoutError, aiohttp.ClientError) as exc:
            delivery.answers.append(type(exc).__name__)
            return False
