"""API keys: issue, rotate (with an overlap or revoking the old ones), revoke, list, and authenticate.

A key is shown once, when it is made; the store keeps its keyed hash (HMAC under the master key). Rotation
makes a new key and lets the replaced ones work until ``GATEWAY_API_KEY_OVERLAP`` has passed (or stops them
at once with ``revoke_old``), so a merchant can roll its servers over without an outage.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from gateway.config import Settings
from gateway.crypto.secrets import hash_api_key, new_api_key
from gateway.domain.errors import NotFound
from gateway.domain.ids import new_id
from gateway.services.views import iso
from gateway.store import merchant_keys as repo
from gateway.store.base import Row, utcnow
from gateway.store.db import Database

TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is at most this stale: one UPDATE per key per minute


def prefix_of(api_key: str) -> str:
    """What lists show of a key: its kind and first characters, and its last four."""
    return f"{api_key[:12]}…{api_key[-4:]}"


async def issue(conn: Any, settings: Settings, merchant_id: str, name: str, now: datetime) -> dict[str, Any]:
    """A new key for the merchant inside the caller's transaction; the key itself is in the answer only."""
    api_key, key_id = new_api_key(), new_id("key")
    await repo.insert_key(conn, key_id=key_id, merchant_id=merchant_id, name=name[:64],
                          key_hash=hash_api_key(settings.secret_key, api_key), prefix=prefix_of(api_key), now=now)
    return {"id": key_id, "name": name[:64], "api_key": api_key, "prefix": prefix_of(api_key)}


def key_view(row: Row, now: datetime | None = None) -> dict[str, Any]:
    """A key as the API and the console show it: never its secret or hash."""
    now = now or utcnow()
    if row["revoked_at"] is not None:
        status = "revoked"
    elif row["expires_at"] is not None and row["expires_at"] <= now:
        status = "expired"
    else:
        status = "active"
    return {"object": "api_key", "id": row["id"], "name": row["name"], "prefix": row["prefix"], "status": status,
            "created_at": iso(row["created_at"]), "expires_at": iso(row["expires_at"]),
            "revoked_at": iso(row["revoked_at"]), "last_used_at": iso(row["last_used_at"])}


async def rotate(db: Database, settings: Settings, merchant_id: str, *, replace: str | None = None,
                 name: str | None = None, revoke_old: bool = False) -> dict[str, Any]:
    """A new key replacing ``replace`` (a key id), or all the merchant's working keys when None. The
    replaced keys stop at once with ``revoke_old``, else when the overlap ends. Returns the new key (its
    secret this once) and what became of the old ones."""
    now = utcnow()
    async with db.begin() as conn:
        if not await repo.merchant_exists(conn, merchant_id):
            raise NotFound(f"No merchant {merchant_id}")
        working = await repo.usable_keys_of(conn, merchant_id, now)
        old = [k for k in working if replace is None or k["id"] == replace]
        if replace is not None and not old:
            raise NotFound(f"No working API key {replace}")
        new_name = name or (old[-1]["name"] if old else "default")
        created = await issue(conn, settings, merchant_id, new_name, now)
        old_ids = [k["id"] for k in old]
        until = None
        if revoke_old:
            await repo.revoke(conn, merchant_id, old_ids, now)
        else:
            until = now + timedelta(seconds=settings.api_key_overlap)
            await repo.expire(conn, merchant_id, old_ids, now, until)
    return {"object": "api_key", **created, "merchant_id": merchant_id, "created_at": iso(now),
            "replaced": old_ids, "replaced_valid_until": None if revoke_old else iso(until),
            "replaced_revoked": revoke_old}


async def revoke(db: Database, merchant_id: str, key_id: str) -> dict[str, Any]:
    """Stop one key at once; NotFound if the merchant has no such key. Revoking a revoked key changes nothing."""
    now = utcnow()
    async with db.begin() as conn:
        if await repo.get_key(conn, merchant_id, key_id) is None:
            raise NotFound(f"No API key {key_id}")
        await repo.revoke(conn, merchant_id, [key_id], now)
        row = await repo.get_key(conn, merchant_id, key_id)
    assert row is not None
    return key_view(row, now)


async def list_keys(db: Database, merchant_id: str) -> list[dict[str, Any]]:
    now = utcnow()
    async with db.read() as conn:
        return [key_view(r, now) for r in await repo.keys_of(conn, merchant_id)]


class Authenticator:
    """API key → (merchant, key), with a short in-process cache so a hot API does not read two rows on
    every request; a key's use is recorded at most once a minute per process (and per key in the store)."""

    def __init__(self, db: Database, settings: Settings, ttl: float = 10.0) -> None:
        self._db, self._settings, self._ttl = db, settings, ttl
        self._cache: dict[str, tuple[float, Row, Row]] = {}
        self._touched: dict[str, float] = {}

    async def authenticate(self, api_key: str) -> tuple[Row, Row] | None:
        digest = hash_api_key(self._settings.secret_key, api_key)
        now = utcnow()
        hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic() and (hit[2]["expires_at"] is None or hit[2]["expires_at"] > now):
            found: tuple[Row, Row] | None = (hit[1], hit[2])
        else:
            async with self._db.read() as conn:
                found = await repo.by_hash(conn, digest, now)
            if found is None:
                self._cache.pop(digest, None)
                return None
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + self._ttl, *found)
        assert found is not None
        await self._touch(found[1]["id"], now)
        return found

    async def merchant_for(self, api_key: str) -> Row | None:
        found = await self.authenticate(api_key)
        return None if found is None else found[0]

    async def _touch(self, key_id: str, now: datetime) -> None:
        last = self._touched.get(key_id)
        if last is not None and time.monotonic() - last < TOUCH_EVERY.total_seconds():
            return
        self._touched[key_id] = time.monotonic()
        if len(self._touched) > 10_000:
            self._touched = {key_id: self._touched[key_id]}
        async with self._db.begin() as conn:
            await repo.touch(conn, key_id, now, TOUCH_EVERY)

    def forget_all(self) -> None:
        """Drop the cache: a key just rotated or revoked stops working in this process at once."""
        self._cache.clear()
