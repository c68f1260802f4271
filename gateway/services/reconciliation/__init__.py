"""Reconciliation against the channels' bills (对账): a bill day per channel account, streamed to a
file, staged in the database, matched set-wise in SQL, typed discrepancies, remedies only through the
settlement (:mod:`.remedy`), fees into the ledger.

Entry points: :func:`reconcile` (the CLI and the daily loop), :func:`exit_code`.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from gateway.services.context import Services
from gateway.services.reconciliation.engine import Options, accounts, report, run

__all__ = ["Options", "exit_code", "reconcile", "report"]


async def reconcile(svc: Services, day: date, opts: Options, *, channel: str | None = None,
                    account_id: str | None = None) -> list[dict[str, Any]]:
    """Reconcile ``day`` for every active account (or the one channel / account): one report each."""
    found = await accounts(svc, channel=channel, account_id=account_id)
    if opts.file and len(found) != 1:
        raise ValueError("--file needs exactly one account (use --account)")
    return [await run(svc, account, day, opts) for account in found]


def exit_code(reports: list[dict[str, Any]]) -> int:
    """0 consistent, 1 open discrepancies, 2 a batch failed, 3 a bill not ready (CLI contract)."""
    statuses = {r["status"] for r in reports}
    if statuses & {"failed", "busy"}:
        return 2
    if "not_ready" in statuses:
        return 3
    if any(d["state"] == "open" for r in reports for d in r["discrepancies"]):
        return 1
    return 0
