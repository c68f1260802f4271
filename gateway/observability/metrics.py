"""Prometheus metrics: one :class:`Metrics` per app, with its own ``CollectorRegistry`` (nothing global,
nothing at import time), reachable as ``svc.metrics`` wherever a count is made.

Counters and histograms are counted where the work has one entrance: the edge middleware (HTTP), the
settlement and payment services (created / paid / closed), the callback pipeline, the channel pool's
wrapper (every channel call), the webhook job and the sync jobs. Gauges that need the database
(backlog, pending by age band, reconciliation) are refreshed by the scrape handler itself, awaited on
the event loop (never a blocking query inside a collector) and cached for :data:`REFRESH_EVERY` seconds.

Labels are bounded: routes are canonical patterns (``/api/v1/payments/{payment_id}``), never raw paths;
no merchant, payment or trade ids.
"""
from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

REFRESH_EVERY = 10.0  # seconds a scrape's database figures are reused (several scrapers, one query set)
LAG_PROBE_EVERY = 0.5  # seconds between event-loop lag probes

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CHANNEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20)
LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 3600)
PENDING_BANDS = (("lt_5m", 300), ("5m_30m", 1800), ("30m_2h", 7200), ("2h_1d", 86400), ("ge_1d", None))

# A channel answer's outcome, as the metrics name it (bounded, the same for every channel).
CHANNEL_OUTCOMES = {"success": "ok", "fail": "ok", "waiting": "ok", "unknown": "unknown",
                    "channel_error": "declined"}


@dataclass
class Liveness:
    """When each background loop last completed a round, and how long it may go without one."""

    rounds: dict[str, float] = field(default_factory=dict)  # name → monotonic time of the last round
    limits: dict[str, float] = field(default_factory=dict)  # name → seconds before it counts as stuck

    def register(self, name: str, limit: float) -> None:
        self.limits[name] = limit
        self.rounds.setdefault(name, time.monotonic())

    def beat(self, name: str) -> None:
        self.rounds[name] = time.monotonic()

    def report(self, now: float | None = None) -> dict[str, dict[str, float | bool]]:
        now = time.monotonic() if now is None else now
        return {name: {"seconds_since_round": round(now - self.rounds[name], 3),
                       "ok": now - self.rounds[name] <= limit}
                for name, limit in sorted(self.limits.items())}


class _Snapshot(Collector):
    """Yields the last database snapshot's gauges (set by :meth:`Metrics.refresh`); never queries."""

    def __init__(self) -> None:
        self.families: list[GaugeMetricFamily] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # dynamic: not checked for duplicates at registration


