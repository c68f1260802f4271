"""A protocol-faithful WeChat Pay APIv3 server (direct merchant: Native, H5, JSAPI, refunds, bills).

Public API for the core:

* :func:`generate_keys` / :func:`merchant_credentials` -- key material, and the channel credentials
  (with both the platform certificate and the public key, so a mode switch needs no change);
* :func:`create_app(keys, public_url=…, time_scale=…)` -- the aiohttp app, routes relative to its mount;
* :func:`scan_page_url(public_url, code_url)` -- a Native ``code_url`` (``weixin://wxpay/bizpayurl?pr=T``)
  cannot be opened by a desktop browser, so the sandbox serves the "scanned" page at
  ``{public_url}/pay/T``; the checkout links there in sandbox mode.

The ``/_control/`` API is the kit's (:mod:`gateway.sandbox.kit.control`); :mod:`.control` adds ``mode``
and ``probe``.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from gateway.sandbox.wechat.app import create_app
from gateway.sandbox.wechat.key_material import generate_keys, merchant_credentials
from gateway.sandbox.wechat.v2_keys import complete_keys

__all__ = ["complete_keys", "create_app", "generate_keys", "merchant_credentials", "scan_page_url"]


def scan_page_url(public_url: str, code_url: str) -> str:
    """``weixin://wxpay/bizpayurl?pr=T`` → ``{public_url}/pay/T`` (the page a scan would open)."""
    parts = urlsplit(code_url)
    token = parse_qs(parts.query).get("pr", [""])[0]
    if parts.scheme != "weixin" or not token.isalnum():
        raise ValueError("not a WeChat Pay native code_url")
    return f"{public_url.rstrip('/')}/pay/{token}"
