"""WeChat Pay APIv3 (direct merchant): Native QR, H5, JSAPI and APP payments.

``WechatFactory().open(credentials, http, base_url)`` gives a long-lived :class:`WechatChannel`.
Credentials: ``mchid``, ``appid``, ``merchant_serial``, ``merchant_private_key`` (PEM), ``apiv3_key``
(32 characters), and WeChat's verification keys in one or both modes -- ``platform_certificates`` (PEM
list, refreshed from ``GET /v3/certificates`` on an unknown serial) and ``public_key_id`` +
``public_key`` (PEM); for APP pay, optionally ``app_appid`` (the Open Platform mobile app's, when it is
not ``appid``). Barcode pay (APIv2 micropay, :mod:`.micropay`) also needs ``apiv2_key`` and, to
reverse, the API client certificate ``apiv2_client_cert`` + ``apiv2_client_key`` (and ``apiv2_ca``, a CA
to trust besides the system's).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from gateway.channels.base import (
    BillLine,
    BillTotals,
    BillUnavailable,
    EndpointSetting,
    FactoryBase,
    PayMethodSpec,
    RawCallback,
)
from gateway.channels.wechat import oauth
from gateway.channels.wechat import transformers as tf
from gateway.channels.wechat.client import WechatChannel
from gateway.domain.barcode import QUERY_AT as BARCODE_QUERIES
from gateway.domain.barcode import CodeRule
from gateway.domain.pay import ActionKind

API_URL = "GATEWAY_WECHAT_API_URL"
OAUTH_URL = "GATEWAY_WECHAT_OAUTH_URL"
OAUTH_API_URL = "GATEWAY_WECHAT_OAUTH_API_URL"
_WECHAT_PAY = {"zh-CN": "微信支付", "en": "WeChat Pay"}

__all__ = ["BillUnavailable", "WechatChannel", "WechatFactory"]


class WechatFactory(FactoryBase):
    name: ClassVar[str] = "wechat"
    methods: ClassVar[tuple[PayMethodSpec, ...]] = (
        PayMethodSpec("wechat_native", ActionKind.QR, frozenset({"desktop"}), _WECHAT_PAY, rank=10),
        PayMethodSpec("wechat_h5", ActionKind.REDIRECT, frozenset({"mobile"}), _WECHAT_PAY, rank=10),
        PayMethodSpec("wechat_jsapi", ActionKind.JSAPI, frozenset({"wechat"}), _WECHAT_PAY, rank=10,
                      needs_payer=True, payer_field="payer_openid"),
        # In the merchant's own app (API only: no browser completes it): see apppay.py.
        PayMethodSpec("wechat_app", ActionKind.APP, frozenset(), _WECHAT_PAY, rank=40),
        # The merchant scans the shopper's code (APIv2 micropay): never offered on the checkout page.
        PayMethodSpec("wechat_barcode", ActionKind.CONFIRM, frozenset(), {"zh-CN": "微信付款码", "en": "WeChat Pay code"},
                      rank=95, needs_payer=True, payer_field="auth_code", query_at=BARCODE_QUERIES),
    )
    settings: ClassVar[tuple[EndpointSetting, ...]] = (
        EndpointSetting(API_URL, "https://api.mch.weixin.qq.com", "WeChat Pay APIv3 host.", "/wechat"),
        EndpointSetting(OAUTH_URL, "https://open.weixin.qq.com",
                        "WeChat web OAuth2 (snsapi_base) authorize host: the checkout gets a JSAPI payer's openid "
                        "there. In sandbox mode, the WeChat sandbox.", "/wechat"),
        EndpointSetting(OAUTH_API_URL, "https://api.weixin.qq.com",
                        "WeChat host that exchanges an OAuth2 code for the openid. In sandbox mode, the WeChat "
                        "sandbox.", "/wechat"),
    )
    app_names: ClassVar[Mapping[str, str]] = {"zh-CN": "微信", "en": "WeChat"}
    in_app_marker: ClassVar[str | None] = "MicroMessenger"
    # H5 pay redirects the browser to WeChat's cashier.
    form_targets: ClassVar[tuple[str, ...]] = ("https://wx.tenpay.com", "https://*.weixin.qq.com")
    credential_fields: ClassVar[tuple[str, ...]] = (
        "mchid", "appid", "merchant_serial", "merchant_private_key", "apiv3_key", "platform_certificates?",
        "public_key_id?", "public_key?", "app_secret?", "app_appid?", "apiv2_key?", "apiv2_client_cert?",
        "apiv2_client_key?", "apiv2_ca?")
    required_identities: ClassVar[tuple[str, ...]] = ("mchid",)
    # micropay auth_code: 18 digits, 10–15 (WeChat Pay's micropay docs)
    payment_codes: ClassVar[tuple[CodeRule, ...]] = (
        CodeRule(re.compile(r"1[0-5]\d{16}"), "WeChat Pay: 18 digits starting 10–15", "wechat_barcode"),)
    # Headers worth keeping in the notify log (never Authorization or cookies).
    # The ranges WeChat Pay publishes for its callbacks (the risk engine's callback_source rule).
    callback_sources: ClassVar[tuple[str, ...]] = (
        "101.226.103.0/25", "140.207.54.0/25", "121.51.58.128/25", "183.3.234.0/25", "58.251.80.0/25",
        "121.51.30.128/25", "203.205.219.128/25")
    logged_headers: ClassVar[tuple[str, ...]] = (
        "wechatpay-serial", "wechatpay-timestamp", "wechatpay-nonce", "wechatpay-signature",
        "wechatpay-signature-type", "request-id")

    def open(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str) -> WechatChannel:
        return WechatChannel(credentials, http, base_url, timeout=self.timeout)

    def account_ref(self, credentials: Mapping[str, Any]) -> str:
        return str(credentials.get("mchid") or "")

    acknowledge = staticmethod(WechatChannel.acknowledge)

    @staticmethod
    def read_bill(path: Path, stated: BillTotals) -> Iterator[BillLine]:
        """A bill file of :meth:`bill_download`, line by line; ``ValueError`` if malformed."""
        return tf.read_bill(path, stated)

    def payer_redirect(self, credentials: Mapping[str, Any], urls: Mapping[str, str], redirect_uri: str,
                       state: str) -> str | None:
        """JSAPI needs the shopper's openid: WeChat's silent OAuth2, if the account has an official
        account secret."""
        return oauth.authorize_url(urls[OAUTH_URL], credentials, redirect_uri, state)

    async def payer_exchange(self, credentials: Mapping[str, Any], urls: Mapping[str, str],
                             http: aiohttp.ClientSession, code: str) -> str:
        return await oauth.exchange_code(http, urls[OAUTH_API_URL], credentials, code)

    def callback_account_hint(self, raw: RawCallback) -> str | None:
        # The body is encrypted under the merchant's APIv3 key and the envelope names no merchant:
        # only trying each account's keys can tell whose it is.
        return None
