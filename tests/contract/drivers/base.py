"""What the contract suite needs to know about a channel, and nothing more: :class:`ChannelDriver`.

The suite speaks the gateway's merchant API and reads the gateway's tables; everything that differs
between channels -- pay methods and their extra create fields, the sandbox's shopper page, its fault
controls, its callback format and keys, its timezone -- stays behind these few members.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from gateway.channels.base import Channel
from tests.factories import Gateway

# The fault vocabulary of the suite; each driver maps it onto its sandbox's controls.
LOSE_CALLBACKS = "lose_callbacks"          # no payment callback reaches the gateway for the rest of the test
DUPLICATE_CALLBACK = "duplicate_callback"  # the next callback is delivered twice


class ChannelDriver(Protocol):
    name: str                      # the channel's name in the registry and in ``/notify/{name}``
    pay_methods: tuple[str, ...]   # every pay method the merchant API can create for it
    queries_by_channel_trade_no: bool  # the channel finds a trade by its own number alone

    def create_fields(self, pay_method: str) -> dict[str, Any]:
        """Extra fields of the merchant API's create request this pay method needs (e.g. a payer id)."""
        ...

    def check_next_action(self, pay_method: str, action: dict[str, Any]) -> None:
        """Assert a pending payment's ``next_action`` is what this pay method hands the shopper."""
        ...

    async def fault(self, gw: Gateway, kind: str) -> None:
        """Inject a fault of the suite's vocabulary (``LOSE_CALLBACKS``, ``DUPLICATE_CALLBACK``)."""
        ...

    def payment_callback(self, gw: Gateway, trade_no: str, amount: int, *,
                         genuine: bool = True) -> tuple[bytes, dict[str, str]]:
        """A "paid" callback for our attempt ``trade_no`` as the channel would send it (body, headers);
        not ``genuine``: the same, signed with a key that is not the channel's."""
        ...

    def open(self, gw: Gateway) -> Channel:
        """The sandbox merchant account, opened the way the gateway opens it, against ``gw``'s sandbox."""
        ...

    def today(self) -> date:
        """Today, as the channel dates its bills."""
        ...
