"""Open channel accounts: unseal their credentials once and keep one long-lived channel per account
(a WeChat account keeps its platform-certificate cache across requests)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from gateway.channels.base import Channel
from gateway.channels.registry import Registry
from gateway.config import Settings
from gateway.crypto.secrets import seal, unseal

# A channel_accounts row, as the store hands it over (the channels never import the store).
Row = Mapping[str, Any]


def seal_credentials(settings: Settings, channel: str, credentials: dict[str, Any]) -> str:
    return seal(settings.secret_key, f"channel:{channel}", json.dumps(credentials))


class ChannelPool:
    def __init__(self, settings: Settings, registry: Registry, http: aiohttp.ClientSession) -> None:
        self._settings = settings
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
        self._open[account["id"]] = (account["credentials_sealed"], channel)
        return channel
