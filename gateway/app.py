"""The application factory: every resource opened in one cleanup context, every context and sub-app
composed here (a context may be defined in its own package; only this module appends it)."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway import keys
from gateway.admin.app import PREFIX as ADMIN_PREFIX
from gateway.admin.app import create_admin_app
from gateway.api.app import PREFIX as API_PREFIX
from gateway.api.app import create_api_app
from gateway.cache.breaker import BreakerCache
from gateway.cache.memory import MemoryCache
from gateway.cache.status import StatusBus
from gateway.callbacks.app import create_callbacks_app
from gateway.channels.base import Ports
from gateway.channels.pool import ChannelPool
from gateway.channels.registry import Registry, default_registry
from gateway.checkout.app import checkout_ctx, release_long_polls, setup_checkout
from gateway.config import Settings
from gateway.observability.endpoints import metrics_ctx, metrics_view, readyz
from gateway.observability.metrics import Metrics
from gateway.services.context import Services
from gateway.services.merchants import Authenticator
from gateway.services.wallets import WalletBook
from gateway.store.db import Database
from gateway.store.migrate import upgrade_if_behind
from gateway.tasks.runner import tasks_ctx
from gateway.web.middlewares import Draining, edge_middleware, forwarded_for_middleware

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)
Ctx = Callable[[web.Application], AsyncIterator[None]]


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    db = Database(settings.effective_database_url)
    if settings.embedded:
        await upgrade_if_behind(db)  # the embedded default migrates itself
    app[keys.DB] = db
    yield
    await db.dispose()


async def cache_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.redis_url:
        from gateway.cache.redis import RedisCache

        app[keys.CACHE] = BreakerCache(RedisCache(settings.redis_url.reveal()))
    else:
        app[keys.CACHE] = MemoryCache()
    yield
    await app[keys.CACHE].close()


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": "gateway/1.0"}) as session:
        app[keys.HTTP] = session
        yield


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, db, cache = app[keys.SETTINGS], app[keys.DB], app[keys.CACHE]
    status = StatusBus(cache)
    app[keys.REGISTRY].bind(Ports(stored_value=WalletBook(db)))  # the in-process stored-value channel's port
    app[keys.SERVICES] = Services(
        settings=settings, db=db, cache=cache, registry=app[keys.REGISTRY],
        pool=ChannelPool(settings, app[keys.REGISTRY], app[keys.HTTP], metrics=app[keys.METRICS]), status=status,
        auth=Authenticator(db, settings), metrics=app[keys.METRICS])
    start = getattr(cache, "start", None)
    if start is not None:
        await start()  # Redis: subscribe after every handler is registered
    yield


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: Settings, *, registry: Registry | None = None,
               extra_contexts: list[Ctx] | None = None) -> web.Application:
    settings = settings.with_secret_key()
    trusted = [p for p in settings.trusted_proxies.split(",") if p.strip()]
    draining, metrics = Draining(), Metrics()
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[
        *([forwarded_for_middleware(trusted)] if trusted else []),
        edge_middleware(access=settings.access_log, metrics=metrics, draining=draining)])
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.DRAINING] = draining
    app[keys.REGISTRY] = registry or default_registry(timeout=settings.channel_timeout)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True,
                         auto_reload=False)  # the templates ship with the code: no stat() per render
    app.cleanup_ctx.extend([metrics_ctx, database_ctx, cache_ctx, http_ctx, services_ctx, checkout_ctx, tasks_ctx,
                            *(extra_contexts or [])])
    app.on_shutdown.append(release_long_polls)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics_view, name="metrics")
    app.router.add_static("/static", ROOT / "static", name="static")

    app.add_subapp(API_PREFIX, create_api_app())
    app.add_subapp("/notify", create_callbacks_app())
    app.add_subapp(ADMIN_PREFIX, create_admin_app())
    setup_checkout(app)
    if settings.sandbox and not settings.sandbox_url:
        from gateway.sandbox.app import create_sandbox_app
        from gateway.sandbox.key_material import load_or_create

        sandbox_keys = load_or_create(settings.data_dir)
        app[keys.SANDBOX_KEYS] = sandbox_keys
        app.add_subapp("/sandbox", create_sandbox_app(sandbox_keys, public_url=f"{settings.public_url}/sandbox",
                                                      time_scale=settings.sandbox_time_scale))
    if settings.sandbox_base:  # mounted here or its own process: the checkout links to its phone pages
        from gateway.sandbox.app import phone_pages

        app[keys.PHONE_PAGES] = phone_pages(settings.sandbox_base)
    return app
