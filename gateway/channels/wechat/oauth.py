"""WeChat web OAuth2 (``snsapi_base``): the openid of the shopper inside WeChat, which JSAPI needs.

Flow: the checkout redirects to ``{open}/connect/oauth2/authorize`` with a ``state`` bound to the payment
and MACed by the checkout; WeChat sends the browser back with ``code`` and ``state``; we exchange the code
at ``{api}/sns/oauth2/access_token`` for the openid. ``snsapi_base`` is silent -- the shopper sees no
consent screen.

The official account's ``appid`` and ``app_secret`` are optional fields of the merchant's WeChat channel
account credentials; without ``app_secret`` JSAPI is not offered in WeChat.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp

from gateway.channels.base import PayerIdentityFailed


def authorize_url(base: str, credentials: Mapping[str, Any], redirect_uri: str, state: str) -> str | None:
    if not (credentials.get("appid") and credentials.get("app_secret")):
        return None
    query = urlencode({"appid": str(credentials["appid"]), "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": "snsapi_base", "state": state})
    return f"{base.rstrip('/')}/connect/oauth2/authorize?{query}#wechat_redirect"


async def exchange_code(http: aiohttp.ClientSession, base: str, credentials: Mapping[str, Any], code: str) -> str:
    if not (credentials.get("appid") and credentials.get("app_secret")):
        raise PayerIdentityFailed("no official account secret")
    params = {"appid": str(credentials["appid"]), "secret": str(credentials["app_secret"]), "code": code,
              "grant_type": "authorization_code"}
    try:
        async with http.get(f"{base.rstrip('/')}/sns/oauth2/access_token", params=params,
                            timeout=aiohttp.ClientTimeout(total=8)) as resp:
            # WeChat answers text/plain JSON; errors are 200 with errcode.
            answer = json.loads(await resp.text())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise PayerIdentityFailed(f"no answer: {type(exc).__name__}") from None
    openid = answer.get("openid") if isinstance(answer, dict) else None
    if not isinstance(openid, str) or not openid:
        # errcode/errmsg only: the answer carries no secret, the request's secret is never logged.
        code_ = answer.get("errcode") if isinstance(answer, dict) else None
        raise PayerIdentityFailed(f"errcode {code_}")
    return openid
