"""The load generator, run as its own process: ``python -m tests.bench.load PLAN.json`` prints one JSON
result on stdout.

A plan is a fixed set of requests sent at a fixed concurrency (a closed loop: each of ``concurrency``
workers sends its next request when its answer arrived):

* ``mode: "cycle"`` -- ``warmup`` seconds unrecorded, then ``duration`` seconds recorded, cycling over
  ``requests``; the literal ``@N@`` in a path, a body or a header's value becomes a number unique to
  this run (unique ``out_trade_no`` and ``Idempotency-Key`` for creates);
* ``mode: "once"`` -- every request exactly once, as fast as the concurrency allows (callbacks: each
  signed notify is for its own attempt); throughput = count / wall time.

Two drivers: ``python`` (aiohttp client, always available) and ``wrk`` (cycle mode only, used when the
binary is on PATH). The Python client spends most of a core per few thousand requests a second, so on a
small machine it, not the server, may be the bottleneck for the bare reference; wrk is not.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

MARK = "@N@"


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def summarise(latencies: list[float], seconds: float, statuses: dict[str, int], errors: int,
              driver: str) -> dict[str, Any]:
    lat = sorted(latencies)
    return {"driver": driver, "requests": len(lat), "seconds": round(seconds, 3),
            "rps": round(len(lat) / seconds, 1) if seconds > 0 else 0.0,
            "p50_ms": round(percentile(lat, 50) * 1000, 3), "p99_ms": round(percentile(lat, 99) * 1000, 3),
            "mean_ms": round(statistics.fmean(lat) * 1000, 3) if lat else float("nan"),
            "statuses": statuses, "errors": errors}


async def run_python(plan: dict[str, Any]) -> dict[str, Any]:
    base, requests = plan["base"].rstrip("/"), plan["requests"]
    concurrency, once = int(plan["concurrency"]), plan.get("mode") == "once"
    warmup, duration = float(plan.get("warmup", 0)), float(plan.get("duration", 0))
    prefix = f"{os.getpid()}{int(time.time() * 1000) % 10**8}"
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    counter = iter(range(10**12))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=float(plan.get("timeout", 30)))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        loop = asyncio.get_running_loop()
        start = loop.time()
        record_from = start + (0 if once else warmup)
        stop_at = record_from + duration

        async def worker() -> None:
            nonlocal errors
            while True:
                n = next(counter)
                if once and n >= len(requests):
                    return
                if not once and loop.time() >= stop_at:
                    return
                req = requests[n % len(requests)]
                path, body, headers = req["path"], req.get("body"), req.get("headers") or {}
                if not once:
                    tag = f"{prefix}n{n}"
                    path = path.replace(MARK, tag)
                    body = body.replace(MARK, tag) if body else body
                    headers = {k: v.replace(MARK, tag) for k, v in headers.items()}
                began = time.perf_counter()
                try:
                    async with http.request(req["method"], base + path, headers=headers,
                                            data=body.encode() if body else None) as resp:
                        await resp.read()
                        status = str(resp.status)
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    continue
                if once or loop.time() >= record_from:
                    latencies.append(time.perf_counter() - began)
                    statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = loop.time() - (start if once else record_from)
    return summarise(latencies, elapsed, statuses, errors, "python")


WRK_SCRIPT = """
local reqs = %(requests)s
local counter = 0
local prefix = tostring(os.time()) .. tostring(math.random(100000, 999999))
request = function()
  counter = counter + 1
  local r = reqs[(counter %% #reqs) + 1]
  local tag = prefix .. "n" .. counter
  local path = string.gsub(r.path, "@N@", tag)
  local body = r.body and string.gsub(r.body, "@N@", tag) or nil
  local headers = {}
  for k, v in pairs(r.headers or {}) do headers[k] = (string.gsub(v, "@N@", tag)) end
  return wrk.format(r.method, path, headers, body)
end
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local errs = summary.errors
  io.write(string.format('{"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, "mean_ms": %%f, ' ..
    '"errors": %%d, "non2xx": %%d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000,
    errs.connect + errs.read + errs.write + errs.timeout, errs.status))
end
"""


def _lua(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(k)}] = {_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    if value is None:
        return "nil"
    return json.dumps(value)  # strings and numbers: JSON escapes are valid Lua escapes here


def run_wrk(plan: dict[str, Any]) -> dict[str, Any]:
    reqs = [{"method": r["method"], "path": r["path"], "headers": r.get("headers") or {},
             "body": r.get("body")} for r in plan["requests"]]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT % {"requests": _lua(reqs)})
        script = fh.name
    try:
        def wrk(seconds: float) -> str:
            # one thread: on a 2-core box the other core belongs to the server under test
            cmd = ["wrk", "-t1", f"-c{plan['concurrency']}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                   "-s", script, plan["base"]]
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

        if plan.get("warmup"):
            wrk(float(plan["warmup"]))
        out = wrk(float(plan["duration"]))
    finally:
        Path(script).unlink(missing_ok=True)
    line = [ln for ln in out.splitlines() if ln.startswith('{"requests"')][-1]
    raw = json.loads(line)
    ok = raw["requests"] - raw["non2xx"]
    return {"driver": "wrk", "requests": raw["requests"], "seconds": round(raw["seconds"], 3),
            "rps": round(raw["requests"] / raw["seconds"], 1), "p50_ms": round(raw["p50_ms"], 3),
            "p99_ms": round(raw["p99_ms"], 3), "mean_ms": round(raw["mean_ms"], 3),
            "statuses": {"2xx": ok, "other": raw["non2xx"]}, "errors": raw["errors"]}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run(plan: dict[str, Any]) -> dict[str, Any]:
    driver = plan.get("driver", "auto")
    if driver == "auto":
        driver = "wrk" if wrk_available() and plan.get("mode") != "once" else "python"
    if driver == "wrk":
        return run_wrk(plan)
    return asyncio.run(run_python(plan))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    plan = json.loads(Path(args[0]).read_text())
    print(json.dumps(run(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
