"""The merchant API sub-app, mounted at ``/api/v1``: JSON in and out, API keys, problem+json errors."""
from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from gateway.api import events, keys, links, payments, reconciliation, refunds, risk, sandbox_helpers, wallets
from gateway.api.auth import auth_middleware
from gateway.api.common import json_response
from gateway.api.idempotency import group_commits, idempotency_middleware
from gateway.api.models import ACTION_SCHEMAS, SPECS
from gateway.api.openapi import ERROR_CODES, OPERATIONS, document
from gateway.api.ratelimit import rate_limit_middleware
from gateway.keys import SERVICES
from gateway.web.problems import STATUS, problem_middleware

PREFIX = "/api/v1"


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document(request.config_dict[SERVICES].url(PREFIX)))


async def docs(request: web.Request) -> web.Response:
    doc = document(request.config_dict[SERVICES].url(PREFIX))
    schemas = doc["components"]["schemas"]
    pay_methods = [{"code": code, "action": spec.action.value, "schema": ACTION_SCHEMAS[spec.action.value],
                    "browsers": ", ".join(sorted(spec.browsers)), "payer_field": spec.payer_field}
                   for code, spec in sorted(SPECS.items())]
    actions = [{"type": kind, "description": schemas[name].get("description", ""),
                "fields": [f for f in schemas[name]["properties"] if f != "type"]}
               for kind, name in ACTION_SCHEMAS.items()]
    errors = [{"code": code, "status": status, "meaning": ERROR_CODES.get(code, "")}
              for code, status in sorted(STATUS.items(), key=lambda kv: (kv[1], kv[0]))]
    return aiohttp_jinja2.render_template("api_docs.html", request, {
        "doc": doc, "operations": OPERATIONS, "schemas": schemas, "pay_methods": pay_methods,
        "actions": actions, "errors": errors})


def create_api_app(extra_routes: list[web.RouteTableDef] | None = None) -> web.Application:
    app = web.Application(middlewares=[problem_middleware, auth_middleware, rate_limit_middleware,
                                       idempotency_middleware])
    group_commits(app)
    app.router.add_get("/openapi.json", openapi_json, name="openapi")
    app.router.add_get("/docs", docs, name="docs")
    app.add_routes(payments.routes)
    app.add_routes(links.routes)
    app.add_routes(refunds.routes)
    app.add_routes(events.routes)
    app.add_routes(reconciliation.routes)
    app.add_routes(wallets.routes)
    app.add_routes(keys.routes)
    app.add_routes(sandbox_helpers.routes)  # they answer 404 unless the sandboxes are on
    app.add_routes(risk.routes)
    for table in extra_routes or []:
        app.add_routes(table)
    return app
