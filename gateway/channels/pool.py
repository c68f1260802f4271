"""Open channel accounts: unseal their credentials once and keep one long-lived channel per account
(a WeChat account keeps its platform-certificate cache across requests)."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import aiohttp

from gateway.channels.base import Channel
from gateway.channels.registry import Registry
from gateway.config import Settings
from gateway.crypto.secrets import seal, unseal
from gateway.observability.metrics import CHANNEL_OUTCOMES, Metrics

log = logging.getLogger(__name__)

# A channel_accounts row, as the store hands it over (the channels never import the store).
Row = Mapping[str, Any]


def seal_credentials(settings: Settings, channel: str, credentials: dict[str, Any]) -> str:
    return seal(settings.secret_key, f"channel:{channel}", json.dumps(credentials))


class ChannelPool:
    def __init__(self, settings: Settings, registry: Registry, http: aiohttp.ClientSession, *,
                 metrics: Metrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._registry = registry
        self._http = http
        self._open: dict[str, tuple[str, Channel]] = {}

    def credentials(self, account: Row) -> dict[str, Any]:
        """An account's unsealed credentials (for a factory's account-level steps, e.g. the payer's identity)."""
        return json.loads(unseal(self._settings.secret_key, f"channel:{account['channel']}",
                                 account["credentials_sealed"]))

    def get(self, account: Row) -> Channel:
        """The channel for an account row; re-opened when its sealed credentials changed."""
        cached = self._open.get(account["id"])
        if cached and cached[0] == account["credentials_sealed"]:
            return cached[1]
        factory = self._registry.channel(account["channel"])
        endpoint = self._settings.endpoint(factory.settings[0]) if factory.settings else ""  # "": in process
        channel = factory.open(self.credentials(account), self._http, endpoint)
        if self._metrics is not None:
            channel = cast(Channel, Measured(channel, account["channel"], self._metrics))
        self._open[account["id"]] = (account["credentials_sealed"], channel)
        return channel


# The calls measured, by the operation label they get.
OPERATIONS = {"create": "create", "query": "query", "close": "close", "refund": "refund",
              "query_refund": "refund_query", "bill": "bill", "bill_download": "bill", "check": "check"}


class Measured:
    """A channel whose calls are counted and timed (``gateway_channel_requests_total`` /
    ``_duration_seconds``, by channel, operation and outcome), and whose declines are logged: the one
    place every channel call passes. Anything else is the wrapped channel's own."""

    def __init__(self, channel: Channel, name: str, metrics: Metrics) -> None:
        self._channel, self._name, self._metrics = channel, name, metrics

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._channel, attr)
        operation = OPERATIONS.get(attr)
        if operation is None:
            return value
        return self._measure(operation, value)

    def _measure(self, operation: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def measured(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await call(*args, **kwargs)
                raw = getattr(result, "outcome", None)
                outcome = CHANNEL_OUTCOMES.get(str(raw), "ok") if raw is not None else "ok"
                if outcome == "declined":
                    log.warning("%s %s declined: %s %s", self._name, operation, getattr(result, "error_code", None),
                                getattr(result, "error_message", None),
                                extra={"channel": self._name, "operation": operation})
                return result
            finally:
                self._metrics.channel_call(self._name, operation, outcome, time.perf_counter() - started)

        return measured
