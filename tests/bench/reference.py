"""The reference: a bare aiohttp handler answering JSON of a given size -- what the same machine, Python
and aiohttp do with no gateway code at all. ``python -m tests.bench.reference --port N --bytes B``.

Every gateway figure is reported as a ratio to this server measured in the same run with the same
request shape, so the ratios survive a change of machine better than the absolute figures.
"""
from __future__ import annotations

import argparse
import sys

from aiohttp import web


def make_app(size: int) -> web.Application:
    # One string field padded so the serialised answer has ``size`` bytes, serialised per request as the
    # gateway's answers are.
    overhead = len('{"object": "payment", "pad": ""}')
    payload = {"object": "payment", "pad": "x" * max(0, size - overhead)}

    async def answer(request: web.Request) -> web.Response:
        if request.can_read_body:
            await request.read()
        return web.json_response(payload)

    app = web.Application()
    app.router.add_route("*", "/ref{tail:.*}", answer)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, default=700)
    args = p.parse_args(argv)
    web.run_app(make_app(args.bytes), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
