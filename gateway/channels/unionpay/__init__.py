"""UnionPay online payments (ACP 5.1.0, 全渠道, signMethod 01): consumer-scanned QR, mobile web and PC
gateway consume (a form the shopper's browser posts), query, consume undo / refund, notifications and
the ZM reconciliation file.

Credentials of one merchant: ``mer_id`` (15 digits), ``sign_private_key`` and ``sign_certificate``
(PEM; the ``.pfx`` UnionPay issues, split -- ``certId`` is the certificate's serial), or ``sign_pfx``
(base64) with ``sign_pfx_password``; ``root_certificate`` and ``middle_certificate`` (PEM) that
UnionPay's signing certificates must chain to; ``validate_cn_name`` (default true; the test
environment's certificates need false).
"""
from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_types
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway.channels.base import (
    BillLine,
    BillTotals,
    EndpointSetting,
    FactoryBase,
    PayMethodSpec,
    RawCallback,
)
from gateway.channels.unionpay import signing
from gateway.channels.unionpay.client import UnionPayChannel
from gateway.channels.unionpay.transformers import read_bill
from gateway.crypto import rsa, x509
from gateway.domain.barcode import CodeRule
from gateway.domain.pay import ActionKind

__all__ = ["UnionPayChannel", "UnionPayFactory"]

GATEWAY_URL = "GATEWAY_UNIONPAY_GATEWAY_URL"
_LABELS = {"zh-CN": "云闪付 / 银联", "en": "UnionPay"}


def _flag(value: Any, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def signing_material(credentials: Mapping[str, Any]) -> tuple[rsa.PrivateKey, str]:
    """The merchant's signing key and its ``certId``, from PEM fields or a base64 ``.pfx``."""
    if credentials.get("sign_pfx"):
        password = str(credentials.get("sign_pfx_password") or "").encode() or None
        key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(str(credentials["sign_pfx"])), password)
        if not isinstance(key, rsa_types.RSAPrivateKey) or cert is None:
            raise ValueError("unionpay sign_pfx holds no RSA key and certificate")
        return key, signing.cert_id(cert)
    return (rsa.load_private_key(str(credentials["sign_private_key"])),
            signing.cert_id(x509.load_pem(str(credentials["sign_certificate"]))))


# ACP's timing for a front consume (gateway/WAP): query at 5, 10, 30, 60 and 120 minutes after sending
# ("失败，处理中，查询不到订单均可能为中间状态"). The QR code's payment happens whenever the shopper scans,
# so it keeps the gateway's generic schedule.
FRONT_QUERY_AT = tuple(timedelta(minutes=m) for m in (5, 10, 30, 60, 120))


class UnionPayFactory(FactoryBase):
    name: ClassVar[str] = "unionpay"
    methods: ClassVar[tuple[PayMethodSpec, ...]] = (
        PayMethodSpec("unionpay_qr", ActionKind.QR, frozenset({"desktop"}), _LABELS, rank=40),
        PayMethodSpec("unionpay_wap", ActionKind.FORM_POST, frozenset({"mobile"}), _LABELS, rank=40,
                      query_at=FRONT_QUERY_AT),
        PayMethodSpec("unionpay_page", ActionKind.FORM_POST, frozenset({"desktop"}),
                      {"zh-CN": "银联网关支付", "en": "UnionPay (bank card, web)"}, rank=45,
                      query_at=FRONT_QUERY_AT),
    )
    settings: ClassVar[tuple[EndpointSetting, ...]] = (
        EndpointSetting(GATEWAY_URL, "https://gateway.95516.com",
                        "UnionPay ACP gateway host (test environment: https://gateway.test.95516.com); the "
                        "reconciliation file comes from the matching filedownload host.", "/unionpay",
                        browser_target=True),
    )
    app_names: ClassVar[Mapping[str, str]] = {"zh-CN": "云闪付", "en": "UnionPay"}
    in_app_marker: ClassVar[str | None] = None
    # Front consumes post a form to the gateway host (the setting above adds the configured one).
    form_targets: ClassVar[tuple[str, ...]] = ("https://gateway.95516.com",)
    credential_fields: ClassVar[tuple[str, ...]] = (
        "mer_id", "sign_private_key?", "sign_certificate?", "sign_pfx?", "sign_pfx_password?", "root_certificate",
        "middle_certificate", "validate_cn_name?")
    required_identities: ClassVar[tuple[str, ...]] = ("mer_id",)
    # 云闪付 / bank apps' payment codes: recognised (and refused by name) until UnionPay barcode pay exists.
    payment_codes: ClassVar[tuple[CodeRule, ...]] = (CodeRule(re.compile(r"62\d{17}"), "UnionPay: 19 digits starting 62"),)

    def __init__(self, *, timeout: float = 15.0) -> None:
        super().__init__(timeout=timeout)

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str) -> UnionPayChannel:
        key, cert_id = signing_material(credentials)
        middles = credentials["middle_certificate"]
        verifier = signing.CertVerifier(str(credentials["root_certificate"]),
                                        [middles] if isinstance(middles, str) else list(middles),
                                        validate_owner=_flag(credentials.get("validate_cn_name")))
        return UnionPayChannel(mer_id=str(credentials["mer_id"]), sign_key=key, cert_id=cert_id, verifier=verifier,
                               http=http, base_url=base_url, timeout=self.timeout)

    def account_ref(self, credentials: Mapping[str, Any]) -> str:
        return str(credentials.get("mer_id") or "")

    acknowledge = staticmethod(UnionPayChannel.acknowledge)

    @staticmethod
    def read_bill(path: Path, stated: BillTotals) -> Iterator[BillLine]:
        """A ZM file of :meth:`UnionPayChannel.bill_download`, line by line.

        The ZM file has no summary rows to check the lines against. What vouches for it is the signed
        file-transfer answer that carried it (its ``fileContent`` is under UnionPay's signature), so the
        totals of the lines read stand as the bill's stated totals."""
        for line in read_bill(path):
            stated.add(line)
            yield line
        stated.stated = True

    def return_trade_no(self, params: Mapping[str, str]) -> str | None:
        """The front return posts the signed consume fields: ``orderId`` is our attempt (without ``_``)."""
        from gateway.channels.unionpay.transformers import our_id

        order = params.get("orderId")
        return our_id(order) if order and params.get("txnType") == "01" else None

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        try:
            fields = dict(parse_qsl(raw.body.decode("latin-1"), keep_blank_values=True))
        except ValueError:
            return None
        return fields.get("merId") or None
