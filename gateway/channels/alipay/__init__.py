"""Alipay OpenAPI (gateway.do, RSA2): precreate QR, WAP and PC page pay, APP pay, query, close, refund,
bills.

Credentials of one Alipay app: ``app_id``, ``seller_id`` (the 2088… PID), ``app_private_key`` and
``alipay_public_key`` (PEM or the bare base64 the console shows), optionally ``alipay_public_keys``: a
list of Alipay public keys all accepted while Alipay's key is being rotated.

An app in public-key **certificate mode** has, instead of ``alipay_public_key``: ``app_cert`` (its
appCertPublicKey .crt, PEM), ``alipay_cert`` (alipayCertPublicKey_RSA2.crt) and ``alipay_root_cert``
(alipayRootCert.crt, the whole bundle); optionally ``alipay_certs``, more Alipay certificates already
trusted. Alipay's later certificates are fetched when an answer names them (:mod:`.certmode`).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import aiohttp

from gateway.channels.alipay import certmode
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


def cert_store(credentials: Mapping[str, Any]) -> certmode.CertStore | None:
    """The certificate-mode material of an app's credentials (``None``: public-key mode). An app is in
    certificate mode when it has ``app_cert``; then ``alipay_cert`` and ``alipay_root_cert`` are needed."""
    if not credentials.get("app_cert"):
        return None
    missing = [name for name in ("alipay_cert", "alipay_root_cert") if not credentials.get(name)]
    if missing:
        raise ValueError(f"alipay certificate mode needs {' and '.join(missing)}")
    return certmode.CertStore(app_cert=str(credentials["app_cert"]),
                              alipay_certs=[str(credentials["alipay_cert"]), *credentials.get("alipay_certs", ())],
                              root_bundle=str(credentials["alipay_root_cert"]))


class AlipayFactory(FactoryBase):
    name: ClassVar[str] = "alipay"
    methods: ClassVar[tuple[PayMethodSpec, ...]] = (
        PayMethodSpec("alipay_qr", ActionKind.QR, frozenset({"desktop"}), {"zh-CN": "支付宝", "en": "Alipay"},
                      rank=20),
        PayMethodSpec("alipay_wap", ActionKind.REDIRECT, frozenset({"mobile", "alipay"}),
                      {"zh-CN": "支付宝", "en": "Alipay"}, rank=20),
        PayMethodSpec("alipay_page", ActionKind.REDIRECT, frozenset({"desktop"}),
                      {"zh-CN": "支付宝网页支付", "en": "Alipay (web)"}, rank=30),
        # In the merchant's own app (API only: no browser completes it): see apppay.py.
        PayMethodSpec("alipay_app", ActionKind.APP, frozenset(), {"zh-CN": "支付宝", "en": "Alipay"}, rank=40),
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
    credential_fields: ClassVar[tuple[str, ...]] = (
        "app_id", "seller_id", "app_private_key", "alipay_public_key?", "alipay_public_keys?",
        "app_cert?", "alipay_cert?", "alipay_root_cert?", "alipay_certs?")
    required_identities: ClassVar[tuple[str, ...]] = ("app_id",)
    # auth_code: "25~30开头的长度为16~24位的数字" (Alipay's field doc)
    payment_codes: ClassVar[tuple[CodeRule, ...]] = (
        CodeRule(re.compile(r"(2[5-9]|30)\d{14,22}"), "Alipay: 16–24 digits starting 25–30", "alipay_barcode"),)

    def __init__(self, *, timeout: float = 15.0) -> None:
        super().__init__(timeout=timeout)

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str) -> AlipayChannel:
        certs = cert_store(credentials)
        if certs is not None:
            keys = list(certs.keys())
        else:
            texts = [credentials.get("alipay_public_key"), *credentials.get("alipay_public_keys", ())]
            keys = [rsa.load_public_key(t) for t in dict.fromkeys(t.strip() for t in texts if t)]
        if not keys:
            raise ValueError("alipay credentials need alipay_public_key (or, in certificate mode, app_cert, "
                             "alipay_cert and alipay_root_cert)")
        return AlipayChannel(
            app_id=str(credentials["app_id"]), seller_id=str(credentials["seller_id"]),
            app_private_key=rsa.load_private_key(credentials["app_private_key"]),
            alipay_public_keys=keys, http=http, base_url=base_url, timeout=self.timeout, certs=certs,
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
