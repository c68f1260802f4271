"""WeChat Pay APIv3 (direct merchant): Native QR, H5 and JSAPI payments.

``WechatFactory().open(credentials, http, base_url)`` gives a long-lived :class:`WechatChannel`.
Credentials: ``mchid``, ``appid``, ``merchant_serial``, ``merchant_private_key`` (PEM), ``apiv3_key``
(32 characters), and WeChat's verification keys in one or both modes -- ``platform_certificates`` (PEM
list, refreshed from ``GET /v3/certificates`` on an unknown serial) and ``public_key_id`` +
``public_key`` (PEM).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from gateway.channels.base import BillLine, BillTotals, BillUnavailable, RawCallback
from gateway.channels.wechat import transformers as tf
from gateway.channels.wechat.client import WechatChannel

__all__ = ["BillUnavailable", "WechatChannel", "WechatFactory"]


class WechatFactory:
    name: ClassVar[str] = "wechat"
    pay_methods: ClassVar[frozenset[str]] = frozenset({"wechat_native", "wechat_h5", "wechat_jsapi"})

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str) -> WechatChannel:
        return WechatChannel(credentials, http, base_url, timeout=self.timeout)

    acknowledge = staticmethod(WechatChannel.acknowledge)

    @staticmethod
    def read_bill(path: Path, stated: BillTotals) -> Iterator[BillLine]:
        """A bill file of :meth:`bill_download`, line by line; ``ValueError`` if malformed."""
        return tf.read_bill(path, stated)

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        # The body is encrypted under the merchant's APIv3 key and the envelope names no merchant:
        # only trying each account's keys can tell whose it is.
        return None
