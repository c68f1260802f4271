"""Database URLs as the tests and benchmarks use them."""
from __future__ import annotations

from sqlalchemy.engine import make_url


def sync_mysql(url: str, **parts: str) -> str:
    """The MySQL/MariaDB URL ``url`` (whichever async driver it names: aiomysql, asyncmy) for PyMySQL,
    the blocking driver, with ``parts`` (e.g. ``database=""``) replaced."""
    return make_url(url).set(drivername="mysql+pymysql", **parts).render_as_string(hide_password=False)
