"""The trade bill in WeChat's CSV format: plain header, backtick-prefixed fields, a summary block.

Published on WeChat's schedule: a day's bill from 09:00 (China) the next day; today or later is refused
with ``PARAM_ERROR``, yesterday before 09:00 answers ``STATEMENT_CREATING`` [U: the exact code].
``GATEWAY_SANDBOX_BILLS_IMMEDIATE=1`` publishes at once (tests, demos).

Injected discrepancies (``POST /_control/bill-inject``, see :func:`inject`) change a day's bill as it is
rendered, so tests can produce each class of discrepancy reconciliation must find.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import date, datetime, time, timedelta
from typing import Any

from gateway.domain.money import format_major, parse_major
from gateway.sandbox.wechat.state import TRADE_TYPES, Refund, SandboxState, now

HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
          "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
          "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
FEE_PER_FEN = 6  # 0.60 %, counted in units of 0.00001 yuan: 1 fen = 1000 units, 0.6 % of it = 6
COL = {name: i for i, name in enumerate(HEADER.split(","))}
PUBLISH_AT = time(9, 0)
INJECTIONS = ("drop", "duplicate", "amount", "extra_payment", "extra_refund", "totals", "hash", "bom",
              "portal_refund")


def _fee(units: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 100_000)
    return f"{sign}{whole}.{frac:05d}"


def _fee_units(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100_000 + int(frac.ljust(5, "0")))


def _text(value: str | None) -> str:
    # Free text cannot carry the separator; the sandbox swaps in the full-width comma.
    return (value or "").replace(",", "，").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return ",".join("`" + c for c in cells)


def refusal(day: date, moment: datetime | None = None) -> tuple[str, str] | None:
    """Why the bill for ``day`` cannot be had yet (WeChat's code and message), or None."""
    if os.environ.get("GATEWAY_SANDBOX_BILLS_IMMEDIATE", "") in ("1", "true", "yes", "on"):
        return None
    moment = moment or now()
    if day >= moment.date():
        return "PARAM_ERROR", "账单日期不合法，只能下载昨天及以前的账单"
    if day == moment.date() - timedelta(days=1) and moment.time() < PUBLISH_AT:
        return "STATEMENT_CREATING", "账单生成中，请于10点后再下载"
    return None


def injections(state: SandboxState) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] | None = getattr(state, "bill_injections", None)
    if found is None:
        found = []
        state.bill_injections = found  # type: ignore[attr-defined]  # reset with the state object
    return found


def inject(state: SandboxState, spec: dict[str, Any]) -> dict[str, Any]:
    """Record a discrepancy to inject into the bill of ``spec["day"]`` (default today, China time).
    ``portal_refund`` is a real refund made "in the merchant portal" (the query API knows it)."""
    kind = spec.get("kind")
    if kind not in INJECTIONS:
        raise ValueError(f"kind must be one of {', '.join(INJECTIONS)}")
    item = {**spec, "day": str(spec.get("day") or now().date().isoformat())}
    if kind == "portal_refund":
        trade = state.trades.get(str(spec.get("trade_no")))
        if trade is None or not trade.transaction_id:
            raise ValueError("portal_refund needs a paid trade_no")
        refund_no = str(spec.get("refund_no") or "PORTAL" + secrets.token_hex(6))
        state.refunds[refund_no] = Refund(refund_no, "50300" + secrets.token_hex(8), trade,
                                          int(spec.get("amount") or trade.total), "portal", None,
                                          status="SUCCESS", success_time=now())
        item["refund_no"] = refund_no
        return item
    injections(state).append(item)
    return item


def _records(state: SandboxState, day: date, bill_type: str) -> list[list[str]]:
    rows: list[list[str]] = []
    if bill_type in ("ALL", "SUCCESS"):
        for t in state.trades.values():
            if not t.success_time or t.success_time.date() != day:
                continue
            rows.append([t.success_time.strftime("%Y-%m-%d %H:%M:%S"), t.appid, t.mchid, "0", "",
                         t.transaction_id or "", t.out_trade_no, t.openid or "", TRADE_TYPES[t.kind],
                         "SUCCESS", "OTHERS", "CNY", format_major(t.total), "0.00", "0", "0", "0.00",
                         "0.00", "", "", _text(t.description), _text(t.attach), _fee(t.total * FEE_PER_FEN),
                         "0.60%", format_major(t.total), "0.00", ""])
    if bill_type in ("ALL", "REFUND"):
        for r in state.refunds.values():
            if r.create_time.date() != day or r.status not in ("SUCCESS", "PROCESSING"):
                continue
            rows.append(_refund_row(r.create_time, r.trade.appid, r.trade.mchid, r.trade.transaction_id or "",
                                    r.trade.out_trade_no, r.refund_id, r.out_refund_no, r.amount, r.status,
                                    r.trade.total))
    return rows


