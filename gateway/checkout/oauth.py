"""WeChat web OAuth2 (``snsapi_base``): the openid of the shopper inside WeChat, which JSAPI needs.

Flow: our page redirects to ``{open}/connect/oauth2/authorize`` with a ``state`` bound to the payment and
MACed (:class:`~gateway.checkout.oauth_state.OAuthState`); WeChat sends the browser back to ``/pay/{id}/oauth?code&state``; we
exchange the code at ``{api}/sns/oauth2/access_token`` for the openid. ``snsapi_base`` is silent -- the
shopper sees no consent screen.

The official account's ``appid`` and ``app_secret`` are optional fields of the merchant's WeChat channel
account credentials; without ``app_secret`` JSAPI is not offered in WeChat.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from gateway.crypto.secrets import Secret, unseal
from gateway.services.context import Services
from gateway.store import merchants as merchants_repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OAuthApp:
    appid: str
    secret: Secret


class OAuthFailed(Exception):
    """WeChat did not give an openid for the code (expired, reused, wrong secret) or did not answer."""


async def oauth_app(svc: Services, merchant_id: str) -> OAuthApp | None:
    """The merchant's WeChat official account with a secret for OAuth, if it has one."""
    async with svc.db.read() as conn:
        accounts = await merchants_repo.accounts_of(conn, merchant_id)
    for account in accounts:
        if account["channel"] != "wechat" or "wechat_jsapi" not in account["pay_methods"]:
            continue
        creds = json.loads(unseal(svc.settings.secret_key, "channel:wechat", account["credentials_sealed"]))
        if creds.get("appid") and creds.get("app_secret"):
            return OAuthApp(str(creds["appid"]), Secret(str(creds["app_secret"])))
    return None


def authorize_url(base: str, app: OAuthApp, redirect_uri: str, state: str) -> str:
    query = urlencode({"appid": app.appid, "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": "snsapi_base", "state": state})
    return f"{base}/connect/oauth2/authorize?{query}#wechat_redirect"


async def exchange_code(http: aiohttp.ClientSession, base: str, app: OAuthApp, code: str) -> str:
    params = {"appid": app.appid, "secret": app.secret.reveal(), "code": code,
              "grant_type": "authorization_code"}
    try:
        async with http.get(f"{base}/sns/oauth2/access_token", params=params,
                            timeout=aiohttp.ClientTimeout(total=8)) as resp:
            # WeChat answers text/plain JSON; errors are 200 with errcode.
            answer = json.loads(await resp.text())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise OAuthFailed(f"no answer: {type(exc).__name__}") from None
    openid = answer.get("openid") if isinstance(answer, dict) else None
    if not isinstance(openid, str) or not openid:
        # errcode/errmsg only: the answer carries no secret, the request's secret is never logged.
        code_ = answer.get("errcode") if isinstance(answer, dict) else None
        raise OAuthFailed(f"errcode {code_}")
    return openid
