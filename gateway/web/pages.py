"""HTML pages for every audience: a strict Content-Security-Policy with a fresh nonce per response, no
framing, no caching, and errors rendered as a readable page in the visitor's language (never a stack
trace, never a 500 for bad input).

A sub-app opts in with :func:`setup_pages` and a :class:`Pages` describing it: its message catalogue,
its error template and the hosts its forms may post to (the checkout's come from the channels). Its
handlers render with :func:`render_page`, which gives every template ``t``, ``lang``, ``other_lang``,
``nonce`` and ``csrf_token()``.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.domain.errors import GatewayError
from gateway.web.csrf import csrf_token
from gateway.web.i18n import Catalogue, other_language
from gateway.web.problems import STATUS

log = logging.getLogger(__name__)
NONCE = "csp_nonce"  # request key: this response's CSP nonce
PAGES = "web_pages"  # request key: the Pages of the sub-app answering

DEFAULT_TITLES: Mapping[int | str, str] = {403: "forbidden", 404: "not_found"}


@dataclass(frozen=True)
class Pages:
    """What an HTML sub-app needs to render its pages and its errors."""

    catalogue: Catalogue
    error_template: str = "errors/error.html"
    # Hosts a form may post to beyond our own ('self'); browsers check a form's redirects against them too.
    form_targets: Iterable[str] = ()
    # Status (or a domain error's code, which wins) → message key of the error page's title; any other
    # status gets "error" and the error's detail.
    titles: Mapping[int | str, str] = field(default_factory=lambda: dict(DEFAULT_TITLES))


def form_action(targets: Iterable[str]) -> str:
    return " ".join(dict.fromkeys(["'self'", *targets]))


def content_security_policy(nonce: str, form_action: str) -> str:
    return ("default-src 'none'; "
            f"script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'")


def nonce_of(request: web.Request) -> str:
    return request[NONCE]


def page_context(request: web.Request) -> dict[str, Any]:
    """What every template of the answering sub-app may use."""
    pages: Pages = request[PAGES]
    lang = pages.catalogue.language(request)
    return {"t": pages.catalogue.strings[lang], "lang": lang, "other_lang": other_language(lang),
            "nonce": request.get(NONCE, ""), "csrf_token": lambda: csrf_token(request)}


def render_page(request: web.Request, template: str, context: Mapping[str, Any] | None = None, *,
                status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, page_context(request) | dict(context or {}),
                                          status=status)


def error_page(request: web.Request, status: int, title_key: str, detail: str | None = None) -> web.Response:
    pages: Pages = request[PAGES]
    context = page_context(request)
    return aiohttp_jinja2.render_template(pages.error_template, request, context | {
        "title": context["t"][title_key], "detail": detail, "status": status}, status=status)


def page_middleware(pages: Pages) -> Middleware:
    """Nonce, CSP and no-framing on every answer of the sub-app; errors as its error page."""
    sources = form_action(pages.form_targets)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[PAGES] = pages
        request[NONCE] = secrets.token_urlsafe(18)
        try:
            response = await handler(request)
        except GatewayError as exc:
            status = STATUS.get(exc.code, 400)
            title = "unavailable" if exc.code == "database_unavailable" else \
                pages.titles.get(exc.code) or pages.titles.get(status)
            response = error_page(request, status, title or "error", None if title else exc.detail)
            if "retry_after" in exc.extra:
                response.headers["Retry-After"] = str(exc.extra["retry_after"])
        except web.HTTPException as exc:
            if exc.status < 400:
                exc.headers["Content-Security-Policy"] = content_security_policy(request[NONCE], sources)
                raise
            response = error_page(request, exc.status, pages.titles.get(exc.status, "error"))
        except Exception:
            log.exception("page error in %s %s [request %s]", request.method, request.path,
                          request.get("request_id"))
            response = error_page(request, 500, "error")
        response.headers["Content-Security-Policy"] = content_security_policy(request[NONCE], sources)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return middleware


def setup_pages(app: web.Application, pages: Pages) -> None:
    """Make ``app`` an HTML sub-app. Call it before :func:`gateway.web.sessions.setup_sessions`, so that a
    refused CSRF token is answered with this sub-app's error page."""
    app.middlewares.append(page_middleware(pages))
