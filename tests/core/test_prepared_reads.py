"""Reads of statements built once go straight to SQLite (``sqlite_sync.prepared_rows``): each must give
exactly what SQLAlchemy's own execution gives -- the same keys, values and types (aware datetimes,
booleans, NULLs) -- for real rows of every kind the hot paths read."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import merchants, payments, sqlite_sync, wallets
from tests.factories import Gateway
from tests.refunds.helpers import paid_payment


async def _through_sqlalchemy(conn: AsyncConnection, stmt: sa.Select, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(stmt, params)).mappings()]


def _typed(rows: list[dict[str, Any]]) -> list[dict[str, tuple[type, Any]]]:
    return [{k: (type(v), v) for k, v in r.items()} for r in rows]


async def test_prepared_reads_equal_sqlalchemys(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    paid = await paid_payment(gw, m)  # a paid payment: an attempt with its trade number, paid_at, ledger
    pending = await gw.create_payment(m, pay_method="wechat_native")  # a pending attempt with pay data
    bare = await gw.create_payment(m)  # no attempt, many NULLs
    cases: list[tuple[sa.Select, dict[str, Any]]] = [
        (merchants._MERCHANT, {"id": m.id}), (merchants._ACCOUNTS_OF, {"merchant_id": m.id}),
    ]
    for p in (paid, pending, bare):
        cases += [(payments._PAYMENT, {"id": p["id"]}), (payments._STATUS, {"id": p["id"]}),
                  (payments._FOR_EVENT, {"id": p["id"]}),
                  (payments._MERCHANTS_PAYMENT, {"id": p["id"], "merchant_id": m.id}),
                  (payments._ATTEMPTS_OF, {"payment_id": p["id"]})]
    async with gw.svc.db.read() as conn:
        attempts = await payments.attempts_of(conn, paid["id"]) + await payments.attempts_of(conn, pending["id"])
        cases += [(payments._ATTEMPT, {"id": a["id"]}) for a in attempts]
        accounts = await merchants.accounts_of(conn, m.id)
        cases += [(merchants._ACTIVE_ON, {"channel": "alipay"}), (wallets._RECHARGE, {"payment_id": paid["id"]})]
        cases += [(merchants._ACTIVE_ON_REF, {"channel": a["channel"], "account_ref": a["account_ref"]})
                  for a in accounts]
        cases += [(payments._PAYMENT, {"id": "pay_none"}), (merchants._ACCOUNTS_OF, {"merchant_id": "mch_none"})]
        seen = 0
        for stmt, params in cases:
            fast = sqlite_sync.prepared_rows(conn, stmt, params)
            assert fast is not None, stmt
            assert _typed(fast) == _typed(await _through_sqlalchemy(conn, stmt, params)), (stmt, params)
            seen += len(fast)
        assert seen >= 14
        with sqlite_sync.offloaded():  # long work keeps SQLAlchemy's path (on a thread)
            assert sqlite_sync.prepared_rows(conn, payments._PAYMENT, {"id": paid["id"]}) is None
    async with gw.svc.db.begin() as conn:  # inside a write transaction too, seeing its own writes
        await conn.execute(sa.update(payments.payments).where(payments.payments.c.id == bare["id"])
                           .values(subject="changed"))
        rows = sqlite_sync.prepared_rows(conn, payments._PAYMENT, {"id": bare["id"]})
        assert rows is not None and [r["subject"] for r in rows] == ["changed"]
