"""Enrolment and sign-in: password + TOTP, a code accepted once, lockout, session rotation, sign-out."""
from __future__ import annotations

from typing import Any

import aiohttp
import sqlalchemy as sa

from gateway.store.audit import audit_log
from gateway.store.operators import LOCK_AFTER, operators
from tests.admin.helpers import Console
from tests.factories import Gateway


async def test_enrol_sign_in_and_out(gateway: Gateway, consoles: Any) -> None:
    console: Console = await consoles("owner")
    status, html = await console.get("/")
    assert status == 200 and console.email in html and "Dashboard" in html
    async with console.http.get(f"{console.url}/") as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'nonce-" in csp and "default-src 'none'" in csp and "http" not in csp
    cookie = next(c for c in console.http.cookie_jar if c.key == "gateway_admin")
    assert cookie["httponly"]
    r = await console.post("/logout")
    assert r.status == 303
    async with console.http.get(f"{console.url}/payments", allow_redirects=False) as r:
        assert r.status == 303 and "/admin/login" in r.headers["Location"]
    async with gateway.svc.db.read() as conn:
        actions = [row.action for row in (await conn.execute(sa.select(audit_log.c.action)
                                                             .order_by(audit_log.c.seq))).all()]
    assert actions[-3:] == ["enroll", "sign_in", "sign_out"] or actions[-2:] == ["sign_in", "sign_out"]


async def test_sign_in_rotates_the_session(gateway: Gateway, consoles: Any) -> None:
    console: Console = await consoles("viewer", sign_in=False)
    await console.get("/login")
    before = next(c.value for c in console.http.cookie_jar if c.key == "gateway_admin")
    assert (await console.sign_in()).status == 303
    after = next(c.value for c in console.http.cookie_jar if c.key == "gateway_admin")
    assert before != after
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        for sid, expected in ((before, 303), (after, 200)):  # the pre-login id opens nothing
            async with bare.get(f"{console.url}/", allow_redirects=False,
                                headers={"Cookie": f"gateway_admin={sid}"}) as r:
                assert r.status == expected


async def test_a_code_is_accepted_once(gateway: Gateway, consoles: Any) -> None:
    console: Console = await consoles("viewer")
    code = console.code(console.base)  # the one the sign-in just used
    other = Console(gateway, console.email, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)),
                    secret=console.secret, base=console.base)
    try:
        r = await other.sign_in(code=code)
        assert r.status == 401 and "id=\"failed\"" in await r.text()
        assert (await other.sign_in(code=other.code(console.base + 1))).status == 303
    finally:
        await other.close()


async def test_wrong_password_unknown_user_and_lockout(gateway: Gateway, consoles: Any) -> None:
    console: Console = await consoles("operator", sign_in=False)
    r = await console.sign_in(password="not the password at all")
    assert r.status == 401
    ghost = Console(gateway, "nobody@example.com", console.http, secret=console.secret)
    assert (await ghost.sign_in(code="123456")).status == 401  # the same answer for a stranger
    for _ in range(LOCK_AFTER - 1):
        assert (await console.sign_in(password="wrong password again")).status == 401
    async with gateway.svc.db.read() as conn:
        row = (await conn.execute(sa.select(operators).where(operators.c.email == console.email))).mappings().one()
    assert row["locked_until"] is not None
    r = await console.sign_in()  # the right password and a fresh code: still locked
    assert r.status == 401
    async with gateway.svc.db.read() as conn:
        denied = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(
            audit_log.c.actor == console.email, audit_log.c.outcome == "denied"))).scalar_one()
    assert denied == LOCK_AFTER + 1


async def test_enrolment_link_works_once_and_checks_the_password(gateway: Gateway) -> None:
    import re

    import aiohttp

    from gateway.admin import auth
    from tests.admin.helpers import token_in

    created = await auth.create_operator(gateway.svc.db, email="once@example.com", role="viewer")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        url = f"{gateway.url}/admin/enroll/{created.enroll_token}"
        html = await (await http.get(url)).text()
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', html).group(1)  # type: ignore[union-attr]
        import pyotp

        r = await http.post(url, data={"csrf_token": token_in(html), "password": "short", "code": pyotp.TOTP(secret).now()})
        assert r.status == 400
        html = await r.text()
        r = await http.post(url, data={"csrf_token": token_in(html), "password": "a long enough password",
                                       "code": pyotp.TOTP(secret).now()}, allow_redirects=False)
        assert r.status == 303
        assert (await http.get(url)).status == 404


async def test_an_idle_session_ends(gateway: Gateway, consoles: Any) -> None:
    import hashlib
    from datetime import timedelta

    from gateway.admin.app import IDLE
    from gateway.store.base import utcnow
    from gateway.store.sessions import web_sessions

    assert IDLE == timedelta(minutes=15)
    console: Console = await consoles("viewer")
    sid = next(c.value for c in console.http.cookie_jar if c.key == "gateway_admin")
    async with gateway.svc.db.begin() as conn:
        await conn.execute(sa.update(web_sessions).where(web_sessions.c.id == hashlib.sha256(sid.encode()).hexdigest())
                           .values(idle_until=utcnow() - timedelta(seconds=1)))
    async with console.http.get(f"{console.url}/", allow_redirects=False) as r:
        assert r.status == 303 and "/admin/login" in r.headers["Location"]
