"""Everyday mistakes caught before they become a traceback: the CLI turns them into one line naming the
fix (``python run.py migrate``, the port, the variable) and a non-zero exit.

:func:`explain` recognises the failures an operator causes (a database not migrated or not reachable, a
busy port, a key file missing or unreadable); anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import errno
import socket
from pathlib import Path

from sqlalchemy import exc as sa_exc

from gateway.config import Settings
from gateway.store.db import Database, unreachable
from gateway.store.migrate import migration_state

EXIT = 2  # what the CLI returns for these


class Fatal(Exception):
    """A one-line error for the operator: what is wrong and what fixes it."""


def require_secret_key(settings: Settings) -> Settings:
    """The master key for a command that seals, hashes or opens secrets. Against a configured database it
    must be GATEWAY_SECRET_KEY (the servers' key): a key minted here would make API keys and credentials
    the servers cannot read. The embedded default keeps its generated key in the data dir."""
    if not settings.embedded and not settings.secret_key:
        raise Fatal("GATEWAY_SECRET_KEY is not set: a configured database (GATEWAY_DATABASE_URL) needs the "
                    "servers' master key; set GATEWAY_SECRET_KEY to it")
    return settings.with_secret_key()


def check_port(settings: Settings) -> None:
    """Fail now if nothing can listen on the port (aiohttp would say so only after starting everything)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((settings.host, settings.port))
        except OSError as exc:
            raise Fatal(_port_line(settings, exc)) from None


def _port_line(settings: Settings, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {settings.port} on {settings.host} is already in use: stop what listens there or choose "
                f"another port (--port / GATEWAY_PORT)")
    return f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}): check --host/--port (GATEWAY_HOST/GATEWAY_PORT)"


async def check_database(settings: Settings) -> None:
    """A configured database must be reachable and at this code's migration."""
    db = Database(settings.effective_database_url)
    try:
        async with db.read() as conn:
            current, head = await migration_state(conn)
    except Exception as exc:
        line = explain(exc, settings)
        if line is None:
            raise
        raise Fatal(line) from None
    finally:
        await db.dispose()
    if current != head:
        raise Fatal(f"the database is not migrated (at {current or 'no migration'}, this code needs {head}): "
                    f"run `python run.py migrate`")


def _database_line(exc: BaseException) -> str | None:
    if isinstance(exc, sa_exc.DBAPIError):
        orig = getattr(exc, "orig", None)
        args = tuple(getattr(orig, "args", ()))
        code = args[0] if args and isinstance(args[0], int) else None
        text = str(args[1] if len(args) > 1 else orig or exc).splitlines()[0][:160]
        if code == 1146 or "no such table" in text or "doesn't exist" in text:
            return f"the database is not migrated ({text}): run `python run.py migrate`"
        if code in (1044, 1045, 1049):
            return f"the database refused us ({text}): check GATEWAY_DATABASE_URL"
    if unreachable(exc) or isinstance(exc, OSError | sa_exc.OperationalError):
        cause = exc.__cause__ or exc
        detail = str(getattr(cause, "orig", None) or cause).splitlines()[0][:160]
        return f"cannot reach the database ({detail}): check GATEWAY_DATABASE_URL and that the server is up"
    return None


def explain(exc: BaseException, settings: Settings) -> str | None:
    """The one line for an operator's mistake, or None for anything else (a bug: keep the traceback)."""
    if isinstance(exc, Fatal):
        return str(exc)
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        name = Path(str(exc.filename))
        what = {"secret.key": "the master key file (set GATEWAY_SECRET_KEY, or GATEWAY_DATA_DIR to a readable "
                              "data dir)",
                "sandbox-keys.json": "the sandbox key file (GATEWAY_DATA_DIR)"}.get(name.name, "the file")
        verb = "is missing" if isinstance(exc, FileNotFoundError) else "cannot be read"
        return f"{what} {name} {verb} ({exc.strerror}): fix its path or permissions"
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
        return _port_line(settings, exc)
    return _database_line(exc)
