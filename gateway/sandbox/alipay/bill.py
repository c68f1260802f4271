"""The trade bill zip as Alipay serves it: two GBK CSVs, entry names in GBK without the UTF-8 flag.

Layout of ``<pid>_<yyyyMMdd>_业务明细.csv``: ``#`` comment lines, the 25-column header, one row per
payment (业务类型 交易) and per refund (退款, negative amounts, 退款批次号/请求号 = out_request_no), a
``#`` footer with totals. ID-like cells end with a TAB, as in the real files.
"""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime, timedelta

from gateway.channels.alipay import protocol as wire
from gateway.domain.money import format_major
from gateway.sandbox.alipay.state import BUYER_LOGON_ID, SandboxState

HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
          "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
          "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注").split(",")
SUMMARY_HEADER = ["门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）",
                  "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）"]
DASHES = "#-----------------------------------------"


class _GbkName(zipfile.ZipInfo):
    """Alipay's zips store entry names in GBK with no UTF-8 flag; zipfile only writes ASCII or
    flagged UTF-8 names, hence this override of its name encoder."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def _cn(moment: datetime) -> str:
    return moment.strftime("%Y年%m月%d日 %H:%M:%S")


def build_zip(state: SandboxState, app_id: str, bill_date: str, now: datetime) -> bytes | None:
    """The bill for a day (``yyyy-MM-dd``) or month (``yyyy-MM``) in Beijing time; None if empty."""
    rows: list[list[str]] = []
    paid_total = refund_total = 0
    pays = refunds = 0
    for t in sorted(state.trades.values(), key=lambda t: t.paid_at or t.created_at):
        if t.app_id != app_id or t.paid_at is None:
            continue
        if wire.beijing_time(t.paid_at).startswith(bill_date):
            pays += 1
            paid_total += t.total
            rows.append(_row(t.trade_no, t.out_trade_no, "交易", t.subject, wire.beijing_time(t.created_at),
                             wire.beijing_time(t.paid_at), t.total, ""))
        for r in t.refunds.values():
            if wire.beijing_time(r.at).startswith(bill_date):
                refunds += 1
                refund_total += r.amount
                rows.append(_row(t.trade_no, t.out_trade_no, "退款", t.subject, wire.beijing_time(t.created_at),
                                 wire.beijing_time(r.at), -r.amount, r.out_request_no))
    if not rows:
        return None
    start = datetime.strptime(bill_date + ("-01" if len(bill_date) == 7 else ""), "%Y-%m-%d")
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) if len(bill_date) == 7 \
        else start + timedelta(days=1)
    exported = _cn(now.astimezone(wire.BEIJING))
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
            info = _GbkName(name, date_time=now.astimezone(wire.BEIJING).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.getvalue().encode("gbk", errors="replace"))
    return out.getvalue()


def _row(trade_no: str, out_trade_no: str, kind: str, subject: str, created: str, finished: str, fen: int,
         request_no: str) -> list[str]:
    amount = format_major(fen)
    return [f"{trade_no}\t", f"{out_trade_no}\t", kind, subject, created, finished, "", "", "", "",
            BUYER_LOGON_ID, amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
            f"{request_no}\t" if request_no else "", "0.00", "0.00", ""]
