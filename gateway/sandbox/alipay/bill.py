"""The trade bill zip as Alipay serves it: two GBK CSVs, entry names in GBK without the UTF-8 flag.

Layout of ``<pid>_<yyyyMMdd>_业务明细.csv``: ``#`` comment lines, the 25-column header, one row per
payment (业务类型 交易) and per refund (退款, negative amounts, 退款批次号/请求号 = out_request_no), a
``#`` footer with totals. ID-like cells end with a TAB, as in the real files.

Published T+1 as Alipay does (see :func:`refusal`); ``GATEWAY_SANDBOX_BILLS_IMMEDIATE=1`` publishes at
once (tests, demos). Discrepancies injected by ``POST /_control/bill-inject`` (:func:`inject`) change a
day's bill as it is built.
"""
from __future__ import annotations

import csv
import io
import os
import secrets
import zipfile
from datetime import datetime, time, timedelta
from typing import Any

from gateway.channels.alipay import protocol as tx
from gateway.domain.money import format_major, parse_major
from gateway.sandbox.alipay.state import BUYER_LOGON_ID, Refund, SandboxState

HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
          "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
          "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注").split(",")
SUMMARY_HEADER = ["门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）",
                  "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）"]
DASHES = "#-----------------------------------------"
COL = {name: i for i, name in enumerate(HEADER)}
PUBLISH_AT = time(9, 0)
INJECTIONS = ("drop", "duplicate", "amount", "extra_payment", "extra_refund", "totals", "portal_refund")


class _GbkName(zipfile.ZipInfo):
    """Alipay's zips store entry names in GBK with no UTF-8 flag; zipfile only writes ASCII or
    flagged UTF-8 names, hence this override of its name encoder."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def _cn(moment: datetime) -> str:
    return moment.strftime("%Y年%m月%d日 %H:%M:%S")


def refusal(bill_date: str, moment: datetime) -> tuple[str, str] | None:
    """Why the bill of ``bill_date`` (a day or a month, Beijing time) cannot be had yet, or None:
    T+1 -- a day or month not over is 参数不合法; yesterday's before 09:00 is still being built [U: code]."""
    if os.environ.get("GATEWAY_SANDBOX_BILLS_IMMEDIATE", "") in ("1", "true", "yes", "on"):
        return None
    local = moment.astimezone(tx.BEIJING)
    if bill_date >= local.strftime("%Y-%m-%d")[:len(bill_date)]:
        return "isv.invalid_arguments", "参数不合法"
    yesterday = (local - timedelta(days=1)).strftime("%Y-%m-%d")
    if bill_date == yesterday and local.time() < PUBLISH_AT:
        return "isp.bill_creating", "账单生成中"
    return None


def injections(state: SandboxState) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] | None = getattr(state, "bill_injections", None)
    if found is None:
        found = []
        state.bill_injections = found  # type: ignore[attr-defined]  # lives and dies with the state
    return found


def inject(state: SandboxState, spec: dict[str, Any], moment: datetime) -> dict[str, Any]:
    """Record a discrepancy for the bill of ``spec["day"]`` (default today, Beijing time).
    ``portal_refund`` is a real refund made "in the merchant portal" (the refund query knows it)."""
    kind = spec.get("kind")
    if kind not in INJECTIONS:
        raise ValueError(f"kind must be one of {', '.join(INJECTIONS)}")
    item = {**spec, "day": str(spec.get("day") or tx.beijing_time(moment)[:10])}
    if kind == "portal_refund":
        trade = next((t for t in state.trades.values() if t.out_trade_no == spec.get("trade_no")), None)
        if trade is None or trade.paid_at is None:
            raise ValueError("portal_refund needs a paid trade_no")
        request_no = str(spec.get("refund_no") or "PORTAL" + secrets.token_hex(6))
        trade.refunds[request_no] = Refund(request_no, int(spec.get("amount") or trade.total), moment, "portal")
        item["refund_no"] = request_no
        return item
    injections(state).append(item)
    return item


def _apply(rows: list[list[str]], bill_date: str, items: list[dict[str, Any]]) -> list[list[str]]:
    at = f"{bill_date} 12:00:00"
    for item in items:
        kind, trade_no = item["kind"], str(item.get("trade_no") or "")
        mine = [r for r in rows if r[COL["商户订单号"]].strip() == trade_no and r[COL["业务类型"]] == "交易"]
        if kind == "drop":
            rows = [r for r in rows if r[COL["商户订单号"]].strip() != trade_no]
        elif kind == "duplicate" and mine:
            rows.append(list(mine[0]))
        elif kind == "amount" and item.get("refund_no"):
            for r in rows:
                if r[COL["退款批次号/请求号"]].strip() == item["refund_no"]:
                    r[COL["订单金额（元）"]] = r[COL["商家实收（元）"]] = format_major(-int(item["amount"]))
        elif kind == "amount" and mine:
            for r in mine:
                r[COL["订单金额（元）"]] = r[COL["商家实收（元）"]] = format_major(int(item["amount"]))
        elif kind == "extra_payment":
            rows.append(_row("2088" + secrets.token_hex(8), trade_no or "EXT" + secrets.token_hex(6), "交易", "",
                             at, at, int(item.get("amount") or 100), ""))
        elif kind == "extra_refund":
            rows.append(_row("2088" + secrets.token_hex(8), trade_no, "退款", "", at, at,
                             -int(item.get("amount") or 100), str(item.get("refund_no") or "R-EXT")))
    return rows


