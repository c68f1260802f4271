"""Rows → the objects merchants see (API answers and event payloads) -- one shape for both."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.domain.pay import PayAction
from gateway.services.risk_rules import risk_summary
from gateway.store.base import Row


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def payment_view(p: Row, *, base_url: str, next_action: PayAction | None = None) -> dict[str, Any]:
    """``next_action``: what the shopper's browser does next, while a fixed method's attempt is open."""
    view: dict[str, Any] = {
        "id": p["id"], "object": "payment", "status": p["status"], "amount": p["amount"],
        "currency": p["currency"], "refunded_amount": p["refunded_amount"],
        "refundable_amount": p["refundable_amount"], "out_trade_no": p["out_trade_no"],
        "subject": p["subject"], "description": p["description"],
        # How it was paid (or the method fixed at create); ``channel`` is its deprecated old name.
        "pay_method": p["pay_method"], "channel": p["pay_method"],
        "channel_trade_no": p.get("channel_trade_no"), "channel_order_no": p["paid_attempt_id"],
        "checkout_url": f"{base_url}/pay/{p['id']}", "return_url": p["return_url"],
        "notify_url": p["notify_url"], "metadata": json.loads(p["metadata"] or "{}"),
        "created_at": iso(p["created_at"]), "expires_at": iso(p["expires_at"]),
        "paid_at": iso(p["paid_at"]), "closed_at": iso(p["closed_at"]), "close_reason": p.get("close_reason"),
        "late_payment": bool(p["late"]), "link_id": p.get("link_id"),
        "capture_method": p.get("capture_method") or "automatic",
        # A manual payment's next step is the merchant's capture, not the shopper's.
        "next_action": next_action.to_json() if next_action and p.get("capture_method") != "manual" else None,
        "risk": risk_summary(p.get("risk")),
    }
    return view


def refund_view(r: Row) -> dict[str, Any]:
    return {
        "id": r["id"], "object": "refund", "payment_id": r["payment_id"], "amount": r["amount"],
        "currency": r["currency"], "status": r["status"], "out_refund_no": r["out_refund_no"],
        "reason": r["reason"], "automatic": r["automatic"], "failure_code": r["failure_code"],
        "failure_message": r["failure_message"], "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]), "succeeded_at": iso(r["succeeded_at"]),
    }
