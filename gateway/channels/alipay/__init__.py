"""Alipay OpenAPI (gateway.do, RSA2): precreate QR, WAP and PC page pay, query, close, refund, bills.

Credentials of one Alipay app: ``app_id``, ``seller_id`` (the 2088… PID), ``app_private_key`` and
``alipay_public_key`` (PEM or the bare base64 the console shows), optionally ``alipay_public_keys``: a
list of Alipay public keys all accepted while Alipay's key is being rotated.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import aiohttp

from gateway.channels.alipay import transformers as tx
from gateway.channels.alipay.client import AlipayChannel
from gateway.channels.base import BillLine, BillTotals, BillUnavailable, RawCallback
from gateway.crypto import rsa

__all__ = ["AlipayChannel", "AlipayFactory", "BillUnavailable"]


class AlipayFactory:
    name: ClassVar[str] = "alipay"
    pay_methods: ClassVar[frozenset[str]] = frozenset({"alipay_qr", "alipay_wap", "alipay_page"})

    def __init__(self, *, timeout: float = 15.0) -> None:
        self.timeout = timeout

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

    acknowledge = staticmethod(AlipayChannel.acknowledge)

    @staticmethod
    def read_bill(path: Path, stated: BillTotals) -> Iterator[BillLine]:
        """A bill file of :meth:`bill_download`, line by line; ``ValueError`` if malformed."""
        return tx.read_bill(path, stated)

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        """The ``app_id`` a notify claims, read before verification to pick the account's keys."""
        try:
            fields = dict(parse_qsl(raw.body.decode("latin-1"), keep_blank_values=True))
        except ValueError:
            return None
        return fields.get("app_id") or None
