"""Scenarios of issue 4: the checkout page and the status endpoint against the bare reference (goal:
status ≥ 0.8×), and long-poll -- how many waiting shoppers one process holds, at what memory, and how
soon a waiter hears of a callback."""
from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import aiohttp

from tests.bench import notifies
from tests.bench.common import Options, compare, create_payments, plan
from tests.bench.procs import GatewayProcess, Reference, rss_kib
from tests.bench.report import Figure, median_spread, pending
from tests.bench.scenarios import attempts_by_payment

DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as resp:
        return resp.status, await resp.read()


async def checkout(opts: Options) -> list[Figure]:
    figures: list[Figure] = []
    for db in opts.dbs:
        with opts.gateway(db) as gw:
            payment = (await create_payments(gw, 1))[0]
            status_path, page_path = f"/pay/{payment['id']}/status", f"/pay/{payment['id']}"
            code, body = await _get(gw.url + status_path)
            if code != 200:
                return [pending("checkout", "status endpoint / checkout page", f"GET /pay/{{id}}/status answered {code}")]
            page_code, page = await _get(gw.url + page_path, {"User-Agent": DESKTOP})
            with Reference(len(body)) as ref:
                figures.append(compare(
                    opts, "checkout", "status endpoint GET /pay/{id}/status", db,
                    plan(opts, gw.url, [{"method": "GET", "path": status_path}]),
                    plan(opts, ref.url, [{"method": "GET", "path": "/ref"}]),
                    f"bare aiohttp, {len(body)} B JSON"))
            if page_code != 200:
                figures.append(pending("checkout", "checkout page GET /pay/{id}", f"answered {page_code}"))
                continue
            with Reference(len(page)) as ref:
                headers = {"User-Agent": DESKTOP}
                figures.append(compare(
                    opts, "checkout", "checkout page GET /pay/{id} (desktop)", db,
                    plan(opts, gw.url, [{"method": "GET", "path": page_path, "headers": headers}]),
                    plan(opts, ref.url, [{"method": "GET", "path": "/ref", "headers": headers}]),
                    f"bare aiohttp, {len(page)} B"))
    return figures


async def _hold(gw: GatewayProcess, payment_ids: list[str], count: int, wait: int) -> dict[str, Any]:
    """``count`` shoppers long-polling at once; the gateway's memory while it holds them, a plain status
    request's latency meanwhile, and whether every waiter was held for its whole wait."""
    assert gw.proc is not None
    rss_before = rss_kib(gw.proc.pid)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    held: list[float] = []
    other: dict[str, int] = {}

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=wait + 60)) as http:
        async def waiter(i: int) -> None:
            began = time.perf_counter()
            url = f"{gw.url}/pay/{payment_ids[i % len(payment_ids)]}/status?wait={wait}"
            try:
                async with http.get(url, headers={"If-None-Match": '"pending"'}) as resp:
                    await resp.read()
                    if resp.status == 304:
                        held.append(time.perf_counter() - began)
                    else:
                        other[str(resp.status)] = other.get(str(resp.status), 0) + 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                other[type(exc).__name__] = other.get(type(exc).__name__, 0) + 1

        tasks = []
        opened = time.perf_counter()
        for start in range(0, count, 250):  # in steps: the listen backlog is finite
            tasks += [asyncio.create_task(waiter(i)) for i in range(start, min(count, start + 250))]
            await asyncio.sleep(0.05)
        await asyncio.sleep(min(3.0, wait / 3))
        rss_holding = rss_kib(gw.proc.pid)
        probes = []
        for _ in range(20):
            began = time.perf_counter()
            async with aiohttp.ClientSession() as probe, probe.get(f"{gw.url}/pay/{payment_ids[0]}/status") as r:
                await r.read()
            probes.append((time.perf_counter() - began) * 1000)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - opened
    full = sum(1 for t in held if t >= wait - 0.5)
    return {"waiters": count, "held_full_wait": full, "answered_early_or_failed": count - full,
            "errors_or_non_304": other, "rss_before_kib": rss_before, "rss_holding_kib": rss_holding,
            "kib_per_waiter": (rss_holding - rss_before) / count, "probe_p50_ms": statistics.median(probes),
            "probe_max_ms": max(probes), "seconds": elapsed}


async def _wake_delays(gw: GatewayProcess, rounds: int) -> list[dict[str, float]]:
    """One shopper long-polls; its payment's signed callback is POSTed; how long until the shopper hears.
    ``answer_ms`` counts from sending the callback, so it bounds the commit→answer delay from above;
    ``ack_ms`` is the callback's own round trip (its commit happens before the ack)."""
    created = await create_payments(gw, rounds, channel="alipay_qr")
    trades = await attempts_by_payment(gw.database_url, [p["id"] for p in created])
    requests = notifies.alipay(gw.sandbox_keys()["alipay"], f"{gw.url}/notify/alipay",
                               [trades[p["id"]] for p in created])
    out = []
    async with aiohttp.ClientSession() as http:
        for p, request in zip(created, requests, strict=True):

            async def shopper(pid: str = p["id"]) -> float:
                async with http.get(f"{gw.url}/pay/{pid}/status?wait=20",
                                    headers={"If-None-Match": '"pending"'}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"long-poll answered {resp.status}")
                return time.perf_counter()

            task = asyncio.create_task(shopper())
            await asyncio.sleep(0.2)  # the waiter is registered
            sent = time.perf_counter()
            async with http.post(gw.url + request["path"], data=request["body"].encode(),
                                 headers=request["headers"]) as resp:
                await resp.read()
                acked = time.perf_counter()
            answered = await task
            out.append({"answer_ms": (answered - sent) * 1000, "ack_ms": (acked - sent) * 1000})
    return out


async def longpoll(opts: Options) -> list[Figure]:
    figures: list[Figure] = []
    wait = 5 if opts.quick else 10
    for db in opts.dbs:
        with opts.gateway(db) as gw:
            payment = (await create_payments(gw, 1))[0]
            code, _ = await _get(f"{gw.url}/pay/{payment['id']}/status")
            if code != 200:
                return [pending("longpoll", "long-poll", f"GET /pay/{{id}}/status answered {code}")]
            ids = [p["id"] for p in await create_payments(gw, min(200, opts.waiters))]
            hold = await _hold(gw, ids, opts.waiters, wait)
            ok = hold["held_full_wait"] == opts.waiters
            figures.append(Figure(
                "longpoll", f"waiting shoppers held (wait={wait}s)", db, hold["held_full_wait"], "waiters",
                note=(f"{'all' if ok else 'NOT all'} of {opts.waiters} held; gateway RSS "
                      f"{hold['rss_before_kib'] / 1024:.0f}→{hold['rss_holding_kib'] / 1024:.0f} MiB "
                      f"({hold['kib_per_waiter']:.1f} KiB/waiter); a plain status GET meanwhile: "
                      f"p50 {hold['probe_p50_ms']:.1f} ms, max {hold['probe_max_ms']:.1f} ms"),
                runs=[hold]))
            delays = await _wake_delays(gw, 5 if opts.quick else 30)
            answer = sorted(d["answer_ms"] for d in delays)
            value, spread = median_spread(answer)
            figures.append(Figure(
                "longpoll", "callback sent → waiting shopper answered", db, value, "ms", spread,
                p50_ms=value, p99_ms=answer[min(len(answer) - 1, round(0.99 * (len(answer) - 1)))],
                note=f"{len(answer)} rounds; the callback's own round trip (commit inside): p50 "
                     f"{statistics.median(d['ack_ms'] for d in delays):.1f} ms", runs=delays))
    return figures
