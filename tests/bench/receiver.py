"""The webhook receiver of the ``webhooks`` scenario: a bare aiohttp app that reads every POST, answers
200 and counts it -- per path, and the distinct ``webhook-id`` headers among them, so the runner can check
each event arrived exactly once. ``python -m tests.bench.receiver --port N``.

``GET /stats`` answers the counts; ``POST /reset`` zeroes them. Any other POST is a delivery: the gateway
posts to ``/hook``, the reference client to ``/ref``.
"""
from __future__ import annotations

import argparse
import sys

from aiohttp import web

from tests.support.receiver import Hit, Receiver


def tally(hits: list[Hit]) -> dict[str, object]:
    ids = {h.headers["webhook-id"] for h in hits if "webhook-id" in h.headers}
    return {"requests": len(hits), "distinct": len(ids), "first": min((h.wall for h in hits), default=None),
            "last": max((h.wall for h in hits), default=None)}


def make_app() -> web.Application:
    rec = Receiver("")  # every POST is recorded and answered 200

    async def stats(request: web.Request) -> web.Response:
        paths = sorted({h.path for h in rec.hits})
        return web.json_response({path: tally([h for h in rec.hits if h.path == path]) for path in paths})

    async def reset(request: web.Request) -> web.Response:
        rec.hits.clear()
        return web.json_response({})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_get("/ready", ready)
    app.router.add_post("/reset", reset)
    return rec.mount(app)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
