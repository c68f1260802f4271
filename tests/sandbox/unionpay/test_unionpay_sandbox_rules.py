"""The UnionPay sandbox's rules, on its service object: payTimeout, orderId uniqueness, undo and refund
windows, the query's answers, the ZM file, signed answers that the client's verifier accepts."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from gateway.channels.unionpay import signing
from gateway.channels.unionpay import transformers as tx
from gateway.domain.ids import new_id
from gateway.sandbox.kit import FaultBook, Notifier
from gateway.sandbox.unionpay.service import SCHEDULE, Refused, Sandbox
from gateway.sandbox.unionpay.state import PAID, SandboxState
from tests.factories import shared_sandbox_keys


@pytest.fixture
def sandbox() -> Sandbox:
    keys: dict[str, Any] = json.loads(shared_sandbox_keys())["unionpay"]
    box = Sandbox(SandboxState(keys), Notifier(FaultBook(), SCHEDULE), "http://sbx/unionpay", 0.001)
    box.notify = lambda txn: None  # type: ignore[method-assign]  # no HTTP here
    return box


def _consume(sandbox: Sandbox, amount: int = 1000, timeout_minutes: int = 15) -> dict[str, str]:
    att = new_id("att")
    return {"version": "5.1.0", "encoding": "UTF-8", "merId": sandbox.state.mer_id, "txnType": "01",
            "txnSubType": "07", "bizType": "000000", "channelType": "08", "orderId": tx.order_id(att),
            "txnTime": tx.txn_time(att), "txnAmt": str(amount), "currencyCode": "156", "backUrl": "http://m/n",
            "payTimeout": tx.txn_time(att) if timeout_minutes <= 0 else
            (tx.id_time(att) + timedelta(minutes=timeout_minutes)).astimezone(tx.wire.BEIJING).strftime("%Y%m%d%H%M%S")}


def test_pay_timeout_ends_a_consume(sandbox: Sandbox) -> None:
    fields = _consume(sandbox, timeout_minutes=0)
    txn = sandbox.open_consume(fields)
    txn.pay_timeout = sandbox.now() - timedelta(seconds=1)
    assert sandbox.pay(txn) == "expired"
    answer = sandbox.query(fields)
    assert (answer["respCode"], answer["origRespCode"]) == ("00", "01")  # final after the timeout


def test_order_ids_are_unique_per_day_and_the_same_form_finds_the_same_trade(sandbox: Sandbox) -> None:
    fields = _consume(sandbox)
    first = sandbox.open_consume(fields)
    assert sandbox.open_consume(fields) is first
    with pytest.raises(Refused) as err:
        sandbox.open_consume(fields | {"txnAmt": "999"})
    assert err.value.code == "12"
    with pytest.raises(Refused) as err:
        sandbox.open_consume(fields | {"orderId": "bad_id_with_underscores"})
    assert err.value.code == "10"


def _refund(sandbox: Sandbox, consume_query_id: str, amount: int, txn_type: str = "04") -> dict[str, str]:
    re_ = new_id("re")
    return {"version": "5.1.0", "merId": sandbox.state.mer_id, "txnType": txn_type, "txnSubType": "00",
            "bizType": "000201", "orderId": tx.order_id(re_), "txnTime": tx.txn_time(re_), "txnAmt": str(amount),
            "origQryId": consume_query_id, "backUrl": "http://m/n", "reqReserved": "att_x"}


async def test_undo_only_on_the_settlement_day_and_refunds_up_to_what_is_left(sandbox: Sandbox) -> None:
    txn = sandbox.open_consume(_consume(sandbox, 1000))
    assert sandbox.pay(txn) is None and txn.status == PAID
    assert sandbox.back(_refund(sandbox, txn.query_id, 600), None)["respCode"] == "00"
    assert sandbox.back(_refund(sandbox, txn.query_id, 401), None)["respCode"] == "36"
    assert sandbox.back(_refund(sandbox, txn.query_id, 400, "31"), None)["respCode"] == "36"  # not in full
    other = sandbox.open_consume(_consume(sandbox, 500))
    sandbox.pay(other)
    other.settle_date = "0101" if other.settle_date != "0101" else "0102"  # yesterday's, say
    assert sandbox.back(_refund(sandbox, other.query_id, 500, "31"), None)["respCode"] == "39"
    assert sandbox.back(_refund(sandbox, other.query_id, 500), None)["respCode"] == "00"  # a refund still works
    assert sandbox.back(_refund(sandbox, "000000000000000000000", 1), None)["respCode"] == "35"
    await sandbox.notifier.close()


async def test_refunds_finish_later_and_the_file_lists_them(sandbox: Sandbox) -> None:
    txn = sandbox.open_consume(_consume(sandbox, 1000))
    sandbox.pay(txn)
    ask = _refund(sandbox, txn.query_id, 300)
    txn_refund = sandbox.refund(ask, None)
    assert sandbox.query(ask)["origRespCode"] == "05"
    sandbox.finish_refund(txn_refund)
    assert sandbox.query(ask)["origRespCode"] == "00"
    answer = sandbox.file_transfer({"merId": sandbox.state.mer_id, "txnType": "76", "fileType": "00",
                                    "settleDate": txn.settle_date})
    data, error = tx.file_answer(answer)
    assert error is None and data is not None
    lines = tx.bill_lines(tx.zm_records(data), sandbox.beijing_now().date())
    assert sorted((b.kind, b.amount.minor) for b in lines) == [("payment", 1000), ("refund", 300)]
    await sandbox.notifier.close()


def test_answers_are_signed_so_that_the_client_accepts_them(sandbox: Sandbox) -> None:
    keys = sandbox.state.keys
    verifier = signing.CertVerifier(keys["root_certificate"], [keys["middle_certificate"]])
    answer = sandbox.sign(sandbox.reply(_consume(sandbox), "34"))
    assert "\r\n" in answer["signPubKeyCert"]
    verifier.verify(answer)
    from gateway.channels.base import VerificationError

    with pytest.raises(VerificationError):
        verifier.verify(sandbox.sign(sandbox.reply(_consume(sandbox), "00"), corrupt=True))
