"""``/metrics`` (Prometheus text, behind a bearer token or an address allow-list), ``/readyz`` and the
cleanup context that owns the app's :class:`Metrics`."""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily

from gateway import keys
from gateway.crypto import x509
from gateway.observability.metrics import probe_loop_lag
from gateway.services.context import Services
from gateway.store import health
from gateway.store import reconciliation as recon_store
from gateway.store.db import offloaded

DB_TIMEOUT = 1.0  # seconds /readyz gives the database's SELECT 1


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """The event-loop lag probe, over the app's metrics (made with the app: its edge middleware holds
    them)."""
    metrics = app[keys.METRICS]
    probe = asyncio.create_task(probe_loop_lag(metrics), name="metrics:loop-lag")
    yield
    probe.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probe


def _allowed(request: web.Request) -> bool:
    settings = request.app[keys.SETTINGS]
    token = settings.metrics_token.reveal() if settings.metrics_token else ""
    auth = request.headers.get("Authorization", "")
    if token and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
        return True
    try:
        remote = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    return any(remote in ipaddress.ip_network(n.strip(), strict=False)
               for n in settings.metrics_allow.split(",") if n.strip())


async def metrics_view(request: web.Request) -> web.Response:
    """Refused unless the bearer token matches ``GATEWAY_METRICS_TOKEN`` or the client's address is in
    ``GATEWAY_METRICS_ALLOW``: the figures show business volume."""
    if not _allowed(request):
        if request.headers.get("Authorization"):
            raise web.HTTPUnauthorized(text="bad metrics token", headers={"WWW-Authenticate": "Bearer"})
        raise web.HTTPForbidden(text="metrics: send GATEWAY_METRICS_TOKEN as a bearer token")
    svc = request.app[keys.SERVICES]
    metrics = request.app[keys.METRICS]
    try:
        await metrics.refresh(lambda: _database_families(svc))
    except Exception:  # the process's own counters are still worth serving; the gauges keep their last value
        request.app.logger.warning("metrics: database figures unavailable", exc_info=True)
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _database_families(svc: Services) -> list[GaugeMetricFamily]:
    with offloaded():  # SQLite: counts over every pending payment, on a thread rather than the loop
        async with svc.db.read() as conn:
            f = await health.figures(conn)
    pending = GaugeMetricFamily("gateway_payments_pending", "Pending payments by age band", labels=["age"])
    for band, count in f.pending_by_band.items():
        pending.add_metric([band], count)
    stuck = GaugeMetricFamily("gateway_payments_stuck",
                              "Pending payments more than 10 minutes past their expiry", value=f.stuck_pending)
    backlog = GaugeMetricFamily("gateway_webhook_backlog", "Undelivered webhook events", labels=["state"])
    for state, count in f.webhook_backlog.items():
        backlog.add_metric([state], count)
    oldest = GaugeMetricFamily("gateway_webhook_oldest_undelivered_age_seconds",
                               "Age of the oldest event still to be delivered", value=f.webhook_oldest_age)
    batches = GaugeMetricFamily("gateway_reconciliation_batches", "Reconciliation batches of the last 3 days",
                                labels=["status"])
    for status in ("pending", "running", "done", "no_bill", "not_ready", "failed"):
        batches.add_metric([status], f.recon_batches.get(status, 0))
    open_ = GaugeMetricFamily("gateway_reconciliation_discrepancies_open", "Open discrepancies",
                              labels=["severity"])
    for severity, count in f.recon_open.items():
        open_.add_metric([severity], count)
    last = GaugeMetricFamily("gateway_reconciliation_last_success_timestamp_seconds",
                             "When a reconciliation batch last finished (0 = never)",
                             value=f.recon_last_done.timestamp() if f.recon_last_done else 0)
    expiry = GaugeMetricFamily("gateway_channel_credential_expiry_timestamp_seconds",
                               "When the first certificate in a channel account's credentials expires",
                               labels=["channel", "account"])
    for (channel, account), at in (await credential_expiry(svc)).items():
        expiry.add_metric([channel, account], at)
    pool = GaugeMetricFamily("gateway_db_pool_connections", "Database pool connections",
                             labels=["pool", "state"])
    for name, (in_use, size) in svc.db.pool_use().items():
        pool.add_metric([name, "in_use"], in_use)
        pool.add_metric([name, "size"], size)
    return [pending, stuck, backlog, oldest, batches, open_, last, expiry, pool]


async def credential_expiry(svc: Services) -> dict[tuple[str, str], float]:
    """Each active channel account's earliest certificate expiry (a Unix time), for the accounts whose
    credentials hold PEM certificates (Alipay certificate mode, UnionPay, WeChat's merchant certificate).
    Channel-blind: any credential value that parses as a certificate counts."""
    async with svc.db.read() as conn:
        accounts = await recon_store.active_accounts(conn)
    out: dict[tuple[str, str], float] = {}
    for account in accounts:
        try:
            credentials = svc.pool.credentials(account)
        except Exception:  # sealed under another key: the credential check reports that, not the metrics
            continue
        ends = [cert_end for value in credentials.values() if isinstance(value, str) and CERT_MARK in value
                for cert_end in _cert_ends(value)]
        if ends:
            out[(account["channel"], account["id"])] = min(ends)
    return out


CERT_MARK = "-----BEGIN CERTIFICATE-----"


def _cert_ends(text: str) -> list[float]:
    ends = []
    for block in text.split(CERT_MARK)[1:]:
        try:
            ends.append(x509.load_pem(CERT_MARK + block).not_valid_after_utc.timestamp())
        except ValueError:
            continue
    return ends


async def readyz(request: web.Request) -> web.Response:
    """200 when the database answers within a second and every background loop of this process completed
    a round recently; else 503 naming what failed (no DSNs, no hosts). Redis (or the in-process cache)
    is reported, ``degraded`` when it does not answer, but does not make the process unready: the
    gateway's correctness never depends on it (the cache's breaker serves in process meanwhile)."""
    svc = request.app[keys.SERVICES]
    checks: dict[str, object] = {}
    ready = True
    try:
        await asyncio.wait_for(svc.db.ping(), DB_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # not ready: say why, without a stack
        checks["database"], ready = f"error: {type(exc).__name__}", False
    try:
        await svc.cache.ping()  # bounded by the cache itself (its breaker)
        checks["cache"] = "ok"
    except Exception as exc:  # Redis is an accelerator behind a breaker: report it, stay ready
        checks["cache"] = f"degraded: {type(exc).__name__}"
    loops = request.app[keys.METRICS].liveness.report(time.monotonic())
    if loops:
        checks["loops"] = loops
        stale = sorted(name for name, state in loops.items() if not state["ok"])
        if stale:
            ready = False
            checks["stale_loops"] = stale
    return web.json_response({"status": "ready" if ready else "not_ready", "checks": checks},
                             status=200 if ready else 503)
