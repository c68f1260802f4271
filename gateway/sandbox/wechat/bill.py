"""The trade bill in WeChat's CSV format: plain header, backtick-prefixed fields, a summary block."""
from __future__ import annotations

from datetime import date

from gateway.domain.money import format_major
from gateway.sandbox.wechat.state import TRADE_TYPES, SandboxState

HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
          "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
          "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
FEE_PER_FEN = 6  # 0.60 %, counted in units of 0.00001 yuan: 1 fen = 1000 units, 0.6 % of it = 6


def _fee(units: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 100_000)
    return f"{sign}{whole}.{frac:05d}"


def _text(value: str | None) -> str:
    # Free text cannot carry the separator; the sandbox swaps in the full-width comma.
    return (value or "").replace(",", "，").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return ",".join("`" + c for c in cells)


def render(state: SandboxState, day: date, bill_type: str = "ALL") -> str | None:
    """The bill for ``day`` (China time), or None when it has no lines. Payments are dated by their
    success time, refunds by their acceptance time, as WeChat does."""
    rows: list[str] = []
    count = settle = refunded = fees = ordered = requested = 0
    if bill_type in ("ALL", "SUCCESS"):
        for t in state.trades.values():
            if not t.success_time or t.success_time.date() != day:
                continue
            fee = t.total * FEE_PER_FEN
            rows.append(_row([t.success_time.strftime("%Y-%m-%d %H:%M:%S"), t.appid, t.mchid, "0", "",
                              t.transaction_id or "", t.out_trade_no, t.openid or "", TRADE_TYPES[t.kind],
                              "SUCCESS", "OTHERS", "CNY", format_major(t.total), "0.00", "0", "0", "0.00",
                              "0.00", "", "", _text(t.description), _text(t.attach), _fee(fee), "0.60%",
                              format_major(t.total), "0.00", ""]))
            count, settle, fees, ordered = count + 1, settle + t.total, fees + fee, ordered + t.total
    if bill_type in ("ALL", "REFUND"):
        for r in state.refunds.values():
            if r.create_time.date() != day or r.status not in ("SUCCESS", "PROCESSING"):
                continue
            t, fee = r.trade, -r.amount * FEE_PER_FEN
            rows.append(_row([r.create_time.strftime("%Y-%m-%d %H:%M:%S"), t.appid, t.mchid, "0", "",
                              t.transaction_id or "", t.out_trade_no, t.openid or "", TRADE_TYPES[t.kind],
                              "REFUND", "OTHERS", "CNY", "0.00", "0.00", r.refund_id, r.out_refund_no,
                              format_major(r.amount), "0.00", "ORIGINAL", r.status, _text(t.description),
                              _text(t.attach), _fee(fee), "0.60%", format_major(t.total),
                              format_major(r.amount), ""]))
            count, refunded, fees, requested = count + 1, refunded + r.amount, fees + fee, requested + r.amount
    if not rows:
        return None
    summary = _row([str(count), format_major(settle), format_major(refunded), "0.00", _fee(fees),
                    format_major(ordered), format_major(requested)])
    return "\n".join([HEADER, *rows, SUMMARY, summary]) + "\n"
