"""The webhook receiver of the ``webhooks`` scenario: a bare aiohttp app that reads every POST, answers
200 and counts it -- per path, and the distinct ``webhook-id`` headers among them, so the runner can check
each event arrived exactly once. ``python -m tests.bench.receiver --port N``.

``GET /stats`` answers the counts; ``POST /reset`` zeroes them. Any other POST is a delivery: the gateway
posts to ``/hook``, the reference client to ``/ref``.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Tally:
    requests: int = 0
    ids: set[str] = field(default_factory=set)
    first: float | None = None  # wall-clock seconds (time.time()), comparable across processes
    last: float | None = None

    def as_json(self) -> dict[str, object]:
        return {"requests": self.requests, "distinct": len(self.ids), "first": self.first, "last": self.last}


def make_app() -> web.Application:
    tallies: dict[str, Tally] = {}

    async def deliver(request: web.Request) -> web.Response:
        await request.read()
        tally = tallies.setdefault(request.path, Tally())
        now = time.time()
        tally.requests += 1
        tally.first = tally.first or now
        tally.last = now
        if msg_id := request.headers.get("webhook-id"):
            tally.ids.add(msg_id)
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({path: t.as_json() for path, t in tallies.items()})

    async def reset(request: web.Request) -> web.Response:
        tallies.clear()
        return web.json_response({})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_get("/ready", ready)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", deliver)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