def _refund_row(at: datetime, appid: str, mchid: str, transaction_id: str, out_trade_no: str, refund_id: str,
                out_refund_no: str, amount: int, status: str, total: int) -> list[str]:
    return [at.strftime("%Y-%m-%d %H:%M:%S"), appid, mchid, "0", "", transaction_id, out_trade_no, "", "NATIVE",
            "REFUND", "OTHERS", "CNY", "0.00", "0.00", refund_id, out_refund_no, format_major(amount), "0.00",
            "ORIGINAL", status, "", "", _fee(-amount * FEE_PER_FEN), "0.60%", format_major(total),
            format_major(amount), ""]


def _apply(rows: list[list[str]], day: date, items: list[dict[str, Any]]) -> list[list[str]]:
    at = datetime.combine(day, time(12, 0))
    for item in items:
        kind, trade_no = item["kind"], str(item.get("trade_no") or "")
        mine = [r for r in rows if r[COL["商户订单号"]] == trade_no and r[COL["交易状态"]] == "SUCCESS"]
        if kind == "drop":
            rows = [r for r in rows if r[COL["商户订单号"]] != trade_no]
        elif kind == "duplicate" and mine:
            rows.append(list(mine[0]))
        elif kind == "amount" and item.get("refund_no"):
            for r in rows:
                if r[COL["商户退款单号"]] == item["refund_no"]:
                    r[COL["退款金额"]] = r[COL["申请退款金额"]] = format_major(int(item["amount"]))
        elif kind == "amount" and mine:
            fen = int(item["amount"])
            for r in mine:
                r[COL["应结订单金额"]] = r[COL["订单金额"]] = format_major(fen)
                r[COL["手续费"]] = _fee(fen * FEE_PER_FEN)
        elif kind == "extra_payment":
            fen = int(item.get("amount") or 100)
            rows.append([at.strftime("%Y-%m-%d %H:%M:%S"), "wx_sandbox", "1900000000", "0", "",
                         "42000" + secrets.token_hex(8), trade_no or "EXT" + secrets.token_hex(6), "", "NATIVE",
                         "SUCCESS", "OTHERS", "CNY", format_major(fen), "0.00", "0", "0", "0.00", "0.00", "", "",
                         "", "", _fee(fen * FEE_PER_FEN), "0.60%", format_major(fen), "0.00", ""])
        elif kind == "extra_refund":
            fen = int(item.get("amount") or 100)
            rows.append(_refund_row(at, "wx_sandbox", "1900000000", "42000" + secrets.token_hex(8), trade_no,
                                    "50300" + secrets.token_hex(8), str(item.get("refund_no") or "R-EXT"),
                                    fen, "SUCCESS", fen))
    return rows


def render(state: SandboxState, day: date, bill_type: str = "ALL") -> str | None:
    """The bill for ``day`` (China time), or None when it has no lines. Payments are dated by their
    success time, refunds by their acceptance time, as WeChat does."""
    items = [i for i in injections(state) if i["day"] == day.isoformat()]
    rows = _apply(_records(state, day, bill_type), day, items)
    if not rows:
        return None
    count = settle = refunded = fees = ordered = requested = 0
    for r in rows:
        count += 1
        fees += _fee_units(r[COL["手续费"]])
        if r[COL["交易状态"]] == "REFUND":
            refunded += parse_major(r[COL["退款金额"]])
            requested += parse_major(r[COL["申请退款金额"]])
        else:
            settle += parse_major(r[COL["应结订单金额"]])
            ordered += parse_major(r[COL["订单金额"]])
    if any(i["kind"] == "totals" for i in items):
        ordered += 1  # the bill's own summary no longer agrees with its lines
    summary = _row([str(count), format_major(settle), format_major(refunded), "0.00", _fee(fees),
                    format_major(ordered), format_major(requested)])
    bom = "\ufeff" if any(i["kind"] == "bom" for i in items) else ""
    return bom + "\n".join([HEADER, *map(_row, rows), SUMMARY, summary]) + "\n"


def digest(state: SandboxState, day: date, raw: bytes) -> str:
    """The SHA1 the tradebill answer vouches for (a wrong one when a ``hash`` fault is injected)."""
    value = hashlib.sha1(raw).hexdigest()
    if any(i["kind"] == "hash" and i["day"] == day.isoformat() for i in injections(state)):
        return hashlib.sha1(raw + b"tampered").hexdigest()
    return value
