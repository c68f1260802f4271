"""What the risk engine adds to a payment create: the service's create (no channel, SQLite, in-process
cache) for a merchant with 50 rules enabled, beside the same create for a merchant with none -- the
reference, measured in the same run, interleaved call by call. Also the evaluation alone (the rules'
``check_create``) for the 50-rule merchant.

The 50 rules are a realistic mix (see :data:`MIX`), each with thresholds the load never reaches, so every
create runs all of them to the end and is allowed. ``python -m tests.bench risk [--quick]``; the promise
(issue 19): ≤ 0.2 ms added at p99.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.common import Options
from tests.bench.report import Figure, median_spread

# type → how many of the 50, with parameters that never fire under the load
MIX: list[tuple[int, dict[str, Any]]] = [
    (5, {"type": "amount_max", "amount": 10_000_000, "mode": "enforce"}),
    (5, {"type": "amount_min", "amount": 1, "mode": "enforce"}),
    (10, {"type": "velocity", "key": "ip", "count": 1_000_000, "window": 600}),
    (6, {"type": "velocity", "key": "merchant", "count": 1_000_000, "window": 60, "mode": "enforce"}),
    (4, {"type": "velocity", "key": "payer", "count": 1_000_000}),
    (4, {"type": "unpaid_velocity", "count": 1_000_000}),
    (4, {"type": "repeat_amount", "key": "ip", "count": 1_000_000}),
    (3, {"type": "payer_anomaly"}),
    (3, {"type": "hours", "start": "00:00", "end": "00:00"}),  # an empty window: never inside
    (2, {"type": "daily_count_cap", "count": 1_000_000}),  # one totals query per create, shared
    (2, {"type": "refund_ratio"}),  # not at create: skipped
    (2, {"type": "callback_source", "channel": "wechat"}),  # not at create: skipped
]
assert sum(n for n, _ in MIX) == 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(calls: int, repeats: int) -> list[dict[str, float]]:
    """Per repeat: p50/p99 (ms) of the plain create, the 50-rule create, and the evaluation alone."""
    from gateway.services import payments, risk, risk_manage
    from gateway.services.risk_rules import parse_rule
    from tests.factories import start_gateway, unique

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        async with start_gateway(Path(tmp), background=False, rate_limit=0) as gw:
            svc = gw.svc
            plain, ruled = await gw.merchant(), await gw.merchant()
            actor = risk_manage.Actor("bench")
            for n, body in MIX:
                for _ in range(n):
                    await risk_manage.create_rule(svc, ruled.id, parse_rule(body), actor)
            merchants = {"plain": {"id": plain.id}, "ruled": {"id": ruled.id}}
            assert len([r for r in await risk.rules_for(svc, ruled.id) if not r.id.startswith("default:")]) == 50

            def new() -> payments.NewPayment:
                return payments.NewPayment(amount=1999, currency="CNY", subject="Bench", out_trade_no=unique("b"),
                                           customer_ip="198.51.100.1")

            for _ in range(max(20, calls // 20)):  # warm up both paths (caches, statements)
                for name in merchants:
                    await payments.create_payment(svc, merchants[name], new())
            for _ in range(repeats):
                times: dict[str, list[float]] = {"plain": [], "ruled": [], "evaluation": []}
                for i in range(calls):
                    for name in (("plain", "ruled") if i % 2 else ("ruled", "plain")):
                        started = time.perf_counter()
                        view = await payments.create_payment(svc, merchants[name], new())
                        times[name].append((time.perf_counter() - started) * 1000)
                        assert view["risk"]["decision"] == "allow" and not view["risk"]["rules"], view["risk"]
                    started = time.perf_counter()
                    await risk.check_create(svc, merchant_id=ruled.id, payment_id=f"pay_bench{i}", amount=1999,
                                            currency="CNY", pay_method=None, ip="198.51.100.2", payer=None,
                                            expires_in=900)
                    times["evaluation"].append((time.perf_counter() - started) * 1000)
                runs.append({f"{k}_{q}": percentile(v, p) for k, v in times.items()
                             for q, p in (("p50", 0.5), ("p99", 0.99))})
    return runs


async def risk_figures(opts: Options) -> list[Figure]:
    calls = 200 if opts.quick else 2000
    runs = await measure(calls, opts.repeats)
    added = [r["ruled_p99"] - r["plain_p99"] for r in runs]
    value, spread = median_spread(added)
    ratio, ratio_spread = median_spread([r["ruled_p99"] / r["plain_p99"] for r in runs])
    plain = statistics.median(r["plain_p99"] for r in runs)
    evaluation, eval_spread = median_spread([r["evaluation_p99"] for r in runs])
    return [
        Figure("risk", "payment create p99 added by 50 rules", "sqlite", value, "ms", spread,
               p50_ms=statistics.median(r["ruled_p50"] for r in runs),
               p99_ms=statistics.median(r["ruled_p99"] for r in runs), ratio=ratio, ratio_spread=ratio_spread,
               reference=f"the same create with no rules: p99 {plain:.3f} ms",
               note=f"{calls} creates each, interleaved; promise ≤ 0.2 ms", runs=runs),
        Figure("risk", "rule evaluation alone, 50 rules (p99)", "sqlite", evaluation, "ms", eval_spread,
               p50_ms=statistics.median(r["evaluation_p50"] for r in runs), p99_ms=evaluation,
               note="check_create: rules and lists cached in process, counters in the in-process cache, "
                    "one totals query for the daily caps"),
    ]
