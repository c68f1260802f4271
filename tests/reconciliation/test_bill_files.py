"""Bill files as the channels serve them, parsed line by line: GBK zip entry names, a BOM, backticks,
TAB-suffixed ids, fees to 1/1000 fen, the bill's own totals."""
from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from gateway.channels.alipay import transformers as tx
from gateway.channels.base import BillTotals
from gateway.channels.wechat import transformers as tf

WECHAT = (
    "\ufeff交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,"
    "订单金额,申请退款金额,费率备注\r\n"
    "`2021-01-28 17:07:11,`wx81be,`1601959334,`0,`,`4200000900,`att_a,`ofyak,`NATIVE,`SUCCESS,`OTHERS,`CNY,"
    "`19.90,`0.00,`0,`0,`0.00,`0.00,`,`,`for, testing,`cipher code,`0.11940,`0.60%,`19.90,`0.00,`\r\n"
    "`2021-01-28 18:00:00,`wx81be,`1601959334,`0,`,`4200000900,`att_a,`ofyak,`NATIVE,`REFUND,`OTHERS,`CNY,"
    "`0.00,`0.00,`50300,`re_1,`19.90,`0.00,`ORIGINAL,`PROCESSING,`for testing,`,`-0.11940,`0.60%,`19.90,`19.90,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`2,`19.90,`19.90,`0.00,`0.00000,`19.90,`19.90\r\n")


def test_wechat_gzip_with_bom_backticks_and_fees(tmp_path: Path) -> None:
    path = tmp_path / "bill.gz"
    path.write_bytes(gzip.compress(WECHAT.encode()))
    stated = BillTotals()
    pay, ref = tf.read_bill(path, stated)
    assert (pay.trade_no, pay.amount.minor, pay.fee) == ("att_a", 1990, 11940)  # 19.90: no float anywhere
    assert (ref.kind, ref.refund_no, ref.amount.minor, ref.fee, ref.status) == ("refund", "re_1", 1990, -11940,
                                                                                 "PROCESSING")
    parsed = BillTotals()
    for line in (pay, ref):
        parsed.add(line)
    assert stated.stated and parsed.differences(stated) == []
    assert tf.parse_fee("-0.00006") == -6 and tf.parse_fee("12.3") == 1_230_000
    with pytest.raises(ValueError):
        tf.parse_fee("0.000001")


def test_wechat_summary_that_disagrees_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "bill.csv"
    path.write_text(WECHAT.replace("`2,`19.90,`19.90,`0.00,`0.00000,`19.90,`19.90", "`2,`19.90,`19.90,`0.00,"
                                   "`0.00000,`19.91,`19.90"), encoding="utf-8")
    stated, parsed = BillTotals(), BillTotals()
    for line in tf.read_bill(path, stated):
        parsed.add(line)
    assert parsed.differences(stated) == ["pay_amount: lines 1990, summary 1991"]


def _alipay_zip(detail: str, name: str = "20886126836996110156_20240501_业务明细.csv") -> bytes:
    out = io.BytesIO()

    class GbkName(zipfile.ZipInfo):
        def _encodeFilenameFlags(self) -> tuple[bytes, int]:
            return self.filename.encode("gbk"), self.flag_bits & ~0x800

    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(GbkName(name), detail.encode("gbk"))
        zf.writestr(GbkName(name[:-4] + "(汇总).csv"), "#汇总".encode("gbk"))
    return out.getvalue()


ALIPAY = (
    "#支付宝业务明细查询\r\n#账号：[20886126836996110156]\r\n"
    "#-----------------------------------------业务明细列表----------------------------------------\r\n"
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
    "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
    "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n"
    "2024050122001\t,att_b\t,交易,衬衫,2024-05-01 10:00:00,2024-05-01 10:00:05,,,,,a***@x.com,100.00,99.00,0.00,0.00,"
    "0.00,1.00,0.00,,0.00,0.00,,-0.60,0.00,\r\n"
    "2024050122001\t,att_b\t,退款,衬衫,2024-05-01 10:00:00,2024-05-01 11:00:00,,,,,a***@x.com,-20.00,-20.00,0.00,0.00,"
    "0.00,0.00,0.00,,0.00,0.00,re_2\t,0.12,0.00,\r\n"
    "#-----------------------------------------业务明细列表结束------------------------------------\r\n"
    "#交易合计：1笔，商家实收共99.00元，商家优惠共1.00元\r\n"
    "#退款合计：1笔，商家实收退款共-20.00元，商家优惠退款共0.00元\r\n#导出时间：[2024年05月02日 09:00:00]\r\n")


def test_alipay_zip_with_gbk_names_tabs_and_footer(tmp_path: Path) -> None:
    path = tmp_path / "bill.zip"
    path.write_bytes(_alipay_zip(ALIPAY))
    stated, parsed = BillTotals(), BillTotals()
    lines = list(tx.read_bill(path, stated))
    for line in lines:
        parsed.add(line)
    pay, ref = lines
    assert (pay.trade_no, pay.channel_trade_no, pay.amount.minor, pay.fee) == ("att_b", "2024050122001", 10000, 60_000)
    assert (ref.refund_no, ref.amount.minor, ref.fee) == ("re_2", 2000, -12_000)
    # The footer counts 商家实收 (99.00): the merchant's own discount on the rows is carried over.
    assert stated.stated and parsed.differences(stated) == []
    path.write_bytes(_alipay_zip(ALIPAY.replace("商家实收共99.00元", "商家实收共98.99元")))
    stated, parsed = BillTotals(), BillTotals()
    for line in tx.read_bill(path, stated):
        parsed.add(line)
    assert parsed.differences(stated) == ["pay_amount: lines 10000, summary 9999"]


def test_alipay_zip_without_detail_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "bill.zip"
    path.write_bytes(_alipay_zip(ALIPAY, name="20886126836996110156_20240501_其他.csv"))
    with pytest.raises(ValueError):
        list(tx.read_bill(path, BillTotals()))