def build_zip(state: SandboxState, app_id: str, bill_date: str, now: datetime) -> bytes | None:
    """The bill for a day (``yyyy-MM-dd``) or month (``yyyy-MM``) in Beijing time; None if empty."""
    rows: list[list[str]] = []
    for t in sorted(state.trades.values(), key=lambda t: t.paid_at or t.created_at):
        if t.app_id != app_id or t.paid_at is None:
            continue
        if tx.beijing_time(t.paid_at).startswith(bill_date):
            rows.append(_row(t.trade_no, t.out_trade_no, "交易", t.subject, tx.beijing_time(t.created_at),
                             tx.beijing_time(t.paid_at), t.total, ""))
        for r in t.refunds.values():
            if r.done and tx.beijing_time(r.at).startswith(bill_date):
                rows.append(_row(t.trade_no, t.out_trade_no, "退款", t.subject, tx.beijing_time(t.created_at),
                                 tx.beijing_time(r.at), -r.amount, r.out_request_no))
    items = [i for i in injections(state) if i["day"] == bill_date]
    rows = _apply(rows, bill_date, items)
    if not rows:
        return None
    paid_total = refund_total = pays = refunds = 0
    for row in rows:
        received = parse_major(row[COL["商家实收（元）"]])
        if row[COL["业务类型"]] == "交易":
            pays, paid_total = pays + 1, paid_total + received
        else:
            refunds, refund_total = refunds + 1, refund_total - received
    if any(i["kind"] == "totals" for i in items):
        paid_total += 1  # the footer no longer agrees with the rows
    start = datetime.strptime(bill_date + ("-01" if len(bill_date) == 7 else ""), "%Y-%m-%d")
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) if len(bill_date) == 7 \
        else start + timedelta(days=1)
    exported = _cn(now.astimezone(tx.BEIJING))
    period = f"#起始日期：[{_cn(start)}]   终止日期：[{_cn(end)}]"
    account = f"#账号：[{state.seller_id}]"

    detail = io.StringIO()
    detail.write(f"#支付宝业务明细查询\r\n{account}\r\n{period}\r\n")
    detail.write(f"{DASHES}业务明细列表----------------------------------------\r\n")
    writer = csv.writer(detail, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    detail.write(f"{DASHES}业务明细列表结束------------------------------------\r\n")
    detail.write(f"#交易合计：{pays}笔，商家实收共{format_major(paid_total)}元，商家优惠共0.00元\r\n")
    detail.write(f"#退款合计：{refunds}笔，商家实收退款共{format_major(-refund_total)}元，商家优惠退款共0.00元\r\n")
    detail.write(f"#导出时间：[{exported}]\r\n")

    net = format_major(paid_total - refund_total)
    summary = io.StringIO()
    summary.write(f"#支付宝业务汇总查询\r\n{account}\r\n{period}\r\n")
    summary.write(f"{DASHES}业务汇总列表----------------------------------------\r\n")
    writer = csv.writer(summary, lineterminator="\r\n")
    writer.writerow(SUMMARY_HEADER)
    writer.writerow(["", "", str(pays), str(refunds), format_major(paid_total - refund_total), net, "0.00",
                     "0.00", "0.00", "0.00", "0.00", net])
    writer.writerow(["合计", "", str(pays), str(refunds), format_major(paid_total - refund_total), net, "0.00",
                     "0.00", "0.00", "0.00", "0.00", net])
    summary.write(f"{DASHES}业务汇总列表结束------------------------------------\r\n")
    summary.write(f"#导出时间：[{exported}]\r\n")

    stem = f"{state.seller_id}_{bill_date.replace('-', '')}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in ((f"{stem}_业务明细.csv", detail), (f"{stem}_业务明细(汇总).csv", summary)):
            info = _GbkName(name, date_time=now.astimezone(tx.BEIJING).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.getvalue().encode("gbk", errors="replace"))
    return out.getvalue()


def _row(trade_no: str, out_trade_no: str, kind: str, subject: str, created: str, finished: str, fen: int,
         request_no: str) -> list[str]:
    amount = format_major(fen)
    return [f"{trade_no}\t", f"{out_trade_no}\t", kind, subject, created, finished, "", "", "", "",
            BUYER_LOGON_ID, amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
            f"{request_no}\t" if request_no else "", "0.00", "0.00", ""]
