"""Everything a use case needs, built once by the app and passed explicitly -- no globals."""
from __future__ import annotations

from dataclasses import dataclass, field

from gateway.cache.base import Cache
from gateway.cache.status import StatusBus
from gateway.channels.pool import ChannelPool
from gateway.channels.registry import Registry
from gateway.config import Settings
from gateway.observability.metrics import Metrics
from gateway.services.fresh import Fresh
from gateway.services.merchants import Authenticator
from gateway.services.risk_state import RiskState
from gateway.store.base import Row
from gateway.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    cache: Cache
    registry: Registry
    pool: ChannelPool
    status: StatusBus
    auth: Authenticator
    metrics: Metrics = field(default_factory=Metrics)  # the app's own (a fresh one for tools and tests)
    risk: RiskState = field(default_factory=RiskState)  # the risk engine's rules and lists, cached
    accounts: Fresh[str, list[Row]] = field(default_factory=Fresh)  # merchant → its channel accounts
    merchants: Fresh[str, Row] = field(default_factory=Fresh)  # merchant → its row, as the checkout shows it

    def url(self, path: str) -> str:
        return f"{self.settings.public_url}{path}"

    def notify_url(self, channel: str) -> str:
        return self.url(f"/notify/{channel}")
