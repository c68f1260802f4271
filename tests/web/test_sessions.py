"""Sessions and CSRF on a stand-in console sub-app, on SQLite and (when configured) MariaDB."""
from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa

from gateway.store.db import Database
from gateway.store.sessions import web_sessions
from gateway.web.sessions import COOKIE, DatabaseStorage
from tests.web.console import root_app, token_in

EN = {"Accept-Language": "en"}


async def _client(aiohttp_client: Any, db_url: str, public_url: str = "http://127.0.0.1", **storage: Any) -> Any:
    # No cookie jar: each request says which session it presents.
    return await aiohttp_client(root_app(db_url, DatabaseStorage(**storage), public_url),
                                cookie_jar=aiohttp.DummyCookieJar())


def _cookie(sid: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={sid}", **EN}


async def _open_form(client: Any) -> tuple[str, str]:
    r = await client.get("/console/login", headers=EN)
    assert r.status == 200
    return r.cookies[COOKIE].value, token_in(await r.text())


async def _login(client: Any, sid: str, token: str, user: str = "alice") -> str:
    r = await client.post("/console/login", data={"csrf_token": token, "user": user}, headers=_cookie(sid),
                          allow_redirects=False)
    assert r.status == 303, await r.text()
    return r.cookies[COOKIE].value


async def _who(client: Any, sid: str) -> str:
    text = await (await client.get("/console/me", headers=_cookie(sid))).text()
    return text.split("<p id='me'>")[1].split("</p>")[0]


async def test_login_form_needs_the_session_token_and_login_rotates_the_session(aiohttp_client: Any,
                                                                                 db_url: str) -> None:
    client = await _client(aiohttp_client, db_url)
    r = await client.get("/console/login", headers=EN)
    cookie = r.cookies[COOKIE]
    assert r.status == 200 and "nonce-" in r.headers["Content-Security-Policy"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    sid, token = cookie.value, token_in(await r.text())

    for refused in ({"user": "alice"}, {"user": "alice", "csrf_token": token[:-1] + "x"}):
        r = await client.post("/console/login", data=refused, headers=_cookie(sid))
        assert r.status == 403 and r.content_type == "text/html"
        assert "reload the page" in await r.text() and "Content-Security-Policy" in r.headers
    no_session = await client.post("/console/login", data={"user": "alice", "csrf_token": token}, headers=EN)
    assert no_session.status == 403  # the token is the session's, not a bearer pass

    new_sid = await _login(client, sid, token)
    assert new_sid != sid
    assert await _who(client, new_sid) == "alice"
    assert await _who(client, sid) == "-"  # the old id died with the login
    # The rotated session has a token of its own: the one from before the login no longer passes.
    stale = await client.post("/console/login", data={"user": "mallory", "csrf_token": token},
                              headers=_cookie(new_sid))
    assert stale.status == 403
    fresh = token_in(await (await client.get("/console/login", headers=_cookie(new_sid))).text())
    assert fresh != token
    r = await client.post("/console/login", data={"user": "bob"}, allow_redirects=False,
                          headers={**_cookie(new_sid), "X-CSRF-Token": fresh})
    assert r.status == 303 and await _who(client, r.cookies[COOKIE].value) == "bob"

    db = Database(db_url)
    try:
        async with db.read() as conn:
            keys = set((await conn.execute(sa.select(web_sessions.c.id))).scalars())
    finally:
        await db.dispose()
    assert hashlib.sha256(r.cookies[COOKIE].value.encode()).hexdigest() in keys  # stored hashed
    assert not {hashlib.sha256(s.encode()).hexdigest() for s in (sid, new_sid)} & keys


async def test_the_cookie_is_secure_behind_tls(aiohttp_client: Any, db_url: str) -> None:
    client = await _client(aiohttp_client, db_url, public_url="https://pay.example.com")
    r = await client.get("/console/login")
    assert r.cookies[COOKIE]["secure"]


async def test_an_idle_session_expires(aiohttp_client: Any, db_url: str) -> None:
    client = await _client(aiohttp_client, db_url, idle=timedelta(seconds=2))
    sid = await _login(client, *await _open_form(client))
    assert await _who(client, sid) == "alice"
    await asyncio.sleep(1.2)  # 0.8 s of room each for a request on a loaded machine
    assert await _who(client, sid) == "alice"  # a request keeps it alive...
    await asyncio.sleep(1.2)
    assert await _who(client, sid) == "alice"
    await asyncio.sleep(2.3)
    assert await _who(client, sid) == "-"  # ...idleness ends it


async def test_a_busy_session_still_ends_at_its_absolute_deadline(aiohttp_client: Any, db_url: str) -> None:
    client = await _client(aiohttp_client, db_url, idle=timedelta(hours=1), absolute=timedelta(seconds=2))
    sid = await _login(client, *await _open_form(client))
    seen = []
    for _ in range(6):
        seen.append(await _who(client, sid))
        await asyncio.sleep(0.5)
    assert seen[0] == "alice" and seen[-1] == "-"


async def test_a_forged_or_unknown_cookie_gets_a_fresh_session(aiohttp_client: Any, db_url: str) -> None:
    client = await _client(aiohttp_client, db_url)
    for forged in ("x" * 43, "../../etc", ""):
        assert await _who(client, forged) == "-"
        r = await client.get("/console/login", headers=_cookie(forged))
        assert r.cookies[COOKIE].value not in {forged, ""}  # never adopts an id it did not issue
