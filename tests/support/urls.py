"""Database URLs as the tests and benchmarks use them."""
from __future__ import annotations

from sqlalchemy.engine import make_url


def sync_mysql(url: str, *, database: str | None = None) -> str:
    """The MySQL/MariaDB URL ``url`` (whichever async driver it names: aiomysql, asyncmy) for PyMySQL,
    the blocking driver; on the server only (``database=""``) or another database if asked."""
    parsed = make_url(url).set(drivername="mysql+pymysql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)
