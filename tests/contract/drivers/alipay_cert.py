"""The contract driver for Alipay in public-key certificate mode: the same sandbox, the merchant's Alipay
account configured with certificates (app certificate, Alipay certificate, root bundle) instead of
Alipay's bare public key -- so every request carries ``app_cert_sn`` / ``alipay_root_cert_sn`` and every
answer is verified under the certificate its ``alipay_cert_sn`` names."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from gateway.channels.base import Channel
from gateway.services.merchants import set_channel_account
from tests.contract.drivers.alipay import AlipayDriver
from tests.factories import Gateway, Merchant

CERT_FIELDS = ("app_id", "seller_id", "app_private_key", "app_cert", "alipay_cert", "alipay_root_cert")


class AlipayCertDriver(AlipayDriver):
    label: str = "alipay_cert"
    pay_methods: tuple[str, ...] = ("alipay_qr", "alipay_app")  # the transport is the same for the others

    def __init__(self) -> None:
        self._prepared: set[str] = set()

    def check_next_action(self, pay_method: str, action: dict[str, Any]) -> None:
        super().check_next_action(pay_method, action)
        if pay_method == "alipay_app":  # the order string is a request like any other: it carries the SNs
            fields = dict(parse_qsl(action["params"]["order_string"]))
            assert fields["app_cert_sn"] and fields["alipay_root_cert_sn"], fields

    async def _credentials(self, gw: Gateway) -> dict[str, Any]:
        async with gw.http.get(f"{gw.url}/sandbox/alipay/_control/cert-credentials") as resp:
            assert resp.status == 200, await resp.text()
            data = await resp.json()
        return {k: data[k] for k in CERT_FIELDS}

    async def prepare(self, gw: Gateway, m: Merchant) -> None:
        """Switch the merchant's Alipay account to certificate mode (tried against the sandbox first)."""
        if m.id in self._prepared:
            return
        await set_channel_account(gw.svc.db, gw.svc.settings, gw.svc.registry, m.id, "alipay",
                                  await self._credentials(gw), http=gw.http)
        self._prepared.add(m.id)

    def open(self, gw: Gateway) -> Channel:
        from gateway import keys

        sandbox_keys = gw.app[keys.SANDBOX_KEYS]["alipay"]
        credentials = {k: sandbox_keys[k] for k in CERT_FIELDS}
        return gw.svc.registry.channel(self.name).open(credentials, gw.http, f"{gw.url}/sandbox/alipay/gateway.do")
