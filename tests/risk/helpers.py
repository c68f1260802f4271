"""Driving the risk rules through the merchant API, and what a decision looks like from outside."""
from __future__ import annotations

from typing import Any

from tests.factories import Answer, Gateway, Merchant, unique


async def add_rule(gw: Gateway, m: Merchant, **body: Any) -> dict[str, Any]:
    answer = await gw.api(m, "POST", "/risk/rules", json_body=body)
    assert answer.status == 201, answer.text
    return dict(answer.body)


async def create(gw: Gateway, m: Merchant, **overrides: Any) -> Answer:
    body = {"amount": 1999, "currency": "CNY", "subject": "Risk test", "out_trade_no": unique("rk")}
    body.update(overrides)
    return await gw.api(m, "POST", "/payments", json_body=body)


async def fund(gw: Gateway, m: Merchant, customer: str, cash: int) -> None:
    """Stored value enabled for the merchant, and ``cash`` in the customer's wallet: a payment from the
    balance is paid within its create (the payer is known: the customer)."""
    from tests.wallets.conftest import enable_stored_value

    await enable_stored_value(gw, m)
    answer = await gw.api(m, "POST", f"/customers/{customer}/wallet/adjustments",
                          json_body={"cash": cash, "reason": "test funds"})
    assert answer.status == 201, answer.text


def expect(answer: Answer, mode: str, action: str, rule_type: str) -> None:
    """The answer a create gets when ``rule_type`` fires in ``mode`` with ``action``."""
    if mode == "monitor" or action == "review":
        assert answer.status == 201, answer.text
        risk = answer.body["risk"]
        assert risk["decision"] == ("review" if mode == "enforce" else "allow"), risk
        assert [(r["type"], r["mode"]) for r in risk["rules"]] == [(rule_type, mode)], risk
    elif action == "block":
        assert answer.status == 403, answer.text
        assert answer.body["code"] == "risk_blocked" and answer.body["decision_id"].startswith("rdec_")
        assert "rules" not in answer.body  # no rule detail in the answer
    else:
        assert action == "throttle"
        assert answer.status == 429 and answer.body["code"] == "rate_limited", answer.text
        assert int(answer.headers["Retry-After"]) > 0


async def decisions(gw: Gateway, m: Merchant, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    answer = await gw.api(m, "GET", f"/risk/decisions?{qs}")
    assert answer.status == 200, answer.text
    return list(answer.body["data"])
