"""Server-side sessions for HTML sub-apps that need them (the operator console), on aiohttp-session.

The cookie carries only a random id; the data lives in our own database (:mod:`gateway.store.sessions`),
so every process sees the same sessions and correctness never rests on Redis. The cookie is HttpOnly,
SameSite=Lax and Secure when the gateway is served over TLS (its public URL is ``https``). A session dies
after :data:`IDLE` without a request and :data:`ABSOLUTE` after it began, whatever happens;
:func:`rotate_session` (call it on login) issues a new id and kills the old one at once.

A sub-app opts in with :func:`setup_sessions`, after :func:`gateway.web.pages.setup_pages`; that also
installs the CSRF check (:mod:`gateway.web.csrf`). Handlers use ``aiohttp_session.get_session``.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import timedelta

from aiohttp import web
from aiohttp_session import (
    STORAGE_KEY,
    AbstractStorage,
    Session,
    get_session,
    new_session,
    session_middleware,
)

from gateway import keys
from gateway.store import sessions as repo
from gateway.store.base import utcnow
from gateway.web.csrf import TOKEN_KEY, csrf_middleware

COOKIE = "gateway_session"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_AFTER = timedelta(minutes=1)  # push the idle deadline at most this often (or a quarter of IDLE): not a write per request
PURGE_EVERY = 300.0  # seconds between sweeps of dead rows, per process
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class DatabaseStorage(AbstractStorage):
    """aiohttp-session's storage on the ``web_sessions`` table."""

    def __init__(self, *, cookie_name: str = COOKIE, idle: timedelta = IDLE, absolute: timedelta = ABSOLUTE,
                 secure: bool | None = None) -> None:
        # Session cookie (no Max-Age): the deadlines are the server's, the browser forgets it on close.
        super().__init__(cookie_name=cookie_name, httponly=True, samesite="Lax", secure=secure, path="/")
        self.idle, self.absolute, self._secure = idle, absolute, secure
        self._touch_after = min(TOUCH_AFTER, idle / 4)
        self._next_purge = 0.0

    async def load_session(self, request: web.Request) -> Session:
        session_id = self.load_cookie(request) or ""
        if not (32 <= len(session_id) <= 64 and set(session_id) <= _ID_CHARS):
            return Session(None, data=None, new=True)
        db, now = request.config_dict[keys.DB], utcnow()
        async with db.read() as conn:
            row = await repo.live(conn, _key(session_id), now)
        if row is None:
            return Session(None, data=None, new=True)  # expired, rotated or never ours: a fresh one
        if row["idle_until"] < min(now + self.idle - self._touch_after, row["expires_at"]):
            async with db.begin() as conn:
                await repo.save(conn, _key(session_id), None, now=now, idle_until=now + self.idle)
        return Session(session_id, data={"created": int(row["created_at"].timestamp()),
                                         "session": json.loads(row["data"])}, new=False)

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        db, now = request.config_dict[keys.DB], utcnow()
        if session.empty:  # invalidated (logout), or rotated with nothing in it: no row, no cookie
            if session.identity is not None:
                await self.forget(request, str(session.identity))
            if session.identity is not None or self.load_cookie(request):
                self.save_cookie(response, "")
            return
        data = json.dumps(dict(session), separators=(",", ":"))
        async with db.begin() as conn:
            if session.identity is None:
                session_id = secrets.token_urlsafe(32)
                session.set_new_identity(session_id)
                await repo.insert(conn, _key(session_id), data, now=now, idle_until=now + self.idle,
                                  expires_at=now + self.absolute)
            elif not await repo.save(conn, _key(str(session.identity)), data, now=now, idle_until=now + self.idle):
                return  # it died meanwhile (rotated by another request, or timed out): it stays dead
        # Decided per request (behind TLS or not), set just before use: no await in between, so no mixing.
        self._cookie_params["secure"] = self._is_secure(request)
        self.save_cookie(response, str(session.identity))
        if session.new:
            await self._purge(request)

    async def forget(self, request: web.Request, session_id: str) -> None:
        async with request.config_dict[keys.DB].begin() as conn:
            await repo.delete(conn, _key(session_id))

    def _is_secure(self, request: web.Request) -> bool:
        if self._secure is not None:
            return self._secure
        public_url = request.config_dict[keys.SETTINGS].public_url or ""
        return public_url.startswith("https://") or request.secure

    async def _purge(self, request: web.Request) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY
        async with request.config_dict[keys.DB].begin() as conn:
            await repo.purge_expired(conn, utcnow())


async def rotate_session(request: web.Request) -> Session:
    """A new session id for this visitor, the old one dead now. Call it on login and on any change of
    privilege, so an id planted or seen before cannot ride on the new rights. The data carries over; the
    CSRF token does not."""
    old = await get_session(request)
    data = {k: v for k, v in old.items() if k != TOKEN_KEY}
    if old.identity is not None:
        await request[STORAGE_KEY].forget(request, str(old.identity))
    session = await new_session(request)
    session.update(data)
    session.changed()
    return session


def setup_sessions(app: web.Application, storage: DatabaseStorage | None = None) -> None:
    """Sessions and the CSRF check on this sub-app (after its page middleware)."""
    app.middlewares.append(session_middleware(storage or DatabaseStorage()))
    app.middlewares.append(csrf_middleware)
