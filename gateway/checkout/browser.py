"""The shopper's browser, as the checkout knows it: one random nonce in the ``checkout_browser`` cookie
(HttpOnly, SameSite=Lax, Secure behind TLS), made on the first page and kept for a day.

It serves two bindings, both stateless (any process checks what any other made):

* **CSRF** -- every checkout form carries ``csrf_token``, an HMAC of the nonce under a key derived from the
  gateway's secret (a signed double-submit token). :func:`csrf_middleware` refuses an unsafe request whose
  token does not match this browser's cookie with a readable 403. A token rather than an Origin check:
  some in-app browsers send neither Origin nor Referer on a form POST, and a token needs neither.
  The channels' return to us (``/pay/{id}/return``) is exempt: it is a cross-site POST by design, and it
  only makes us ask the channel.
* **OAuth state** -- :class:`gateway.checkout.oauth_state.OAuthState` mixes the nonce into the state, so a
  ``code`` is only used in the browser that started the round trip.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.crypto.secrets import Secret

COOKIE = "checkout_browser"
FIELD = "csrf_token"
MAX_AGE = 86400
_REQUEST_KEY = "checkout_browser_nonce"
_NEW_KEY = "checkout_browser_new"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class BrowserKeys:
    """The CSRF token of a browser nonce; the key is derived from the gateway's secret."""

    def __init__(self, secret_key: Secret) -> None:
        self._key = hmac.new(secret_key.reveal().encode(), b"gateway/checkout-csrf", hashlib.sha256).digest()

    def token(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:40]

    def check(self, nonce: str, token: str) -> bool:
        return bool(nonce) and hmac.compare_digest(self.token(nonce).encode(), token.encode())


def _valid(nonce: str | None) -> bool:
    return nonce is not None and 20 <= len(nonce) <= 64 and set(nonce) <= _ALPHABET


def nonce(request: web.Request) -> str:
    """This browser's nonce; a new one (set on the answer by the middleware) when it has none."""
    found = request.get(_REQUEST_KEY)
    if found is None:
        cookie = request.cookies.get(COOKIE)
        if _valid(cookie):
            found = cookie
        else:
            found = secrets.token_urlsafe(24)
            request[_NEW_KEY] = True
        request[_REQUEST_KEY] = found
    return str(found)


def csrf_token(request: web.Request) -> str:
    return request.config_dict[keys.CHECKOUT].browser.token(nonce(request))


def _exempt(request: web.Request) -> bool:
    """The channels' return: ``/pay/{id}/return`` (and nothing under ``/l``)."""
    parts = request.path.split("/")
    return len(parts) == 4 and parts[1] == "pay" and parts[3] == "return"


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in _SAFE and not _exempt(request):
        cookie = request.cookies.get(COOKIE)
        sent = (await request.post()).get(FIELD) if request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data") else None
        if not (_valid(cookie) and isinstance(sent, str)
                and request.config_dict[keys.CHECKOUT].browser.check(str(cookie), sent)):
            raise web.HTTPForbidden(reason="CSRF token missing or invalid")
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _set_cookie(request, exc)
        raise
    _set_cookie(request, response)
    return response


def _set_cookie(request: web.Request, response: web.StreamResponse) -> None:
    if request.get(_NEW_KEY):
        secure = (request.config_dict[keys.SETTINGS].public_url or "").startswith("https://")
        response.set_cookie(COOKIE, request[_REQUEST_KEY], max_age=MAX_AGE, httponly=True, samesite="Lax",
                            secure=secure, path="/")
