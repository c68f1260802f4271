"""API keys: rotation with an overlap or revoking the old key, revocation, the list (never a secret), the
last-used time, the Idempotency-Key replay of a rotation (the key sealed in the store, opened again), the
CLI command and the console's key list."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from gateway.store.tables import api_keys, idempotency_keys
from tests.admin.helpers import Console
from tests.factories import Gateway, Merchant
from tests.processes import clean_env, run_cli


def _with_key(m: Merchant, key: str) -> Merchant:
    return Merchant(m.id, key, m.webhook_secret)


async def test_rotate_with_overlap_then_revoke(gateway: Gateway) -> None:
    m = await gateway.merchant()
    listed = await gateway.api(m, "GET", "/api-keys")
    assert listed.status == 200 and [k["status"] for k in listed.body["data"]] == ["active"]
    old_id = listed.body["data"][0]["id"]
    assert listed.body["data"][0]["last_used_at"] is not None  # the listing request itself used the key
    assert m.api_key not in listed.text and "hash" not in listed.text

    r = await gateway.api(m, "POST", "/api-keys/rotate", json_body={"name": "checkout servers"})
    assert r.status == 201, r.text
    new = _with_key(m, r.body["api_key"])
    assert r.body["replaced"] == [old_id] and r.body["replaced_valid_until"] and not r.body["replaced_revoked"]
    assert (await gateway.api(m, "GET", "/payments")).status == 200  # the overlap
    assert (await gateway.api(new, "GET", "/payments")).status == 200
    keys = {k["id"]: k for k in (await gateway.api(new, "GET", "/api-keys")).body["data"]}
    assert keys[r.body["id"]]["name"] == "checkout servers" and keys[old_id]["expires_at"]
    assert r.body["api_key"] not in json.dumps(keys)

    revoked = await gateway.api(new, "POST", f"/api-keys/{old_id}/revoke")
    assert revoked.status == 200 and revoked.body["status"] == "revoked"
    assert (await gateway.api(m, "GET", "/payments")).status == 401
    assert (await gateway.api(new, "GET", "/payments")).status == 200
    assert (await gateway.api(new, "POST", "/api-keys/key_nope/revoke")).status == 404


async def test_overlap_ends(gateway: Gateway) -> None:
    m = await gateway.merchant()
    r = await gateway.api(m, "POST", "/api-keys/rotate", json_body={})
    assert r.status == 201
    async with gateway.svc.db.begin() as conn:  # the overlap is over
        await conn.execute(sa.update(api_keys).where(api_keys.c.id.in_(r.body["replaced"]))
                           .values(expires_at=_past()))
    gateway.svc.auth.forget_all()
    assert (await gateway.api(m, "GET", "/payments")).status == 401
    assert (await gateway.api(_with_key(m, r.body["api_key"]), "GET", "/payments")).status == 200


def _past() -> Any:
    from gateway.store.base import utcnow

    return utcnow() - timedelta(seconds=1)


async def test_rotate_revoke_old_and_idempotent_replay_keeps_the_key_sealed(gateway: Gateway) -> None:
    m = await gateway.merchant()
    headers = {"Idempotency-Key": "rotate-1"}
    first = await gateway.api(m, "POST", "/api-keys/rotate", json_body={}, headers=headers)
    assert first.status == 201
    again = await gateway.api(m, "POST", "/api-keys/rotate", json_body={}, headers=headers)
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body["api_key"] == first.body["api_key"] and again.body["id"] == first.body["id"]
    async with gateway.svc.db.read() as conn:
        stored = [r for (r,) in (await conn.execute(sa.select(idempotency_keys.c.response_body))).all() if r]
    assert stored and not any(first.body["api_key"] in body for body in stored)
    assert any(body.startswith("sealed:") for body in stored)  # the whole answer, sealed

    new = _with_key(m, first.body["api_key"])
    r = await gateway.api(new, "POST", "/api-keys/rotate", json_body={"revoke_old": True})
    assert r.status == 201 and r.body["replaced_revoked"] and r.body["replaced"] == [first.body["id"]]
    assert (await gateway.api(new, "GET", "/payments")).status == 401
    assert (await gateway.api(_with_key(m, r.body["api_key"]), "GET", "/payments")).status == 200
    bad = await gateway.api(_with_key(m, r.body["api_key"]), "POST", "/api-keys/rotate", json_body={"bogus": 1})
    assert bad.status == 422


async def test_cli_rotate_api_key(gateway: Gateway) -> None:
    m = await gateway.merchant()
    settings = gateway.svc.settings
    env = clean_env(GATEWAY_DATA_DIR=str(settings.data_dir), GATEWAY_SECRET_KEY=settings.secret_key.reveal(),
                    **({"GATEWAY_DATABASE_URL": settings.database_url} if settings.database_url else {}))
    out = json.loads(await run_cli("rotate-api-key", "--merchant", m.id, "--revoke-old", env=env))
    assert set(out) >= {"api_key", "id", "replaced"} and out["replaced_revoked"]
    gateway.svc.auth.forget_all()
    assert (await gateway.api(m, "GET", "/payments")).status == 401
    assert (await gateway.api(_with_key(m, out["api_key"]), "GET", "/payments")).status == 200
    out2 = json.loads(await run_cli("rotate-api-key", "--merchant", m.id, env=env))
    assert out2["replaced"] == [out["id"]] and out2["replaced_valid_until"]
    assert (await gateway.api(_with_key(m, out["api_key"]), "GET", "/payments")).status == 200  # overlap


async def test_console_lists_and_revokes_keys_audited(gateway: Gateway, consoles: Any) -> None:
    from gateway.store.audit import audit_log

    m = await gateway.merchant()
    await gateway.api(m, "GET", "/payments")
    console: Console = await consoles("owner")
    status, html = await console.get(f"/merchants/{m.id}")
    assert status == 200 and 'id="api-keys"' in html and m.api_key not in html
    key_id = (await gateway.api(m, "GET", "/api-keys")).body["data"][0]["id"]
    assert f'id="key-{key_id}"' in html and m.api_key[:12] in html
    r = await console.post(f"/merchants/{m.id}/api-keys/revoke", {"key": key_id}, token_from=f"/merchants/{m.id}")
    assert r.status == 303
    assert (await gateway.api(m, "GET", "/payments")).status == 401
    assert await gateway.count(audit_log, audit_log.c.action == "merchant.api_key_revoke",
                               audit_log.c.object_id == key_id) == 1


async def test_migration_keeps_existing_keys_working(tmp_path: Any) -> None:
    """A merchant made before api_keys existed: its key is copied in as "default" and still authenticates."""
    from gateway.config import Settings
    from gateway.crypto.secrets import Secret, hash_api_key, new_api_key
    from gateway.services.api_keys import Authenticator
    from gateway.store.db import Database
    from gateway.store.migrate import upgrade, upgrade_async
    from gateway.store.tables import merchants

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    await asyncio.to_thread(upgrade, url, "0005")
    settings = Settings(secret_key=Secret("old-deployment-key"))
    key = new_api_key()
    db = Database(url)
    try:
        async with db.begin() as conn:
            await conn.execute(sa.insert(merchants).values(
                id="mch_OLD", name="Old", api_key_hash=hash_api_key(settings.secret_key, key), api_key_hint=key[-4:],
                webhook_secret_sealed="v1.x", return_domains="[]", created_at=_past()))
        await upgrade_async(url)
        found = await Authenticator(db, settings).authenticate(key)
        assert found is not None and found[0]["id"] == "mch_OLD" and found[1]["name"] == "default"
        assert found[1]["prefix"].endswith(key[-4:])
    finally:
        await db.dispose()
