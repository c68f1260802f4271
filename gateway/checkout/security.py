"""Where the checkout's forms may lead: our own pages, and the channels' cashier hosts (a few forms answer
with a redirect there, and browsers check redirects after a form submission against ``form-action`` too).
The CSP itself, the nonce and the error pages are :mod:`gateway.web.pages`."""
from __future__ import annotations

from urllib.parse import urlsplit

from gateway.config import Settings

CHANNEL_FORM_TARGETS = ("https://openapi.alipay.com", "https://mapi.alipay.com", "https://*.alipay.com",
                        "https://wx.tenpay.com", "https://*.weixin.qq.com")


def form_targets(settings: Settings) -> list[str]:
    targets = list(CHANNEL_FORM_TARGETS)
    for url in (settings.sandbox_base, settings.alipay_gateway_url):
        if url:
            parts = urlsplit(url)
            targets.append(f"{parts.scheme}://{parts.netloc}")
    return targets
