"""Mounting the checkout: ``/pay`` (cashier, status) and ``/l`` (payment links) sub-apps sharing the CSP
and error-page middleware, and the checkout's own state in one cleanup context."""
from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway import keys
from gateway.checkout import link_pages, pages, status
from gateway.checkout.security import form_action_sources, page_middleware
from gateway.checkout.state import Checkout


async def checkout_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.CHECKOUT] = Checkout(app[keys.SETTINGS].secret_key)
    yield


async def _release_long_polls(app: web.Application) -> None:
    app[keys.CHECKOUT].closing.set()


def _sub_app(form_action: str) -> web.Application:
    return web.Application(middlewares=[page_middleware(form_action)])


def setup_checkout(app: web.Application) -> None:
    """Called once by :func:`gateway.app.create_app` after ``SETTINGS`` is set."""
    form_action = form_action_sources(app[keys.SETTINGS], app[keys.REGISTRY])
    app.cleanup_ctx.append(checkout_ctx)
    app.on_shutdown.append(_release_long_polls)
    # The status endpoint is the hot path: its own sub-app-free route on the root, no page middleware.
    app.router.add_get("/pay/{id}/status", status.status, name="checkout_status")
    pay = _sub_app(form_action)
    pay.add_routes(pages.routes)
    app.add_subapp("/pay", pay)
    link = _sub_app(form_action)
    link.add_routes(link_pages.routes)
    app.add_subapp("/l", link)
