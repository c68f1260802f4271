"""Shopper user agents and small helpers for the checkout tests."""
from __future__ import annotations

import re
import secrets
from typing import Any

from multidict import CIMultiDict

from gateway.checkout import browser
from gateway.keys import CHECKOUT
from tests.factories import Gateway

DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0 Safari/537.36")
MOBILE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.0 Mobile/15E148 Safari/604.1")
WECHAT_UA = MOBILE_UA + " MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
ALIPAY_UA = MOBILE_UA + " AlipayClient/10.5.36.6000 Language/zh-Hans"


async def get(gw: Gateway, path: str, ua: str = DESKTOP_UA, **kw: Any) -> tuple[int, str, CIMultiDict[str]]:
    headers = {"User-Agent": ua, **kw.pop("headers", {})}
    async with gw.http.get(path if path.startswith("http") else gw.url + path, headers=headers,
                           allow_redirects=kw.pop("allow_redirects", False), **kw) as r:
        return r.status, await r.text(), CIMultiDict(r.headers)  # case-insensitive: ETag


def nonce_of(csp: str) -> str:
    m = re.search(r"'nonce-([^']+)'", csp)
    assert m, csp
    return m.group(1)


class Shopper:
    """One shopper's browser over plain HTTP: its ``checkout_browser`` cookie on every request, and the
    CSRF token of that cookie in every form it posts (as the page's forms carry it)."""

    def __init__(self, gw: Gateway, ua: str = DESKTOP_UA) -> None:
        self.gw, self.ua = gw, ua
        self.nonce = secrets.token_urlsafe(24)

    @property
    def headers(self) -> dict[str, str]:
        return {"User-Agent": self.ua, "Cookie": f"{browser.COOKIE}={self.nonce}"}

    @property
    def token(self) -> str:
        return self.gw.app[CHECKOUT].browser.token(self.nonce)

    async def get(self, path: str, **kw: Any) -> tuple[int, str, CIMultiDict[str]]:
        return await get(self.gw, path, self.ua, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True,
                   allow_redirects: bool = False) -> tuple[int, str, CIMultiDict[str]]:
        body = {**data, "csrf_token": self.token} if csrf else data
        async with self.gw.http.post(path if path.startswith("http") else self.gw.url + path, data=body,
                                     headers=self.headers, allow_redirects=allow_redirects) as r:
            return r.status, await r.text(), CIMultiDict(r.headers)
