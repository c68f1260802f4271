"""``python run.py doctor``: is this configuration fit for production? Each check prints one line
(``ok`` / ``FAIL`` / ``note``) saying what is wrong and which setting fixes it; the exit code is 1 when
any check failed.

Checks: the public URL is https; the sandbox is off; GATEWAY_SECRET_KEY is set (not a key generated into
the data dir) and opens the secrets already sealed in the database; the database is reachable and
migrated; Redis answers (when configured); every active channel account's credentials work (the
channel's own signed check, as the console's "Test credentials"); the clock agrees with the database's.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from gateway.config import Settings
from gateway.crypto.secrets import unseal
from gateway.store import doctor_checks
from gateway.store.db import Database
from gateway.store.migrate import migration_state

MAX_SKEW = 5.0  # seconds between our clock and the database's: channels reject signatures beyond minutes


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    note: bool = False  # informational: never fails the run

    def line(self) -> str:
        return f"{'note' if self.note else 'ok  ' if self.ok else 'FAIL'} {self.check}: {self.detail}"


def _settings_findings(settings: Settings) -> list[Finding]:
    url = settings.public_url or ""
    found = [Finding("public_url", url.startswith("https://"),
                     url if url.startswith("https://") else f"{url} is not https: set GATEWAY_PUBLIC_URL to the "
                     "https URL shoppers and channels reach (channels refuse http notify URLs)"),
             Finding("sandbox", not settings.sandbox_base,
                     "off" if not settings.sandbox_base else "on: set GATEWAY_SANDBOX=off and unset "
                     "GATEWAY_SANDBOX_URL (new merchants would get sandbox accounts)"),
             Finding("secret_key", bool(settings.secret_key),
                     "set" if settings.secret_key else "GATEWAY_SECRET_KEY is not set: every process must share "
                     "one stable key (a key generated into the data dir differs per host)")]
    if settings.embedded:
        found.append(Finding("database", False, "embedded SQLite: set GATEWAY_DATABASE_URL to MySQL/MariaDB"))
    return found


async def _database_findings(settings: Settings, db: Database) -> list[Finding]:
    try:
        async with db.read() as conn:
            current, head = await migration_state(conn)
            db_now = await doctor_checks.server_now(conn)
            ours = datetime.now(UTC)
            sealed = await doctor_checks.a_sealed_secret(conn) if current == head else None
    except Exception as exc:  # unreachable: one line, the rest of the database checks cannot run
        from gateway.preflight import explain

        return [Finding("database", False, explain(exc, settings) or f"{type(exc).__name__}")]
    found = [Finding("migrations", current == head, f"at {head}" if current == head else
                     f"at {current or 'no migration'}, this code needs {head}: run `python run.py migrate`")]
    skew = abs((ours - db_now).total_seconds())
    found.append(Finding("clock", skew <= MAX_SKEW, f"{skew:.1f} s from the database's clock" +
                         ("" if skew <= MAX_SKEW else f" (over {MAX_SKEW:.0f} s): run NTP (chrony) on both hosts")))
    if settings.secret_key and sealed is not None:
        try:
            unseal(settings.secret_key, "webhook", sealed)
            found.append(Finding("secret_key_stable", True, "opens the secrets sealed in the database"))
        except Exception:  # the wrong key: say so without any of it
            found.append(Finding("secret_key_stable", False, "GATEWAY_SECRET_KEY does not open the secrets "
                                 "sealed in the database: it is not the key they were sealed with"))
    return found


async def _redis_finding(settings: Settings) -> Finding:
    if not settings.redis_url:
        return Finding("redis", True, "not configured (rate limits and status updates stay per process)", note=True)
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis_url.reveal(), socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
        return Finding("redis", True, "answers")
    except Exception as exc:  # report, never the URL (it may hold a password)
        return Finding("redis", False, f"does not answer ({type(exc).__name__}): check GATEWAY_REDIS_URL")
    finally:
        await client.aclose()


async def _channel_findings(settings: Settings, db: Database) -> list[Finding]:
    from gateway.channels.pool import ChannelPool
    from gateway.channels.registry import default_registry

    try:
        async with db.read() as conn:
            accounts = await doctor_checks.active_accounts(conn)
    except Exception:  # the database findings already say why
        return []
    if not accounts:
        return [Finding("channels", True, "no active channel accounts", note=True)]
    found = []
    registry = default_registry(timeout=settings.channel_timeout)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.channel_timeout + 5)) as http:
        pool = ChannelPool(settings, registry, http)
        for account in accounts:
            name = f"channel {account['channel']} {account['account_ref']} ({account['merchant_id']})"
            try:
                result = await pool.get(account).check()
            except Exception as exc:  # unusable stored credentials (wrong key, bad PEM): never their content
                found.append(Finding(name, False, f"cannot be opened ({type(exc).__name__})"))
                continue
            found.append(Finding(name, result.ok, "credentials work" if result.ok else
                                 f"{result.problem}: {result.detail or ''}".rstrip(": ")))
    return found


async def run(settings: Settings) -> list[Finding]:
    findings = _settings_findings(settings)
    db = Database(settings.effective_database_url)
    try:
        findings += await _database_findings(settings, db)
        findings.append(await _redis_finding(settings))
        if settings.secret_key:
            findings += await _channel_findings(settings, db)
    finally:
        await db.dispose()
    return findings


def main(settings: Settings) -> int:
    findings = asyncio.run(run(settings))
    for f in findings:
        print(f.line())
    failed = [f for f in findings if not f.ok and not f.note]
    print(f"{len(failed)} problem(s)" if failed else "ready for production")
    return 1 if failed else 0
