"""The built-in alert notifier, for installs without Prometheus: the conditions of
``deploy/prometheus/alerts.yml`` with the same thresholds, evaluated every ``GATEWAY_ALERT_INTERVAL``
by one process at a time (the holder of the ``alerts`` job lease), sent to a DingTalk / WeCom / Feishu
group robot or by e-mail when an alert starts firing, again every ``GATEWAY_ALERT_RENOTIFY`` while it
fires, and once when it resolves. What was sent is kept in ``alert_state``: a restart, or the lease
moving to another process, sends nothing twice.

Conditions read from the database are the same for every process. The 5xx and channel-error rates and
the callback lag are the evaluating process's own counters since its previous round (Prometheus sums
all processes; a callback's lag does not depend on the process that took it).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import smtplib
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiohttp

from gateway.config import Settings
from gateway.observability.endpoints import credential_expiry
from gateway.observability.metrics import Metrics
from gateway.services.context import Services
from gateway.store import alerts as repo
from gateway.store import health
from gateway.store.base import utcnow
from gateway.store.db import offloaded

log = logging.getLogger(__name__)

LEASE = "alerts"
# Thresholds: the same as deploy/prometheus/alerts.yml (see the reasons there).
WEBHOOK_OLDEST = 900.0  # seconds
WEBHOOK_BACKLOG = 1000
REFUND_FAILED_SHARE, REFUND_MIN = 0.10, 10
PAID_DROP_SHARE, PAID_MIN_LAST_WEEK = 0.5, 50
ERROR_SHARE_5XX, ERROR_MIN_REQUESTS = 0.01, 20
CHANNEL_ERROR_SHARE, CHANNEL_MIN_CALLS = 0.05, 10
CREDENTIAL_DAYS = 30
# Callback lag: the rules' p95 > 30 s, as "more than 5 % of callbacks later than 30 s" (a bucket bound).
CALLBACK_LAG, CALLBACK_LATE_SHARE, CALLBACK_MIN = 30, 0.05, 5


@dataclass(frozen=True)
class Alert:
    name: str
    firing: bool
    summary: str


# -- conditions ----------------------------------------------------------------------------------------

async def evaluate(svc: Services, window: _Window, now: datetime | None = None) -> list[Alert]:
    """Every condition, firing or not, with a one-line summary."""
    now = now or utcnow()
    with offloaded():  # SQLite: counts over every pending payment, on a thread rather than the loop
        async with svc.db.read() as conn:
            f = await health.figures(conn, now)
            refunds = await health.refund_results_since(conn, now - timedelta(hours=1))
            paid_now = await health.paid_between(conn, now - timedelta(hours=1), now)
            paid_week = await health.paid_between(conn, now - timedelta(days=7, hours=1),
                                                  now - timedelta(days=7))
    backlog = f.webhook_backlog.get("pending", 0) + f.webhook_backlog.get("retrying", 0)
    finished = sum(refunds.values())
    failed_refunds = refunds.get("failed", 0)
    expiring = {account: at for (_, account), at in (await credential_expiry(svc)).items()
                if at - now.timestamp() < CREDENTIAL_DAYS * 86400}
    d = window.delta(svc.metrics)
    http_total, http_5xx = d.get("http", 0.0), d.get("http_5xx", 0.0)
    failing = sorted(key.split(":", 1)[1] for key, calls in d.items() if key.startswith("calls:")
                     and calls >= CHANNEL_MIN_CALLS and d.get("failed:" + key[6:], 0.0) / calls > CHANNEL_ERROR_SHARE)
    callbacks = d.get("callbacks", 0.0)
    late = callbacks - d.get("callbacks_in_time", 0.0)
    return [
        Alert("stuck_pending_payments", f.stuck_pending > 0,
              f"{f.stuck_pending} pending payments are more than 10 minutes past their expiry"),
        Alert("webhook_backlog_old", f.webhook_oldest_age > WEBHOOK_OLDEST,
              f"the oldest undelivered webhook event is {int(f.webhook_oldest_age)} s old"),
        Alert("webhook_backlog_large", backlog > WEBHOOK_BACKLOG, f"{backlog} webhook events wait for delivery"),
        Alert("refund_failures", finished >= REFUND_MIN and failed_refunds / max(finished, 1) > REFUND_FAILED_SHARE,
              f"{failed_refunds} of {finished} refunds failed in the last hour"),
        Alert("reconciliation_failed", f.recon_batches.get("failed", 0) > 0,
              f"{f.recon_batches.get('failed', 0)} reconciliation batches of the last 3 days failed"),
        Alert("discrepancies_open", f.recon_open.get("high", 0) > 0,
              f"{f.recon_open.get('high', 0)} high-severity reconciliation discrepancies are open"),
        Alert("credential_expiry", bool(expiring),
              "certificates expire within 30 days: " + ", ".join(
                  f"{account} ({datetime.fromtimestamp(at).date()})" for account, at in sorted(expiring.items()))),
        Alert("paid_volume_drop", paid_week >= PAID_MIN_LAST_WEEK and paid_now < PAID_DROP_SHARE * paid_week,
              f"{paid_now} payments paid in the last hour, {paid_week} in the same hour last week"),
        Alert("high_5xx_rate", http_total >= ERROR_MIN_REQUESTS and http_5xx / max(http_total, 1) > ERROR_SHARE_5XX,
              f"{int(http_5xx)} of {int(http_total)} requests answered 5xx since the last round"),
        Alert("channel_errors", bool(failing), "more than 5 % of calls fail at: " + ", ".join(failing)),
        Alert("callback_lag", callbacks >= CALLBACK_MIN and late / max(callbacks, 1) > CALLBACK_LATE_SHARE,
              f"{int(late)} of {int(callbacks)} payment callbacks came more than {CALLBACK_LAG} s after payment"),
    ]


class _Window:
    """This process's counters at its previous round, to take differences: HTTP answers (and 5xx),
    channel calls (and failures) by channel, payment callbacks (and those later than 30 s)."""

    def __init__(self) -> None:
        self._last: dict[str, float] | None = None

    @staticmethod
    def _totals(metrics: Metrics) -> dict[str, float]:
        out: dict[str, float] = {}

        def add(key: str, value: float) -> None:
            out[key] = out.get(key, 0.0) + value

        answered, failed = metrics.http.totals()
        add("http", answered)
        add("http_5xx", failed)
        for family in metrics.channel_requests.collect():
            for s in family.samples:
                if s.name.endswith("_total"):
                    add(f"calls:{s.labels['channel']}", s.value)
                    failed = s.labels["outcome"] in ("declined", "unknown", "error")
                    add(f"failed:{s.labels['channel']}", s.value if failed else 0.0)
        for family in metrics.callback_lag.collect():
            for s in family.samples:
                if s.name.endswith("_count"):
                    add("callbacks", s.value)
                elif s.name.endswith("_bucket") and float(s.labels["le"]) == CALLBACK_LAG:
                    add("callbacks_in_time", s.value)
        return out

    def delta(self, metrics: Metrics) -> dict[str, float]:
        now = self._totals(metrics)
        last, self._last = self._last, now
        if last is None:
            return {}
        return {key: value - last.get(key, 0.0) for key, value in now.items()}


# -- messages ------------------------------------------------------------------------------------------

def message(changes: list[tuple[str, Alert]], service: str) -> str:
    lines = [f"[{service}] gateway alerts"]
    for kind, alert in changes:
        lines.append(f"{kind}: {alert.name} -- {alert.summary}")
    return "\n".join(lines)


def dingtalk_signed(url: str, secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: ``sign = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))``, URL-encoded,
    with the millisecond timestamp, appended to the robot's URL."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's 签名校验: HMAC-SHA256 keyed with ``f"{timestamp}\\n{secret}"`` over an empty message, base64."""
    return base64.b64encode(hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


def robot_request(kind: str, url: str, secret: str | None, text: str,
                  clock: Callable[[], float] = time.time) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body a ``kind`` group robot expects for a text message."""
    if kind == "dingtalk":
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
        return (dingtalk_signed(url, secret, int(clock() * 1000)) if secret else url), body
    if kind == "wecom":
        return url, {"msgtype": "text", "text": {"content": text}}
    if kind == "feishu":
        body = {"msg_type": "text", "content": {"text": text}}
        if secret:
            ts = int(clock())
            body |= {"timestamp": str(ts), "sign": feishu_sign(secret, ts)}
        return url, body
    raise ValueError(f"unknown robot kind {kind!r}")


async def send_robot(http: aiohttp.ClientSession, settings: Settings, text: str) -> None:
    """Post to the robot; raises if it did not take the message (HTTP error, or its ``errcode``/``code``)."""
    assert settings.alert_webhook_url
    secret = settings.alert_webhook_secret.reveal() if settings.alert_webhook_secret else None
    url, body = robot_request(settings.alert_webhook_kind, settings.alert_webhook_url.reveal(), secret, text)
    async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        answer = await resp.json(content_type=None) if resp.status == 200 else None
    code = (answer or {}).get("errcode", (answer or {}).get("code", (answer or {}).get("StatusCode")))
    if resp.status != 200 or code not in (0, None):
        raise RuntimeError(f"{settings.alert_webhook_kind} robot refused the alert: HTTP {resp.status} {code}")


def send_email(settings: Settings, subject: str, text: str) -> None:
    """Blocking (run in a thread): one message over SMTP, STARTTLS for ``smtp://`` when offered,
    TLS from the start for ``smtps://``."""
    assert settings.alert_smtp_url
    url = urllib.parse.urlsplit(settings.alert_smtp_url.reveal())
    msg = EmailMessage()
    msg["Subject"], msg["From"] = subject, settings.alert_email_from
    msg["To"] = ", ".join(a.strip() for a in settings.alert_email_to.split(",") if a.strip())
    msg.set_content(text)
    smtp_cls = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_cls(url.hostname or "localhost", url.port or (465 if url.scheme == "smtps" else 25), timeout=15) as smtp:
        if url.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
        if url.username:
            smtp.login(urllib.parse.unquote(url.username), urllib.parse.unquote(url.password or ""))
        smtp.send_message(msg)


# -- the round -----------------------------------------------------------------------------------------

class Notifier:
    """One per process; :meth:`round` is the runner's periodic job."""

    def __init__(self, svc: Services, http: aiohttp.ClientSession) -> None:
        self.svc, self.http = svc, http
        self.holder = secrets.token_hex(8)
        self._window = _Window()

    async def round(self) -> int:
        """Evaluate and send if this process holds the lease; returns the number of changes sent."""
        s = self.svc.settings
        now = utcnow()
        async with self.svc.db.begin() as conn:
            if not await repo.take_lease(conn, LEASE, self.holder, now,
                                         now + timedelta(seconds=max(2 * s.alert_interval, 30))):
                return 0
        alerts = await evaluate(self.svc, self._window, now)
        async with self.svc.db.read() as conn:
            known = await repo.states(conn)
        changes: list[tuple[str, Alert]] = []
        for alert in alerts:
            row = known.get(alert.name)
            if alert.firing and (row is None or not row["firing"]):
                changes.append(("FIRING", alert))
            elif alert.firing and row is not None and (row["notified_at"] is None
                                   or now - row["notified_at"] >= timedelta(seconds=s.alert_renotify)):
                changes.append(("STILL FIRING", alert))
            elif not alert.firing and row is not None and row["firing"]:
                changes.append(("RESOLVED", alert))
        if not changes:
            return 0
        await self.send(message(changes, s.public_url or "gateway"))
        async with self.svc.db.begin() as conn:
            for kind, alert in changes:
                row = known.get(alert.name)
                since = now if kind != "STILL FIRING" or row is None else row["since"]
                await repo.save(conn, alert.name, firing=alert.firing, summary=alert.summary, since=since,
                                notified_at=now)
        log.warning("alerts sent: %s", ", ".join(f"{k} {a.name}" for k, a in changes))
        return len(changes)

    async def send(self, text: str) -> None:
        s = self.svc.settings
        if s.alert_webhook_url:
            await send_robot(self.http, s, text)
        if s.alert_smtp_url and s.alert_email_to:
            subject = text.splitlines()[1] if len(text.splitlines()) > 1 else text
            await asyncio.to_thread(send_email, s, subject[:200], text)
