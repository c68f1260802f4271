"""Shopper user agents and small helpers for the checkout tests."""
from __future__ import annotations

import re
from typing import Any

from multidict import CIMultiDict

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
