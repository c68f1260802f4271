"""When a refund the channel accepted becomes final: PROCESSING, then SUCCESS after a short delay (the
channels' default: a refund to the payer's balance lands within seconds to minutes), or at once.

``GET /_control/refund-timing`` shows it; ``POST /_control/refund-timing`` ``{"mode": "immediate"}`` or
``{"mode": "delayed", "seconds": 3}`` changes it. The delay is multiplied by the app's ``time_scale``. It
is configuration, like the time scale: ``/_control/reset`` keeps it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

DEFAULT_SECONDS = 3.0


@dataclass
class RefundTiming:
    time_scale: float = 1.0
    seconds: float = DEFAULT_SECONDS
    immediate: bool = False

    def delay(self) -> float | None:
        """Seconds until an accepted refund is final, or None: final in the answer itself."""
        return None if self.immediate else self.seconds * self.time_scale

    def as_json(self) -> dict[str, Any]:
        return {"mode": "immediate" if self.immediate else "delayed", "seconds": self.seconds,
                "time_scale": self.time_scale}

    def update(self, spec: dict[str, Any]) -> None:
        mode = spec.get("mode")
        if mode not in ("immediate", "delayed"):
            raise ValueError('mode must be "immediate" or "delayed"')
        seconds = spec.get("seconds", self.seconds)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds <= 86400:
            raise ValueError("seconds must be a number from 0 to 86400")
        self.immediate, self.seconds = mode == "immediate", float(seconds)


REFUND_TIMING = web.AppKey("sandbox_refund_timing", RefundTiming)


async def refund_timing(request: web.Request) -> web.Response:
    timing = request.app[REFUND_TIMING]
    if request.method == "POST":
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("body must be an object")
            timing.update(spec)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(timing.as_json())
