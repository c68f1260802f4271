"""Settings from ``GATEWAY_*`` environment variables and ``run.py`` flags (flags win).

Every variable is listed in :data:`VARIABLES` -- the README's configuration reference is generated from
the same table (``python run.py config-reference``) so the two cannot drift apart.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gateway.channels.base import EndpointSetting
from gateway.channels.registry import endpoint_settings
from gateway.crypto.secrets import Secret

# name, type, default, description
VARIABLES: list[tuple[str, str, str, str]] = [
    ("GATEWAY_HOST", "str", "127.0.0.1", "Address to listen on (`--host`)."),
    ("GATEWAY_PORT", "int", "8080", "Port to listen on (`--port`)."),
    ("GATEWAY_DATA_DIR", "path", "./var", "Where the embedded SQLite database, the generated secret key and the sandbox keys live (`--data-dir`)."),
    ("GATEWAY_DATABASE_URL", "url", "sqlite in the data dir", "SQLAlchemy URL: `mysql+aiomysql://user:pass@host:3306/db` for MySQL/MariaDB, `sqlite+aiosqlite:///path` for SQLite. Unset = embedded SQLite, migrated on start."),
    ("GATEWAY_REDIS_URL", "url", "unset", "`redis://host:6379/0`: rate limits, status pub/sub across processes. Unset = in-process fallback. Correctness never depends on it."),
    ("GATEWAY_PUBLIC_URL", "url", "http://HOST:PORT", "The URL shoppers and channels reach this gateway at: checkout links and channel notify URLs are built from it."),
    ("GATEWAY_SECRET_KEY", "secret", "generated into the data dir", "Master key: API keys are stored as HMAC under it, channel credentials and webhook secrets sealed (AES-256-GCM) under keys derived from it. Keep it stable."),
    ("GATEWAY_SANDBOX", "bool", "on with embedded SQLite, else off", "Mount the channel sandboxes under /sandbox/ and give new merchants sandbox channel accounts."),
    ("GATEWAY_SANDBOX_URL", "url", "unset", "Base URL of a sandbox running as its own process (`python run.py sandbox`); channel calls go there instead of the channels."),
    ("GATEWAY_SANDBOX_TIME_SCALE", "decimal", "1", "Compress the sandboxes' callback retry schedules (e.g. 0.001)."),
    # each channel's URL settings (GATEWAY_<CHANNEL>_…_URL), declared by its factory
    *((s.name, "url", s.default, s.description) for s in endpoint_settings()),
    ("GATEWAY_CHANNEL_TIMEOUT", "seconds", "10", "How long a channel call may take; past it the answer is *unknown* and resolved by query, never taken as a failure."),
    ("GATEWAY_TRUSTED_PROXIES", "list", "unset", "Comma-separated addresses/networks of reverse proxies (e.g. `127.0.0.1/32`) whose `X-Forwarded-For` gives the shopper's IP."),
    ("GATEWAY_RATE_LIMIT", "int", "1000", "API requests per second per merchant (across processes with Redis); 0 = no limit. Beyond it: 429."),
    ("GATEWAY_MAX_BODY_BYTES", "int", "65536", "Largest request body the merchant API accepts (413 beyond)."),
    ("GATEWAY_BACKGROUND", "bool", "on", "Run background work (expiry, channel sync, webhook delivery) in this process."),
    ("GATEWAY_TASK_TIME_SCALE", "decimal", "1", "Compress the background schedules (webhook retry backoff over 27 h, channel sync tiers, refund sync) by this ratio; tests use e.g. 0.001."),
    ("GATEWAY_TASK_INTERVAL", "seconds", "1", "How often an idle background loop looks for due rows (expiry, sync, webhooks)."),
    ("GATEWAY_TASK_LEASE", "seconds", "120", "How long a process holds a claimed background item; past it another process takes the item over. Must exceed the longest single piece of work (a channel call or webhook attempt)."),
    ("GATEWAY_WEBHOOK_TIMEOUT", "seconds", "10", "How long one webhook delivery attempt may take before it counts as failed."),
    ("GATEWAY_WEBHOOK_CONCURRENCY", "int", "4", "Webhook deliveries in flight per merchant, across all gateway processes: a dead endpoint holds at most this many and never delays other merchants."),
    ("GATEWAY_LATE_PAYMENT_POLICY", "str", "refund", "What to do with a payment the channel reports paid after it was closed here: `refund` (automatically) or `keep` (the merchant decides)."),
    ("GATEWAY_RECON_TIME", "HH:MM", "10:30", "When (Asia/Shanghai) the background runner starts reconciling each active channel account's previous day against the channel's bill (bills are published the next morning); retried every 30 minutes while the bill is not ready. `off` = no daily reconciliation (the `reconcile` command still works)."),
    ("GATEWAY_RECON_GIVE_UP", "HH:MM", "20:00", "If a day's bill is still not ready at this time (Asia/Shanghai) the next day, the batch fails with `never_ready` and an error is logged (alert on it)."),
    ("GATEWAY_SANDBOX_BILLS_IMMEDIATE", "bool", "off", "Sandboxes only: publish a day's bill at once instead of on the channels' schedule (the next day from 09:00, today's refused). For tests and demos."),
    ("GATEWAY_API_KEY_OVERLAP", "seconds", "86400", "After an API key rotation without `--revoke-old` / `revoke_old`, how long the replaced keys keep working."),
    ("GATEWAY_NOTIFY_LOG_KEEP_DAYS", "int", "30", "Days the notify log keeps refused channel callbacks (bad signature, unknown trade, oversized: an excerpt of each) before the background runner purges them; applied ones stay as long as the payments."),
    ("GATEWAY_ANON_IP_LIMIT", "int", "120", "Payment-link opens and checkout pay-method switches per minute from one IP address (across processes with Redis); 0 = no limit. Beyond it: a 429 page."),
    ("GATEWAY_ANON_LINK_LIMIT", "int", "600", "Payments opened per minute through one payment link; 0 = no limit."),
    ("GATEWAY_ANON_SWITCH_LIMIT", "int", "20", "Pay-method switches (each opens a channel order) per minute on one payment; 0 = no limit."),
    ("GATEWAY_LOG_LEVEL", "str", "INFO", "Python logging level."),
    ("GATEWAY_LOG_FORMAT", "str", "text", "`text` (one readable line per record) or `json` (one JSON object per line: time, level, logger, message, request_id and the record's context). Secrets, signatures, keys, phone and ID numbers are redacted either way."),
    ("GATEWAY_ACCESS_LOG", "bool", "on", "One log line per request (`gateway.access`: method, route pattern, path, status, duration, request id). Off when the reverse proxy's access log is enough: it costs some 25-60 µs a request."),
    ("GATEWAY_METRICS_TOKEN", "secret", "unset", "Bearer token that opens `GET /metrics` (Prometheus text). Unset and no `GATEWAY_METRICS_ALLOW` = `/metrics` refuses everyone (403)."),
    ("GATEWAY_METRICS_ALLOW", "list", "unset", "Comma-separated addresses/networks (e.g. `10.0.0.0/8`) allowed to read `/metrics` without the token (a Prometheus on the private network)."),
    ("GATEWAY_LOOP_STALE_AFTER", "seconds", "300", "`/readyz` answers 503 when a background loop of the process has not completed a round for this long (or three of its intervals, if longer)."),
    ("GATEWAY_ALERT_WEBHOOK_URL", "secret", "unset", "Built-in alerting: the robot webhook URL (DingTalk, WeCom or Feishu group robot) the alerts are posted to. Unset = no robot."),
    ("GATEWAY_ALERT_WEBHOOK_KIND", "str", "dingtalk", "`dingtalk`, `wecom` or `feishu`: the robot's message format."),
    ("GATEWAY_ALERT_WEBHOOK_SECRET", "secret", "unset", "The robot's signing secret (DingTalk \"加签\", Feishu \"签名校验\"), if it has one."),
    ("GATEWAY_ALERT_SMTP_URL", "secret", "unset", "Built-in alerting by e-mail: `smtp://user:password@host:587` (STARTTLS) or `smtps://…:465`. Needs `GATEWAY_ALERT_EMAIL_TO`."),
    ("GATEWAY_ALERT_EMAIL_FROM", "str", "gateway@localhost", "Sender address of alert e-mails."),
    ("GATEWAY_ALERT_EMAIL_TO", "list", "unset", "Comma-separated recipients of alert e-mails."),
    ("GATEWAY_ALERT_INTERVAL", "seconds", "60", "How often the built-in alerting evaluates its conditions (one process at a time sends, under a lease)."),
    ("GATEWAY_ALERT_RENOTIFY", "seconds", "14400", "An alert still firing is sent again after this long."),
]


def _bool(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: Secret | None = None
    public_url: str | None = None
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    sandbox: bool | None = None
    sandbox_url: str | None = None
    sandbox_time_scale: float = 1.0  # a time-compression ratio, never money
    channel_urls: Mapping[str, str] = field(default_factory=dict)  # channel URL overrides by variable name
    channel_timeout: float = 10.0  # seconds
    max_body_bytes: int = 65536
    rate_limit: int = 1000
    trusted_proxies: str = ""
    background: bool = True
    late_payment_policy: str = "refund"
    task_time_scale: float = 1.0  # a time-compression ratio for background schedules
    task_interval: float = 1.0  # seconds
    task_lease: float = 120.0  # seconds
    webhook_timeout: float = 10.0  # seconds
    webhook_concurrency: int = 4
    recon_time: str = "10:30"  # Asia/Shanghai; "off" = no daily reconciliation
    recon_give_up: str = "20:00"
    api_key_overlap: float = 86400.0  # seconds
    notify_log_keep_days: int = 30
    anon_ip_limit: int = 120  # per minute
    anon_link_limit: int = 600  # per minute
    anon_switch_limit: int = 20  # per minute
    log_level: str = "INFO"
    log_format: str = "text"  # text | json
    access_log: bool = True
    metrics_token: Secret | None = None
    metrics_allow: str = ""
    loop_stale_after: float = 300.0  # seconds
    alert_webhook_url: Secret | None = None
    alert_webhook_kind: str = "dingtalk"  # dingtalk | wecom | feishu
    alert_webhook_secret: Secret | None = None
    alert_smtp_url: Secret | None = None
    alert_email_from: str = "gateway@localhost"
    alert_email_to: str = ""
    alert_interval: float = 60.0  # seconds
    alert_renotify: float = 14400.0  # seconds

    @property
    def alerting(self) -> bool:
        """Whether the built-in alert notifier has somewhere to send to."""
        return bool(self.alert_webhook_url or (self.alert_smtp_url and self.alert_email_to))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        conv: dict[str, Callable[[str], Any]] = {"port": int, "max_body_bytes": int, "rate_limit": int, "sandbox": _bool, "background": _bool, "access_log": _bool,
                "sandbox_time_scale": float, "channel_timeout": float, "task_time_scale": float, "task_interval": float,
                "task_lease": float, "api_key_overlap": float, "webhook_timeout": float, "webhook_concurrency": int, "data_dir": Path,
                "notify_log_keep_days": int, "anon_ip_limit": int, "anon_link_limit": int, "anon_switch_limit": int,
                "secret_key": Secret, "redis_url": lambda v: Secret(v) if v else None,
                "loop_stale_after": float, "alert_interval": float, "alert_renotify": float,
                **{name: Secret for name in ("metrics_token", "alert_webhook_url", "alert_webhook_secret",
                                             "alert_smtp_url")}}
        for f in fields(cls):
            if f.name == "channel_urls":
                values[f.name] = {s.name: env[s.name] for s in endpoint_settings() if env.get(s.name)}
                continue
            raw = env.get("GATEWAY_" + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = conv.get(f.name, str)(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values).resolved()

    def resolved(self) -> Settings:
        """Fill the defaults that depend on other settings (and on the data dir)."""
        s = self
        if s.log_format not in ("text", "json"):
            raise ValueError(f"GATEWAY_LOG_FORMAT must be text or json, not {s.log_format!r}")
        if s.alert_webhook_kind not in ("dingtalk", "wecom", "feishu"):
            raise ValueError(f"GATEWAY_ALERT_WEBHOOK_KIND must be dingtalk, wecom or feishu, not {s.alert_webhook_kind!r}")
        if not s.public_url:
            host = "127.0.0.1" if s.host in {"0.0.0.0", "::"} else s.host
            s = replace(s, public_url=f"http://{host}:{s.port}")
        if s.sandbox is None:
            s = replace(s, sandbox=s.database_url is None)
        return s

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.sqlite3').resolve()}"

    @property
    def sandbox_base(self) -> str | None:
        """Where the channel sandboxes answer, if we talk to sandboxes at all."""
        if self.sandbox_url:
            return self.sandbox_url.rstrip("/")
        if self.sandbox:
            return f"{self.public_url}/sandbox"
        return None

    def endpoint(self, setting: EndpointSetting) -> str:
        """A channel URL setting's value: the sandbox's in sandbox mode, else the override or its default."""
        base = self.sandbox_base
        if base:
            return f"{base}{setting.sandbox_path}"
        return self.channel_urls.get(setting.name) or setting.default

    def endpoints(self, settings: tuple[EndpointSetting, ...]) -> dict[str, str]:
        """A channel's URL settings resolved, by variable name."""
        return {s.name: self.endpoint(s) for s in settings}

    def with_secret_key(self) -> Settings:
        """The master key: configured, or generated once into the data dir (mode 0600)."""
        if self.secret_key:
            return self
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return replace(self, secret_key=Secret(path.read_text().strip()))
