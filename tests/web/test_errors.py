"""Error rendering per audience: readable pages for HTML sub-apps, a plain 500 for the channels' callbacks."""
from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from gateway import keys
from gateway.callbacks.app import create_callbacks_app
from gateway.web.i18n import Catalogue
from gateway.web.middlewares import edge_middleware
from gateway.web.sessions import DatabaseStorage
from tests.web.console import root_app


async def test_html_sub_app_errors_are_pages_in_the_visitors_language(aiohttp_client: Any, db_url: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    client = await aiohttp_client(root_app(db_url, DatabaseStorage()))
    r = await client.get("/console/nowhere", headers={"Accept-Language": "en"})
    assert r.status == 404 and r.content_type == "text/html" and "No such page" in await r.text()
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"] and r.headers["Cache-Control"] == "no-store"
    with caplog.at_level(logging.ERROR):
        r = await client.get("/console/boom", headers={"X-Request-Id": "req-boom-1"})
    assert r.status == 500 and "出错了" in await r.text() and "boom" not in await r.text()
    assert "req-boom-1" in caplog.text


async def test_an_unexpected_callback_error_is_logged_and_answered_a_plain_500(
        aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    def channel(name: str) -> Any:
        raise RuntimeError("registry exploded")

    app = web.Application(middlewares=[edge_middleware()])
    app[keys.SERVICES] = SimpleNamespace(registry=SimpleNamespace(channel=channel))  # type: ignore[assignment]
    app.add_subapp("/notify", create_callbacks_app())
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR):
        r = await client.post("/notify/alipay", data=b"x", headers={"X-Request-Id": "req-notify-1"})
    assert r.status == 500 and await r.text() == "internal error"
    assert r.headers["X-Request-Id"] == "req-notify-1" and "req-notify-1" in caplog.text


def test_a_catalogue_must_speak_every_language() -> None:
    with pytest.raises(ValueError):
        Catalogue({"en": {}}, cookie="c")
    strings = Catalogue({"zh-CN": {"error": "糟糕"}, "en": {}}, cookie="c").strings
    assert strings["zh-CN"]["error"] == "糟糕" and strings["en"]["error"] == "Something went wrong"
