"""Merchants: creation (credentials shown once), API-key authentication, channel accounts, webhook
secret rotation."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp

from gateway.channels.base import CredentialCheck
from gateway.channels.pool import ChannelPool, seal_credentials
from gateway.channels.registry import account_ref
from gateway.config import Settings
from gateway.crypto.secrets import new_webhook_secret, seal
from gateway.domain.errors import NotFound
from gateway.domain.ids import new_id
from gateway.services import api_keys
from gateway.services.views import iso
from gateway.store import merchants as repo
from gateway.store.base import utcnow
from gateway.store.db import Database

ROTATION_GRACE = timedelta(hours=24)  # how long the previous webhook secret still signs deliveries


async def create_merchant(db: Database, settings: Settings, *, name: str, return_domains: list[str] | None = None,
                          webhook_url: str | None = None,
                          channel_credentials: dict[str, dict[str, Any]] | None = None,
                          registry_methods: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Create a merchant; returns its id and, this once, its API key and webhook secret."""
    webhook_secret = new_webhook_secret()
    merchant_id = new_id("mch")
    now = utcnow()
    async with db.begin() as conn:
        await repo.insert_merchant(conn, {
            # the key columns are a mirror of the newest api_keys row, which issue() writes next
            "id": merchant_id, "name": name, "api_key_hash": new_id("unset"), "api_key_hint": "----",
            "webhook_url": webhook_url, "webhook_secret_sealed": seal(settings.secret_key, "webhook", webhook_secret),
            "return_domains": json.dumps([d.lower() for d in (return_domains or [])]), "created_at": now})
        api_key = (await api_keys.issue(conn, settings, merchant_id, "default", now))["api_key"]
        for channel, credentials in (channel_credentials or {}).items():
            await add_account(conn, settings, merchant_id, channel, credentials,
                              (registry_methods or {}).get(channel, []))
    return {"merchant_id": merchant_id, "name": name, "api_key": api_key, "webhook_secret": webhook_secret,
            "return_domains": return_domains or [], "webhook_url": webhook_url}


async def add_account(conn: Any, settings: Settings, merchant_id: str, channel: str,
                      credentials: dict[str, Any], pay_methods: list[str]) -> str:
    account_id = new_id("acct")
    ref = account_ref(channel, credentials)
    await repo.insert_account(conn, {
        "id": account_id, "merchant_id": merchant_id, "channel": channel, "account_ref": ref,
        "credentials_sealed": seal_credentials(settings, channel, credentials),
        "pay_methods": json.dumps(sorted(pay_methods)), "active": True, "created_at": utcnow()})
    return account_id


class CredentialsRejected(ValueError):
    """Credentials that failed :func:`check_credentials`; ``result`` says how (nothing was stored)."""

    def __init__(self, channel: str, result: CredentialCheck) -> None:
        super().__init__(f"{channel} credentials failed the check: {result.problem}"
                         + (f" ({result.detail})" if result.detail else ""))
        self.channel, self.result = channel, result


async def check_credentials(settings: Settings, registry: Any, channel: str, credentials: dict[str, Any],
                            http: aiohttp.ClientSession | None = None) -> CredentialCheck:
    """Try an account's credentials against its channel (:meth:`Channel.check`: a harmless signed call
    whose answer must verify). ``open`` raises ``ValueError``/``KeyError`` on keys that do not parse.
    Without ``http`` (the CLI), a session is opened for the one call."""
    factory = registry.channel(channel)
    endpoint = settings.endpoint(factory.settings[0]) if factory.settings else ""  # "": in process
    if http is None:
        async with aiohttp.ClientSession() as own:
            return await factory.open(credentials, own, endpoint).check()
    return await factory.open(credentials, http, endpoint).check()


async def set_channel_account(db: Database, settings: Settings, registry: Any, merchant_id: str, channel: str,
                              credentials: dict[str, Any], pay_methods: list[str] | None = None, *,
                              check: bool = True, http: aiohttp.ClientSession | None = None) -> str:
    """Configure a merchant's account at a channel: replace its credentials in place (attempts and
    refunds keep pointing at the same account, so callbacks for them still verify), or add one.

    The credentials are tried first -- ``open`` parses every key; unless ``check=False``, a signed call
    to the channel must succeed too (:class:`CredentialsRejected` otherwise) -- and sealed before they
    are stored.
    """
    factory = registry.channel(channel)
    factory.open(credentials, None, settings.endpoint(factory.settings[0]) if factory.settings else "")  # raises on unusable keys
    methods = sorted(pay_methods or factory.pay_methods)
    unknown = set(methods) - set(factory.pay_methods)
    if unknown:
        raise ValueError(f"not {channel} pay methods: {', '.join(sorted(unknown))}")
    async with db.read() as conn:
        if await repo.get_merchant(conn, merchant_id) is None:
            raise LookupError(f"no merchant {merchant_id}")
    if check:
        result = await check_credentials(settings, registry, channel, credentials, http)
        if not result.ok:
            raise CredentialsRejected(channel, result)
    async with db.begin() as conn:
        if await repo.get_merchant(conn, merchant_id) is None:
            raise LookupError(f"no merchant {merchant_id}")
        existing = [a for a in await repo.accounts_of(conn, merchant_id) if a["channel"] == channel]
        if not existing:
            return await add_account(conn, settings, merchant_id, channel, credentials, methods)
        account_id = existing[0]["id"]
        await repo.update_account(conn, account_id, credentials_sealed=seal_credentials(settings, channel, credentials),
                                  pay_methods=methods, account_ref=factory.account_ref(credentials))
        return account_id


async def check_account(db: Database, pool: ChannelPool, merchant_id: str, account_id: str) -> CredentialCheck:
    """Try a stored account's credentials against its channel (the console's "Test credentials")."""
    async with db.read() as conn:
        account = next((a for a in await repo.accounts_of(conn, merchant_id) if a["id"] == account_id), None)
    if account is None:
        raise NotFound(f"No account {account_id}")
    return await pool.get(account).check()


async def update_merchant(db: Database, merchant_id: str, *, webhook_url: str | None = None,
                          clear_webhook: bool = False, return_domains: list[str] | None = None) -> None:
    if webhook_url is None and not clear_webhook and return_domains is None:
        return
    async with db.begin() as conn:
        found = True
        if webhook_url is not None or clear_webhook:
            found = await repo.set_webhook_url(conn, merchant_id, None if clear_webhook else webhook_url)
        if found and return_domains is not None:
            found = await repo.set_return_domains(conn, merchant_id, [d.lower() for d in return_domains])
    if not found:
        raise LookupError(f"no merchant {merchant_id}")


async def rotate_webhook_secret(db: Database, settings: Settings, merchant_id: str) -> dict[str, Any]:
    """A new secret, shown this once; the current one stays valid (deliveries carry both signatures)
    for :data:`ROTATION_GRACE`. A rotation during a grace period ends the older secret at once."""
    now = utcnow()
    fresh = new_webhook_secret()
    master = settings.secret_key
    async with db.begin() as conn:
        merchant = await repo.get_merchant(conn, merchant_id)
        if merchant is None:
            raise NotFound(f"No merchant {merchant_id}")
        await repo.rotate_webhook_secret(
            conn, merchant_id, current_sealed=merchant["webhook_secret_sealed"],
            new_sealed=seal(master, "webhook", fresh), previous_until=now + ROTATION_GRACE)
    return {"object": "webhook_secret", "webhook_secret": fresh,
            "previous_valid_until": iso(now + ROTATION_GRACE)}


Authenticator = api_keys.Authenticator  # API key → merchant; kept here for its older importers