class HttpCounts(Collector):
    """Answered requests by (app, route, method, status): a count, a time sum and a per-bucket count in
    plain ints, turned into ``gateway_http_requests_total`` and ``gateway_http_request_duration_seconds``
    (by status class) only when scraped. prometheus-client's Counter and Histogram take a mutex per
    increment -- three per request, more than the status endpoint's own work; every count here is made on
    the event loop's thread, as is the scrape, so plain ints need none."""

    _bounds = HTTP_BUCKETS
    _les = (*(str(float(b)) for b in HTTP_BUCKETS), "+Inf")  # the buckets' "le" labels

    def __init__(self) -> None:
        # key -> [count, seconds, bucket 0 .. bucket n (+Inf)], the buckets not cumulative
        self._counts: dict[tuple[str, str, str, int], list[float]] = {}

    def add(self, app: str, route: str, method: str, status: int, seconds: float) -> None:
        key = (app, route, method, status)
        row = self._counts.get(key)
        if row is None:
            row = self._counts[key] = [0, 0.0, *([0] * (len(self._bounds) + 1))]
        row[0] += 1
        row[1] += seconds
        row[2 + bisect.bisect_left(self._bounds, seconds)] += 1  # buckets are "≤ le"

    def totals(self) -> tuple[int, int]:
        """Requests answered, and those answered 5xx."""
        rows = list(self._counts.items())
        return (int(sum(row[0] for _, row in rows)),
                int(sum(row[0] for key, row in rows if key[3] >= 500)))

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("gateway_http_requests", "HTTP requests answered",
                                       labels=["app", "route", "method", "status"])
        by_class: dict[tuple[str, str, str, str], list[float]] = {}
        for (app, route, method, status), row in list(self._counts.items()):
            requests.add_metric([app, route, method, str(status)], row[0])
            merged = by_class.setdefault((app, route, method, status_class(status)), [0.0] * len(row))
            for i, value in enumerate(row):
                merged[i] += value
        yield requests
        duration = HistogramMetricFamily("gateway_http_request_duration_seconds", "HTTP request handling time",
                                         labels=["app", "route", "method", "status_class"])
        for labels, row in by_class.items():
            cumulative, buckets = 0.0, []
            for le, count in zip(self._les, row[2:], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            duration.add_metric(list(labels), buckets, sum_value=row[1])
        yield duration

    def describe(self) -> list[Metric]:
        return []


class Metrics:
    def __init__(self, refresh_every: float = REFRESH_EVERY) -> None:
        self.refresh_every = refresh_every
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.liveness = Liveness()
        self.http = HttpCounts()  # the edge middleware counts each answered request: ``http.add``
        r.register(self.http)
        self.payments_created = Counter("gateway_payments_created_total", "Payments created",
                                        ["pay_method"], registry=r)
        self.payments_paid = Counter("gateway_payments_paid_total", "Payments that became paid",
                                     ["pay_method", "late"], registry=r)
        self.payments_paid_amount = Counter("gateway_payments_paid_amount_fen_total",
                                            "Amount paid, in minor units (fen)", ["currency"], registry=r)
        self.payments_closed = Counter("gateway_payments_closed_total", "Payments closed unpaid",
                                       ["pay_method", "reason"], registry=r)
        self.callbacks = Counter("gateway_callbacks_total", "Channel callbacks handled",
                                 ["channel", "result", "reason"], registry=r)
        self.callback_duration = Histogram("gateway_callback_handle_duration_seconds",
                                           "Time to handle one channel callback", ["channel"],
                                           buckets=CHANNEL_BUCKETS, registry=r)
        self.callback_lag = Histogram("gateway_callback_lag_seconds",
                                      "Payment callback receipt minus the channel's success time", ["channel"],
                                      buckets=LAG_BUCKETS, registry=r)
        self.channel_requests = Counter("gateway_channel_requests_total", "Calls to a channel",
                                        ["channel", "operation", "outcome"], registry=r)
        self.channel_duration = Histogram("gateway_channel_request_duration_seconds", "Channel call time",
                                          ["channel", "operation"], buckets=CHANNEL_BUCKETS, registry=r)
        self.refunds_finished = Counter("gateway_refunds_finished_total", "Refunds that reached a final state",
                                        ["result"], registry=r)
        self.webhook_deliveries = Counter("gateway_webhook_deliveries_total", "Webhook delivery attempts",
                                          ["result"], registry=r)
        self.webhook_duration = Histogram("gateway_webhook_delivery_duration_seconds",
                                          "Webhook delivery attempt time", buckets=CHANNEL_BUCKETS, registry=r)
        self.sync_repairs = Counter("gateway_sync_repairs_total",
                                    "Payments and refunds settled by a sync query (a callback that never came)",
                                    ["kind", "result"], registry=r)
        self.recon_runs = Counter("gateway_reconciliation_runs_total", "Reconciliation batches finished",
                                  ["status"], registry=r)
        self.risk_decisions = Counter("gateway_risk_decisions_total",
                                      "Risk decisions with a rule fired, by hook and decision (monitor-mode hits "
                                      "count under the decision taken: allow)", ["hook", "decision"], registry=r)
        self.loop_lag = Gauge("gateway_event_loop_lag_seconds", "How late the last event-loop probe woke up",
                              registry=r)
        self.job_last_round = Gauge("gateway_job_last_run_timestamp_seconds",
                                    "When a background loop last completed a round", ["job"], registry=r)
        self._snapshot = _Snapshot()
        r.register(self._snapshot)
        self._refreshed = 0.0
        self._refreshing: asyncio.Lock | None = None

    # -- counts made at the entrances -------------------------------------------------------------------

    def channel_call(self, channel: str, operation: str, outcome: str, seconds: float) -> None:
        self.channel_requests.labels(channel, operation, outcome).inc()
        self.channel_duration.labels(channel, operation).observe(seconds)

    def beat(self, job: str) -> None:
        self.liveness.beat(job)
        self.job_last_round.labels(job).set_to_current_time()

    # -- scrape ---------------------------------------------------------------------------------------

    async def refresh(self, gather: Callable[[], Awaitable[list[GaugeMetricFamily]]]) -> None:
        """Replace the database gauges with ``await gather()`` (a list of metric families), at most every
        :data:`REFRESH_EVERY` seconds; concurrent scrapes share one refresh."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if self._refreshed and time.monotonic() - self._refreshed < self.refresh_every:
                return
            self._snapshot.families = await gather()
            self._refreshed = time.monotonic()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def probe_loop_lag(metrics: Metrics, every: float = LAG_PROBE_EVERY) -> None:
    """Sleep ``every`` seconds, again and again; how much later than asked the loop woke is its lag."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(every)
        metrics.loop_lag.set(max(0.0, loop.time() - start - every))


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def pending_band(age_seconds: float) -> str:
    for name, upper in PENDING_BANDS:
        if upper is None or age_seconds < upper:
            return name
    return PENDING_BANDS[-1][0]
