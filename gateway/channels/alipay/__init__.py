"""Alipay OpenAPI (gateway.do, RSA2): precreate QR, WAP and PC page pay, query, close, refund, bills.

Credentials of one Alipay app: ``app_id``, ``seller_id`` (the 2088… PID), ``app_private_key`` and
``alipay_public_key`` (PEM or the bare base64 the console shows), optionally ``alipay_public_keys``: a
list of Alipay public keys all accepted while Alipay's key is being rotated.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import aiohttp

from gateway.channels.alipay import transformers as tx
from gateway.channels.alipay.client import AlipayChannel
from gateway.channels.base import (
    BillLine,
    BillTotals,
    BillUnavailable,
    EndpointSetting,
    FactoryBase,
    PayMethodSpec,
    RawCallback,
)
from gateway.crypto import rsa
from gateway.domain.barcode import QUERY_AT as BARCODE_QUERIES
from gateway.domain.barcode import CodeRule
from gateway.domain.pay import ActionKind

__all__ = ["AlipayChannel", "AlipayFactory", "BillUnavailable"]


class AlipayFactory(FactoryBase):
    name: ClassVar[str] = "alipay"
    methods: ClassVar[tuple[PayMethodSpec, ...]] = (
        PayMethodSpec("alipay_qr", ActionKind.QR, frozenset({"desktop"}), {"zh-CN": "支付宝", "en": "Alipay"},
                      rank=20),
        PayMethodSpec("alipay_wap", ActionKind.REDIRECT, frozenset({"mobile", "alipay"}),
                      {"zh-CN": "支付宝", "en": "Alipay"}, rank=20),
        PayMethodSpec("alipay_page", ActionKind.REDIRECT, frozenset({"desktop"}),
                      {"zh-CN": "支付宝网页支付", "en": "Alipay (web)"}, rank=30),
        # The merchant scans the shopper's code: never offered on the checkout page (no browser pays it).
        PayMethodSpec("alipay_barcode", ActionKind.CONFIRM, frozenset(), {"zh-CN": "支付宝付款码", "en": "Alipay code"},
                      rank=95, needs_payer=True, payer_field="auth_code", query_at=BARCODE_QUERIES),
    )
    settings: ClassVar[tuple[EndpointSetting, ...]] = (
        EndpointSetting("GATEWAY_ALIPAY_GATEWAY_URL", "https://openapi.alipay.com/gateway.do",
                        "Alipay OpenAPI gateway.", "/alipay/gateway.do", browser_target=True),
    )
    app_names: ClassVar[Mapping[str, str]] = {"zh-CN": "支付宝", "en": "Alipay"}
    in_app_marker: ClassVar[str | None] = "AlipayClient"
    # WAP and page pay answer a form post with a redirect to Alipay's cashier.
    form_targets: ClassVar[tuple[str, ...]] = ("https://openapi.alipay.com", "https://mapi.alipay.com",
                                               "https://*.alipay.com")
    credential_fields: ClassVar[tuple[str, ...]] = ("app_id", "seller_id", "app_private_key", "alipay_public_key",
                                                    "alipay_public_keys?")
    required_identities: ClassVar[tuple[str, ...]] = ("app_id",)
    # auth_code: "25~30开头的长度为16~24位的数字" (Alipay's field doc)
    payment_codes: ClassVar[tuple[CodeRule, ...]] = (
        CodeRule(re.compile(r"(2[5-9]|30)\d{14,22}"), "Alipay: 16–24 digits starting 25–30", "alipay_barcode"),)

    def __init__(self, *, timeout: float = 15.0) -> None:
        super().__init__(timeout=timeout)

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str) -> AlipayChannel:
        texts = [credentials.get("alipay_public_key"), *credentials.get("alipay_public_keys", ())]
        keys = [rsa.load_public_key(t) for t in dict.fromkeys(t.strip() for t in texts if t)]
        if not keys:
            raise ValueError("alipay credentials need alipay_public_key")
        return AlipayChannel(
            app_id=str(credentials["app_id"]), seller_id=str(credentials["seller_id"]),
            app_private_key=rsa.load_private_key(credentials["app_private_key"]),
            alipay_public_keys=keys, http=http, base_url=base_url, timeout=self.timeout,
        )

    def account_ref(self, credentials: Mapping[str, Any]) -> str:
        return str(credentials.get("app_id") or "")

    acknowledge = staticmethod(AlipayChannel.acknowledge)

    @staticmethod
    def read_bill(path: Path, stated: BillTotals) -> Iterator[BillLine]:
        """A bill file of :meth:`bill_download`, line by line; ``ValueError`` if malformed."""
        return tx.read_bill(path, stated)

    def return_trade_no(self, params: Mapping[str, str]) -> str | None:
        """Page and WAP pay send the shopper back with the signed trade parameters."""
        return params.get("out_trade_no") or None

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        """The ``app_id`` a notify claims, read before verification to pick the account's keys."""
        try:
            fields = dict(parse_qsl(raw.body.decode("latin-1"), keep_blank_values=True))
        except ValueError:
            return None
        return fields.get("app_id") or None
