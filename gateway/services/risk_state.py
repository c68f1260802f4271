"""What the risk engine keeps in process: the rules and lists per merchant, read from the database at
most every :data:`FRESH_FOR` seconds (a change made through this process is seen at once; another
process's within that time). One per app, in :class:`gateway.services.context.Services`."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from gateway.services.fresh import FRESH_FOR, Fresh

__all__ = ["FRESH_FOR", "Lists", "RiskState"]

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
    rules: Fresh[str | None, list[Any]] = field(default_factory=Fresh)
    lists: Fresh[str | None, Lists] = field(default_factory=Fresh)
    # (merchant, Beijing day) → [count, amount] created: read from the database at most every FRESH_FOR
    # seconds, this process's own creates added in between
    totals: Fresh[tuple[str, str], list[int]] = field(default_factory=Fresh)

    def created(self, merchant_id: str, day: str, amount: int) -> None:
        """A payment this process is creating: counted in the day's totals it keeps."""
        item = self.totals.get((merchant_id, day))
        if item is not None:
            item[0] += 1
            item[1] += amount

    def forget(self, merchant_id: str | None) -> None:
        """After a change: this merchant's (all, for a global change) rules and lists are read again."""
        if merchant_id is None:
            self.rules.clear()
            self.lists.clear()
        else:
            self.rules.forget(merchant_id)
            self.lists.forget(merchant_id)
