"""Stored value (余额 / 积分): customers' balances and points at this merchant, spent in process.

No network and no callbacks: the channel works on the gateway's own wallets through the
:class:`~gateway.domain.wallet.StoredValue` port it is handed (:meth:`PrepaidFactory.bind`), so it never
imports the store. Pay methods ``balance`` (cash and bonus, bonus first) and ``points``; both need the
merchant's customer id (the API's ``customer_id``) and are not offered on the checkout page (a shopper
must not name another customer). An account has no secrets: ``set-channel --channel prepaid`` with ``{}``
(or a ``label``) enables it for a merchant.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from gateway.channels.base import (
    BillLine,
    BillTotals,
    EndpointSetting,
    FactoryBase,
    PayMethodSpec,
    Ports,
    RawCallback,
)
from gateway.channels.prepaid.client import PrepaidChannel
from gateway.domain.money import POINTS
from gateway.domain.pay import ActionKind

__all__ = ["PrepaidChannel", "PrepaidFactory"]


class PrepaidFactory(FactoryBase):
    name: ClassVar[str] = "prepaid"
    methods: ClassVar[tuple[PayMethodSpec, ...]] = (
        PayMethodSpec("balance", ActionKind.CONFIRM, frozenset(), {"zh-CN": "余额", "en": "Balance"}, rank=90,
                      needs_payer=True, payer_field="customer_id", manual_capture=True),
        PayMethodSpec("points", ActionKind.CONFIRM, frozenset(), {"zh-CN": "积分", "en": "Points"}, rank=91,
                      needs_payer=True, payer_field="customer_id", currency=POINTS),
    )
    settings: ClassVar[tuple[EndpointSetting, ...]] = ()  # in process: nothing to reach
    app_names: ClassVar[Mapping[str, str]] = {"zh-CN": "余额", "en": "Balance"}
    credential_fields: ClassVar[tuple[str, ...]] = ("label?",)
    in_process: ClassVar[bool] = True

    def __init__(self, *, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self._ports = Ports()

    def bind(self, ports: Ports) -> None:
        self._ports = ports

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession | None, base_url: str) -> PrepaidChannel:
        return PrepaidChannel(self._ports.stored_value, label=self.account_ref(credentials))

    def account_ref(self, credentials: Mapping[str, Any]) -> str:
        return str(credentials.get("label") or "stored-value")

    def acknowledge(self, ok: bool) -> tuple[int, str, bytes]:
        return 404, "text/plain", b"no callbacks"

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        return None

    def read_bill(self, path: Path, stated: BillTotals) -> Iterator[BillLine]:
        return iter(())  # no bill: the wallets are our own books (check-ledger covers them)
