"""What the risk engine keeps in process: the rules and lists per merchant, read from the database at
most every :data:`FRESH_FOR` seconds (a change made through this process is seen at once; another
process's within that time). One per app, in :class:`gateway.services.context.Services`."""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

FRESH_FOR = 5.0  # seconds

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Lists:
    networks: tuple[Network, ...] = ()
    payers: frozenset[str] = frozenset()

    def has_ip(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in n for n in self.networks)


@dataclass
class RiskState:
    rules: dict[str | None, tuple[float, list[Any]]] = field(default_factory=dict)
    lists: dict[str | None, tuple[float, Lists]] = field(default_factory=dict)
    # (merchant, Beijing day) → [count, amount] created: read from the database at most every FRESH_FOR
    # seconds, this process's own creates added in between
    totals: dict[Any, tuple[float, list[int]]] = field(default_factory=dict)

    def created(self, merchant_id: str, day: str, amount: int) -> None:
        """A payment this process is creating: counted in the day's totals it keeps."""
        item = self.totals.get((merchant_id, day))
        if item is not None:
            item[1][0] += 1
            item[1][1] += amount

    def fresh(self, cache: dict[Any, tuple[float, Any]], merchant_id: Any) -> Any | None:
        item = cache.get(merchant_id)
        return item[1] if item is not None and item[0] > time.monotonic() else None

    def keep(self, cache: dict[Any, tuple[float, Any]], merchant_id: Any, value: Any,
             for_seconds: float = FRESH_FOR) -> None:
        if len(cache) > 10_000:
            cache.clear()
        cache[merchant_id] = (time.monotonic() + min(FRESH_FOR, for_seconds), value)

    def forget(self, merchant_id: str | None) -> None:
        """After a change: this merchant's (all, for a global change) rules and lists are read again."""
        if merchant_id is None:
            self.rules.clear()
            self.lists.clear()
        else:
            self.rules.pop(merchant_id, None)
            self.lists.pop(merchant_id, None)
