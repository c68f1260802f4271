"""A tiny HTML sub-app with sessions and CSRF on the shared web plumbing -- a stand-in for the operator
console: a login form, a login that rotates the session, a page that says who is logged in."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session

from gateway import keys
from gateway.config import Settings
from gateway.store.db import Database
from gateway.web.i18n import Catalogue
from gateway.web.middlewares import edge_middleware
from gateway.web.pages import Pages, render_page, setup_pages
from gateway.web.sessions import DatabaseStorage, rotate_session, setup_sessions

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = Catalogue({"zh-CN": {"title": "控制台"}, "en": {"title": "Console"}}, cookie="console_lang")
TEMPLATES = {
    "console/login.html": """{% extends "base.html" %}{% block body %}
<form method="post" action="/console/login"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input name="user"><button>{{ t.title }}</button></form>{% endblock %}""",
    "console/me.html": "{% extends 'base.html' %}{% block body %}<p id='me'>{{ user or '-' }}</p>{% endblock %}",
}


async def login_form(request: web.Request) -> web.Response:
    return render_page(request, "console/login.html")


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    session = await rotate_session(request)
    session["user"] = str(form["user"])
    raise web.HTTPSeeOther("/console/me")


async def me(request: web.Request) -> web.Response:
    return render_page(request, "console/me.html", {"user": (await get_session(request)).get("user")})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("boom")


def console_app(storage: DatabaseStorage) -> web.Application:
    app = web.Application()
    setup_pages(app, Pages(CATALOGUE))
    setup_sessions(app, storage)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_get("/me", me)
    app.router.add_get("/boom", boom)
    return app


def root_app(db_url: str, storage: DatabaseStorage, public_url: str = "http://127.0.0.1") -> web.Application:
    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        app[keys.DB] = Database(db_url)
        yield
        await app[keys.DB].dispose()

    app = web.Application(middlewares=[edge_middleware()])
    app[keys.SETTINGS] = Settings(public_url=public_url)
    aiohttp_jinja2.setup(app, autoescape=True, loader=jinja2.ChoiceLoader([
        jinja2.DictLoader(TEMPLATES), jinja2.FileSystemLoader(ROOT / "templates")]))
    app.cleanup_ctx.append(database_ctx)
    app.add_subapp("/console", console_app(storage))
    return app


def token_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)
