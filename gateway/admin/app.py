"""The operator console: the ``/admin`` sub-app on the shared web plumbing (pages with a strict CSP and
a nonce, server-side sessions, CSRF on every POST), in zh-CN and English."""
from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.admin import views, views_actions, views_auth, views_recon, views_risk, views_wallets
from gateway.admin.i18n import CATALOGUE
from gateway.store.db import offloaded
from gateway.web.pages import Pages, setup_pages
from gateway.web.sessions import DatabaseStorage, setup_sessions

PREFIX = "/admin"
COOKIE = "gateway_admin"
IDLE = timedelta(minutes=15)  # PCI DSS 8.2.8


def create_admin_app(storage: DatabaseStorage | None = None) -> web.Application:
    app = web.Application()
    setup_pages(app, Pages(CATALOGUE, error_template="admin/error.html",
                           titles={403: "forbidden_admin", 404: "not_found"}))
    setup_sessions(app, storage or DatabaseStorage(cookie_name=COOKIE, idle=IDLE))
    app.middlewares.append(same_origin_middleware)
    app.middlewares.append(offload_middleware)
    app.router.add_routes(views_auth.routes)
    app.router.add_routes(views.routes)
    app.router.add_routes(views_actions.routes)
    app.router.add_routes(views_recon.routes)
    app.router.add_routes(views_risk.routes)
    app.router.add_routes(views_wallets.routes)
    return app


@web.middleware
async def offload_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The console's SQLite statements run on a thread: its statistics and searches over a million
    payments take milliseconds, which the API's requests should not wait for on the event loop."""
    with offloaded():
        return await handler(request)


@web.middleware
async def same_origin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A POST a browser says came from another site is refused, token or not (defence in depth)."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        site = request.headers.get("Sec-Fetch-Site")
        origin = request.headers.get("Origin")
        if site == "cross-site" or (origin and origin != "null" and origin not in _own_origins(request)):
            raise web.HTTPForbidden(reason="cross-origin request")
    return await handler(request)


def _own_origins(request: web.Request) -> set[str]:
    public = (request.config_dict[keys.SETTINGS].public_url or "").rstrip("/")
    origins = {f"{request.scheme}://{request.host}"}
    if public:
        parts = public.split("/")
        origins.add("/".join(parts[:3]))
    return origins
