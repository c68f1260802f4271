"""Shopper-facing safety: a strict Content-Security-Policy with a fresh nonce per response, no framing,
and errors rendered as a readable page (never a stack trace, never a 500 for bad input)."""
from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from gateway.channels.registry import Registry
from gateway.checkout.i18n import STRINGS, language
from gateway.config import Settings
from gateway.domain.errors import GatewayError
from gateway.web.problems import STATUS

log = logging.getLogger(__name__)
NONCE = "csp_nonce"

# Forms post to us; a few answer with a redirect to the channel's cashier, and browsers check redirects
# after a form submission against form-action too -- so the channels' cashier hosts (which each channel's
# factory declares) are listed.
def form_action_sources(settings: Settings, registry: Registry) -> str:
    sources = ["'self'", *(target for f in registry.factories for target in f.form_targets)]
    browser_targets = [settings.endpoint(s) for f in registry.factories for s in f.settings if s.browser_target]
    for url in (settings.sandbox_base, *browser_targets):
        if url:
            parts = urlsplit(url)
            sources.append(f"{parts.scheme}://{parts.netloc}")
    return " ".join(dict.fromkeys(sources))


def csp(nonce: str, form_action: str) -> str:
    return ("default-src 'none'; "
            f"script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'")


def nonce_of(request: web.Request) -> str:
    return request[NONCE]


def error_page(request: web.Request, status: int, title_key: str, detail: str | None = None) -> web.Response:
    lang = language(request)
    return aiohttp_jinja2.render_template("checkout/error.html", request, {
        "t": STRINGS[lang], "lang": lang, "title": STRINGS[lang][title_key], "detail": detail,
        "nonce": request.get(NONCE, "")}, status=status)


def page_middleware(form_action: str) -> Any:
    @web.middleware
    async def checkout_page_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        request[NONCE] = secrets.token_urlsafe(18)
        try:
            response = await handler(request)
        except GatewayError as exc:
            status = STATUS.get(exc.code, 400)
            key = "not_found" if status == 404 else "channel_error" if status in (502, 503) else "error"
            response = error_page(request, status, key, None if status in (404, 502, 503) else exc.detail)
        except web.HTTPException as exc:
            if exc.status < 400:
                exc.headers["Content-Security-Policy"] = csp(request[NONCE], form_action)
                raise
            response = error_page(request, exc.status, "not_found" if exc.status == 404 else "error")
        except Exception:
            log.exception("checkout error in %s %s [request %s]", request.method, request.path,
                          request.get("request_id"))
            response = error_page(request, 500, "error")
        response.headers["Content-Security-Policy"] = csp(request[NONCE], form_action)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return checkout_page_middleware
