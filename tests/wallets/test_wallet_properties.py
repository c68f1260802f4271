"""Property test: random sequences of recharge / pay / refund (of payments from balance and of recharges,
succeeding or failing) / adjust / freeze / hold / capture / release / authorize a payment and capture
or close it against a plain model of the wallet. After every step the
wallet equals the model; after every sequence the ledger checker finds nothing. On SQLite, and on
MariaDB when configured. Services are driven directly (no HTTP), the recharge's channel by the
settlement, as its callback would."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.cache.memory import MemoryCache
from gateway.cache.status import StatusBus
from gateway.channels.base import Ports
from gateway.channels.pool import ChannelPool
from gateway.channels.registry import default_registry
from gateway.config import Settings
from gateway.crypto.secrets import Secret
from gateway.domain.errors import InsufficientBalance, InvalidState, RefundExceedsRefundable, WalletFrozen
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.domain.wallet import Parts
from gateway.services import refunds, settlement, wallets
from gateway.services.context import Services
from gateway.services.merchants import Authenticator, create_merchant, set_channel_account
from gateway.services.payments import NewPayment, capture_payment, close_payment_for, create_payment
from gateway.services.recharges import create_recharge
from gateway.store import merchants as merchants_repo
from gateway.store import refunds as refunds_repo
from gateway.store.base import utcnow
from gateway.store.db import Database
from gateway.store.ledger_check import check_database
from gateway.store.migrate import upgrade
from gateway.store.tables import attempts
from tests.conftest import MYSQL_URL


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('wallets') / 'wallets.sqlite3'}"
    upgrade(url)
    return url


Op = st.one_of(
    st.tuples(st.just("recharge"), st.integers(1, 5000), st.integers(0, 800), st.integers(0, 300)),
    st.tuples(st.just("pay"), st.integers(1, 4000), st.just(0), st.just(0)),
    st.tuples(st.just("refund_pay"), st.integers(0, 9), st.integers(1, 3000), st.just(0)),
    st.tuples(st.sampled_from(["refund_recharge_ok", "refund_recharge_fail"]), st.integers(0, 9),
              st.integers(1, 5000), st.just(0)),
    st.tuples(st.just("adjust"), st.integers(-2000, 2000), st.integers(-500, 500), st.integers(-200, 200)),
    st.tuples(st.sampled_from(["freeze", "unfreeze"]), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("hold"), st.integers(1, 3000), st.just(0), st.just(0)),
    st.tuples(st.sampled_from(["capture", "release"]), st.integers(0, 9), st.just(0), st.just(0)),
    st.tuples(st.just("authorize"), st.integers(1, 3000), st.just(0), st.just(0)),
    st.tuples(st.sampled_from(["capture_payment", "close_payment"]), st.integers(0, 9), st.just(0), st.just(0)),
)


@dataclass
class Model:
    cash: int = 0
    bonus: int = 0
    points: int = 0
    frozen: bool = False
    held: int = 0
    holds: list[dict[str, Any]] = field(default_factory=list)     # id, cash, bonus, status
    pays: list[dict[str, Any]] = field(default_factory=list)       # id, took cash/bonus, back cash/bonus, left
    recharges: list[dict[str, Any]] = field(default_factory=list)  # id, amount, bonus, points, left
    auths: list[dict[str, Any]] = field(default_factory=list)      # payment id, cash, bonus, status


SEQUENCES = st.lists(Op, min_size=1, max_size=18)
COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


@given(ops=SEQUENCES)
@settings(max_examples=100, **COMMON)  # type: ignore[arg-type]
def test_random_wallet_sequences_match_the_model(sqlite_url: str, tmp_path: Path,
                                                 ops: list[tuple[str, int, int, int]]) -> None:
    asyncio.run(_run(sqlite_url, tmp_path, ops))


@pytest.mark.skipif(not MYSQL_URL, reason="GATEWAY_TEST_MYSQL_URL is not set")
@given(ops=SEQUENCES)
@settings(max_examples=15, **COMMON)  # type: ignore[arg-type]
def test_random_wallet_sequences_match_the_model_on_mariadb(request: pytest.FixtureRequest, tmp_path: Path,
                                                            ops: list[tuple[str, int, int, int]]) -> None:
    asyncio.run(_run(request.getfixturevalue("mysql_schema"), tmp_path, ops[:10]))


async def _services(db_url: str, tmp: Path) -> Services:
    s = Settings.from_env({}, host="127.0.0.1", port=1, data_dir=str(tmp / "data"), database_url=db_url,
                          sandbox=False, secret_key=Secret("one-deployment-one-master-key")).with_secret_key()
    db, cache = Database(db_url), MemoryCache()
    registry = default_registry()
    registry.bind(Ports(stored_value=wallets.WalletBook(db)))
    return Services(settings=s, db=db, cache=cache, registry=registry, pool=ChannelPool(s, registry, None),  # type: ignore[arg-type]
                    status=StatusBus(cache), auth=Authenticator(db, s))


async def _run(db_url: str, tmp: Path, ops: list[tuple[str, int, int, int]]) -> None:
    svc = await _services(db_url, tmp)
    try:
        created = await create_merchant(svc.db, svc.settings, name="Props")
        mid = created["merchant_id"]
        await set_channel_account(svc.db, svc.settings, svc.registry, mid, "prepaid", {})
        # An account on a real channel, for recharges (settled directly); it lists a method, as a merchant
        # with none a shopper can use cannot create a checkout payment.
        async with svc.db.begin() as conn:
            await merchants_repo.insert_account(conn, {
                "id": new_id("acct"), "merchant_id": mid, "channel": "alipay", "account_ref": "a",
                "credentials_sealed": "-", "pay_methods": "[\"alipay_qr\"]", "active": True, "created_at": utcnow()})
            merchant = await merchants_repo.get_merchant(conn, mid)
            account = (await merchants_repo.accounts_of(conn, mid))[-1]
        assert merchant is not None
        customer, model = "cust-1", Model()
        for op, a, b, c in ops:
            await _step(svc, merchant, account, customer, model, op, a, b, c)
            got = await wallets.get_wallet(svc.db, mid, customer)
            assert (got["cash"], got["bonus"], got["points"], got["held"]) \
                == (model.cash, model.bonus, model.points, model.held), (op, a, b, c)
        report = await check_database(svc.db)
        assert report.ok, report.as_json()["violations"]
    finally:
        await svc.db.dispose()


async def _step(svc: Services, merchant: Any, account: Any, customer: str, model: Model,
                op: str, a: int, b: int, c: int) -> None:
    mid = merchant["id"]
    if op == "recharge":
        package = await wallets.create_package(svc.db, mid, name="p", price=a, bonus=b, points=c, sort_order=0)
        view = await create_recharge(svc, merchant, customer, amount=None, package_id=package["id"], pay_method=None)
        async with svc.db.begin() as conn:  # the shopper paid on the channel; its callback is settled
            attempt = {"id": new_id("att"), "payment_id": view["id"], "merchant_id": mid, "account_id": account["id"],
                       "channel": "alipay", "pay_method": "alipay_qr", "amount": a, "currency": "CNY",
                       "status": "pending", "created_at": utcnow(), "updated_at": utcnow()}
            await conn.execute(sa.insert(attempts).values(**attempt))
            await settlement.settle_paid(conn, attempt, Money(a), channel_trade_no="t", paid_at=None, base_url="")
        model.cash, model.bonus, model.points = model.cash + a, model.bonus + b, model.points + c
        model.recharges.append({"id": view["id"], "amount": a, "bonus": b, "points": c, "left": a})
    elif op == "pay":
        try:
            view = await create_payment(svc, merchant, NewPayment(amount=a, currency="CNY", subject="s",
                                                                  out_trade_no=new_id("o"), channel="balance",
                                                                  payer_id=customer))
        except (InsufficientBalance, WalletFrozen) as exc:
            assert model.frozen if isinstance(exc, WalletFrozen) else a > model.cash + model.bonus
            return
        assert not model.frozen and view["status"] == "paid"
        from_bonus = min(model.bonus, a)
        model.bonus -= from_bonus
        model.cash -= a - from_bonus
        model.pays.append({"id": view["id"], "cash": a - from_bonus, "bonus": from_bonus, "back_cash": 0, "left": a})
    elif op == "refund_pay" and model.pays:
        p = model.pays[a % len(model.pays)]
        try:
            await refunds.create_refund(svc, mid, p["id"], amount=b, out_refund_no=new_id("r"))
        except RefundExceedsRefundable:
            assert b > p["left"]
            return
        to_cash = min(b, p["cash"] - p["back_cash"])
        p["back_cash"] += to_cash
        p["left"] -= b
        model.cash += to_cash
        model.bonus += b - to_cash
    elif op.startswith("refund_recharge") and model.recharges:
        r = model.recharges[a % len(model.recharges)]
        try:
            async with svc.db.begin() as conn:
                refund = await settlement.open_refund(conn, mid, r["id"], amount=b, out_refund_no=new_id("r"))
        except RefundExceedsRefundable:
            assert b > r["left"]
            return
        except InvalidState:  # refunded in full already: the payment takes no refund at all
            assert r["left"] == 0
            return
        except WalletFrozen:
            assert b <= r["left"] and model.frozen
            return
        except InsufficientBalance:
            assert b <= r["left"] and not model.frozen and b > model.cash
            return
        assert b <= r["left"] and b <= model.cash and not model.frozen
        async with svc.db.begin() as conn:
            row = await refunds_repo.get_refund(conn, refund["id"])
            assert row is not None
            if op.endswith("ok"):
                await settlement.settle_refund_succeeded(conn, row, "cr", "")
                r["left"] -= b
                model.cash -= b  # and the package's bonus and points in proportion, as far as unspent
                model.bonus -= min(model.bonus, r["bonus"] * b // r["amount"])
                model.points -= min(model.points, r["points"] * b // r["amount"])
            else:  # whatever it took comes back exactly
                await settlement.settle_refund_failed(conn, row, "x", "failed")
    elif op == "adjust":
        after = (model.cash + a, model.bonus + b, model.points + c)
        if not (a or b or c):
            return
        debit = min(a, b, c) < 0
        try:
            await wallets.adjust(svc.db, mid, customer, Parts(cash=a, bonus=b, points=c), "property test")
        except WalletFrozen:
            assert model.frozen and debit
            return
        except InsufficientBalance:
            assert not model.frozen and min(after) < 0
            return
        assert min(after) >= 0 and not (model.frozen and debit)
        model.cash, model.bonus, model.points = after
    elif op == "hold":
        try:
            h = await wallets.hold(svc.db, mid, customer, a, expires_in=3600, reason=None)
        except WalletFrozen:
            assert model.frozen
            return
        except InsufficientBalance:
            assert not model.frozen and a > model.cash + model.bonus
            return
        from_bonus = min(model.bonus, a)
        assert not model.frozen and (h["cash"], h["bonus"]) == (a - from_bonus, from_bonus)
        model.bonus, model.cash, model.held = model.bonus - from_bonus, model.cash - (a - from_bonus), model.held + a
        model.holds.append({"id": h["id"], "cash": a - from_bonus, "bonus": from_bonus, "status": "held"})
    elif op in ("capture", "release") and model.holds:
        h = model.holds[a % len(model.holds)]
        try:
            await wallets.end_hold(svc.db, mid, customer, h["id"], capture=op == "capture")
        except InvalidState:
            assert h["status"] != "held"
            return
        except WalletFrozen:
            assert op == "capture" and model.frozen
            return
        assert h["status"] == "held" and not (op == "capture" and model.frozen)
        h["status"] = op
        model.held -= h["cash"] + h["bonus"]
        if op == "release":
            model.cash, model.bonus = model.cash + h["cash"], model.bonus + h["bonus"]
    elif op == "authorize":
        try:
            view = await create_payment(svc, merchant, NewPayment(amount=a, currency="CNY", subject="s",
                                                                  out_trade_no=new_id("o"), channel="balance",
                                                                  payer_id=customer, capture=False))
        except (InsufficientBalance, WalletFrozen) as exc:
            assert model.frozen if isinstance(exc, WalletFrozen) else a > model.cash + model.bonus
            return
        assert not model.frozen and view["status"] == "pending"
        from_bonus = min(model.bonus, a)
        model.bonus, model.cash, model.held = model.bonus - from_bonus, model.cash - (a - from_bonus), model.held + a
        model.auths.append({"id": view["id"], "cash": a - from_bonus, "bonus": from_bonus, "status": "held"})
    elif op in ("capture_payment", "close_payment") and model.auths:
        h = model.auths[a % len(model.auths)]
        try:
            if op == "capture_payment":
                view = await capture_payment(svc, mid, h["id"])
            else:
                view = await close_payment_for(svc, mid, h["id"])
        except InvalidState:
            assert h["status"] != "held" and not (op == "capture_payment" and h["status"] == "captured")
            return
        except WalletFrozen:
            assert op == "capture_payment" and model.frozen and h["status"] == "held"
            return
        if op == "capture_payment" and h["status"] == "captured":  # captured before: the same answer
            assert view["status"] in ("paid", "partially_refunded", "refunded")
            return
        assert h["status"] == "held" and not (op == "capture_payment" and model.frozen)
        model.held -= h["cash"] + h["bonus"]
        if op == "capture_payment":
            assert view["status"] == "paid"
            h["status"] = "captured"
            model.pays.append({"id": h["id"], "cash": h["cash"], "bonus": h["bonus"], "back_cash": 0,
                               "left": h["cash"] + h["bonus"]})
        else:
            assert view["status"] == "closed"
            h["status"] = "closed"
            model.cash, model.bonus = model.cash + h["cash"], model.bonus + h["bonus"]
    elif op in ("freeze", "unfreeze"):
        await wallets.set_frozen(svc.db, mid, customer, op == "freeze")
        model.frozen = op == "freeze"
