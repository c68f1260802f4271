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
    ("GATEWAY_NOTIFY_LOG_KEEP_DAYS", "int", "30", "Days the notify log keeps refused channel callbacks (bad signature, unknown trade, oversized: an excerpt of each) before the background runner purges them; applied ones stay as long as the payments."),
    ("GATEWAY_ANON_IP_LIMIT", "int", "120", "Payment-link opens and checkout pay-method switches per minute from one IP address (across processes with Redis); 0 = no limit. Beyond it: a 429 page."),
    ("GATEWAY_ANON_LINK_LIMIT", "int", "600", "Payments opened per minute through one payment link; 0 = no limit."),
    ("GATEWAY_ANON_SWITCH_LIMIT", "int", "20", "Pay-method switches (each opens a channel order) per minute on one payment; 0 = no limit."),
    ("GATEWAY_LOG_LEVEL", "str", "INFO", "Python logging level."),
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
    notify_log_keep_days: int = 30
    anon_ip_limit: int = 120  # per minute
    anon_link_limit: int = 600  # per minute
    anon_switch_limit: int = 20  # per minute
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        conv: dict[str, Callable[[str], Any]] = {"port": int, "max_body_bytes": int, "rate_limit": int, "sandbox": _bool, "background": _bool,
                "sandbox_time_scale": float, "channel_timeout": float, "task_time_scale": float, "task_interval": float,
                "task_lease": float, "webhook_timeout": float, "webhook_concurrency": int, "data_dir": Path,
                "notify_log_keep_days": int, "anon_ip_limit": int, "anon_link_limit": int, "anon_switch_limit": int,
                "secret_key": Secret, "redis_url": lambda v: Secret(v) if v else None}
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
