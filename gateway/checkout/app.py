"""Mounting the checkout: ``/pay`` (cashier, status) and ``/l`` (payment links), two HTML sub-apps on the
shared page plumbing (:mod:`gateway.web.pages`). Its lifetime state is :func:`checkout_ctx`, which the app
factory composes with the others."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp_jinja2
from aiohttp import web

from gateway import keys
from gateway.checkout import balance, link_pages, pages, status
from gateway.checkout.browser import BrowserKeys, csrf_middleware
from gateway.checkout.i18n import CATALOGUE
from gateway.checkout.marks import mark_renderer
from gateway.checkout.oauth_state import OAuthState
from gateway.checkout.security import form_targets
from gateway.checkout.state import Checkout
from gateway.web.pages import DEFAULT_TITLES, Pages, setup_pages

# By status, or by an error's code (risk decisions get a friendly page, without the rules' detail).
ERROR_TITLES = {**DEFAULT_TITLES, 502: "channel_error", 503: "channel_error", "risk_blocked": "risk_blocked",
                "rate_limited": "too_many"}


async def checkout_ctx(app: web.Application) -> AsyncIterator[None]:
    secret = app[keys.SETTINGS].secret_key
    app[keys.CHECKOUT] = Checkout(OAuthState(secret), BrowserKeys(secret))
    yield


async def release_long_polls(app: web.Application) -> None:
    """On shutdown, before cleanup: long-polls answer at once instead of holding the shutdown."""
    app[keys.CHECKOUT].closing.set()


def setup_checkout(app: web.Application) -> None:
    """Routes and sub-apps; called once by :func:`gateway.app.create_app` after ``SETTINGS`` is set."""
    targets = form_targets(app[keys.SETTINGS], app[keys.REGISTRY])
    env = aiohttp_jinja2.get_env(app)
    env.globals["mark"] = mark_renderer(env)
    config = Pages(CATALOGUE, error_template="checkout/error.html", form_targets=targets, titles=ERROR_TITLES)
    # The status endpoint is the hot path: its own sub-app-free route on the root, no page middleware.
    app.router.add_get("/pay/{id}/status", status.status, name="checkout_status")
    for prefix, tables in (("/pay", (pages.routes, balance.routes)), ("/l", (link_pages.routes,))):
        sub = web.Application()
        setup_pages(sub, config)
        sub.middlewares.append(csrf_middleware)  # inside the page middleware: a refusal is a readable page
        for routes in tables:
            sub.add_routes(routes)
        app.add_subapp(prefix, sub)
