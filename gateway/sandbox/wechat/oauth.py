"""WeChat's web OAuth2 for official accounts, as far as JSAPI payments need it (``snsapi_base``).

* ``GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state`` -- silent for
  ``snsapi_base``: redirects at once to ``redirect_uri?code=…&state=…``;
* ``GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`` -- JSON with the
  ``openid``, or ``{"errcode": …, "errmsg": …}`` (40013 bad appid, 40125 bad secret, 40029 bad code,
  40163 code already used). A code lives 5 minutes and is good once, as at WeChat.

The official account's secret is derived from the sandbox keys (:func:`app_secret`) so a separately run
sandbox and the gateway agree without storing anything new.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

CODE_TTL = 300


def app_secret(keys: dict[str, Any]) -> str:
    return hmac.new(keys["apiv3_key"].encode(), b"sandbox/oauth-app-secret", hashlib.sha256).hexdigest()[:32]


@dataclass
class OAuthState:
    appid: str
    secret: str
    codes: dict[str, tuple[float, str]] = field(default_factory=dict)  # code → (deadline, openid)
    openids: dict[str, str] = field(default_factory=dict)  # a browser's (User-Agent's) stable openid

    def new_code(self, user_agent: str) -> str:
        now = time.monotonic()
        for code in [c for c, (deadline, _) in self.codes.items() if deadline < now]:
            del self.codes[code]
        openid = self.openids.setdefault(user_agent, "o" + secrets.token_urlsafe(20)[:27])
        code = secrets.token_hex(16)
        self.codes[code] = (now + CODE_TTL, openid)
        return code


OAUTH = web.AppKey("wechat_sandbox_oauth", OAuthState)


def _error(errcode: int, errmsg: str) -> web.Response:
    return web.Response(text=json.dumps({"errcode": errcode, "errmsg": errmsg}), content_type="text/plain")


async def authorize(request: web.Request) -> web.StreamResponse:
    oauth, q = request.app[OAUTH], request.query
    redirect_uri = q.get("redirect_uri", "")
    if q.get("appid") != oauth.appid:
        return web.Response(status=400, text="appid 参数错误 (40013 invalid appid)")
    if q.get("response_type") != "code" or q.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
        return web.Response(status=400, text="scope 参数错误 (10005)")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return web.Response(status=400, text="redirect_uri 参数错误 (10003)")
    params = {"code": oauth.new_code(request.headers.get("User-Agent", "")), "state": q.get("state", "")}
    sep = "&" if "?" in redirect_uri else "?"
    raise web.HTTPFound(f"{redirect_uri}{sep}{urlencode(params)}")


async def access_token(request: web.Request) -> web.Response:
    oauth, q = request.app[OAUTH], request.query
    if q.get("appid") != oauth.appid:
        return _error(40013, "invalid appid")
    if not hmac.compare_digest(q.get("secret", ""), oauth.secret):
        return _error(40125, "invalid appsecret")
    if q.get("grant_type") != "authorization_code":
        return _error(40002, "invalid grant_type")
    entry = oauth.codes.pop(q.get("code", ""), None)
    if entry is None or entry[0] < time.monotonic():
        return _error(40029, "invalid code")
    return web.Response(content_type="text/plain", text=json.dumps({
        "access_token": secrets.token_urlsafe(48), "expires_in": 7200,
        "refresh_token": secrets.token_urlsafe(48), "openid": entry[1], "scope": q.get("scope", "snsapi_base"),
        "is_snapshotuser": 0}))


def add_routes(app: web.Application, keys: dict[str, Any]) -> None:
    app[OAUTH] = OAuthState(appid=keys["appid"], secret=app_secret(keys))
    app.router.add_get("/connect/oauth2/authorize", authorize, name="oauth.authorize")
    app.router.add_get("/sns/oauth2/access_token", access_token, name="oauth.access_token")
