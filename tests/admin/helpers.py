"""Driving the console as an operator would: enrol from the invitation link, sign in with password and
TOTP, post forms with the page's CSRF token. TOTP codes come from pyotp, one time step each (a code is
accepted once): enrolment uses the step before ``base``, sign-in ``base``, a step-up ``base + 1``."""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pyotp

from gateway.admin import auth
from tests.factories import Gateway

PASSWORD = "correct horse battery"


def token_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


async def settle_clock() -> int:
    """The current TOTP step, after waiting out the last seconds of a step so a test's codes stay valid."""
    left = 30 - time.time() % 30
    if left < 8:
        await asyncio.sleep(left + 0.2)
    return int(time.time() // 30)


@dataclass
class Console:
    gw: Gateway
    email: str
    http: aiohttp.ClientSession
    secret: str = ""
    base: int = 0
    used: set[int] = field(default_factory=set)

    def code(self, step: int) -> str:
        self.used.add(step)
        return pyotp.TOTP(self.secret).at(step * 30)

    @property
    def url(self) -> str:
        return f"{self.gw.url}/admin"

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.http.get(self.url + path, **kw) as r:
            return r.status, await r.text()

    async def token(self, path: str = "/") -> str:
        status, html = await self.get(path)
        assert status == 200, (status, html[:500])
        return token_in(html)

    async def post(self, path: str, data: dict[str, Any] | None = None, *, token_from: str = "/",
                   csrf: bool = True) -> aiohttp.ClientResponse:
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = await self.token(token_from)
        r = await self.http.post(self.url + path, data=body, allow_redirects=False)
        await r.read()
        return r

    async def sign_in(self, code: str | None = None, password: str = PASSWORD) -> aiohttp.ClientResponse:
        status, html = await self.get("/login")
        assert status == 200
        r = await self.http.post(self.url + "/login", allow_redirects=False, data={
            "csrf_token": token_in(html), "email": self.email, "password": password,
            "code": code if code is not None else self.code(self.base), "next": "/admin/"})
        await r.read()
        return r

    async def close(self) -> None:
        await self.http.close()


async def enrolled(gw: Gateway, role: str = "owner", merchant_id: str | None = None, *,
                   email: str | None = None, sign_in: bool = True) -> Console:
    """An operator invited, enrolled through the page, and (by default) signed in."""
    from tests.factories import unique

    email = email or f"{unique('op')}@example.com".lower()
    created = await auth.create_operator(gw.svc.db, email=email, role=role, merchant_id=merchant_id)
    console = Console(gw, email, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                                       headers={"Accept-Language": "en"}))
    console.base = await settle_clock()
    status, html = await console.get(f"/enroll/{created.enroll_token}")
    assert status == 200, html[:500]
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', html)
    assert secret and "otpauth://totp/" in html and "<svg" in html
    console.secret = secret.group(1)
    r = await console.http.post(f"{console.url}/enroll/{created.enroll_token}", allow_redirects=False, data={
        "csrf_token": token_in(html), "password": PASSWORD, "code": console.code(console.base - 1)})
    assert r.status == 303, await r.text()
    if sign_in:
        r = await console.sign_in()
        assert r.status == 303, await r.text()
    return console
