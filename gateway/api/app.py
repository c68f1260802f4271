"""The merchant API sub-app, mounted at ``/api/v1``: JSON in and out, API keys, problem+json errors."""
from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from gateway.api import events, links, payments, reconciliation, refunds, risk, wallets
from gateway.api.auth import auth_middleware
from gateway.api.common import json_response
from gateway.api.idempotency import idempotency_middleware
from gateway.api.openapi import OPERATIONS, document
from gateway.api.ratelimit import rate_limit_middleware
from gateway.keys import SERVICES
from gateway.web.problems import problem_middleware

PREFIX = "/api/v1"


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document(request.config_dict[SERVICES].url(PREFIX)))


async def docs(request: web.Request) -> web.Response:
    doc = document(request.config_dict[SERVICES].url(PREFIX))
    return aiohttp_jinja2.render_template("api_docs.html", request, {
        "doc": doc, "operations": OPERATIONS, "schemas": doc["components"]["schemas"]})


def create_api_app(extra_routes: list[web.RouteTableDef] | None = None) -> web.Application:
    app = web.Application(middlewares=[problem_middleware, auth_middleware, rate_limit_middleware,
                                       idempotency_middleware])
    app.router.add_get("/openapi.json", openapi_json, name="openapi")
    app.router.add_get("/docs", docs, name="docs")
    app.add_routes(payments.routes)
    app.add_routes(links.routes)
    app.add_routes(refunds.routes)
    app.add_routes(events.routes)
    app.add_routes(reconciliation.routes)
    app.add_routes(wallets.routes)
    app.add_routes(risk.routes)
    for table in extra_routes or []:
        app.add_routes(table)
    return app
