"""Tiny seller exports in the real layouts, written for the detection tests.

`Shop` collects orders (with their lines), refunds and shipment rows and writes them as:
- the legacy 订单报表 (46 columns, GBK, every field quoted, ids as ="…"; 买家实际支付金额 net of
  退款金额, as in the real legacy export),
- the legacy 宝贝报表 (10 columns, GBK, each data row with the trailing comma),
- the Tmall 2017 退款报表 (38 columns, GBK) for refunds without an after-sales type, and the
  about-2025 layout (支付单号, 售后类型, 商品id) for refunds with one,
- the shipments CSV (UTF-8, `order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship`).
Then `load` puts them through `pipeline.load.load_paths`.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pipeline.generate import LEGACY_ITEMS, LEGACY_ORDERS, LEGACY_REFUNDS, SHIPMENTS
from pipeline.load import load_paths

# the real layouts, as the generator writes them (shared/docs/exports.md)
REFUNDS_2017 = LEGACY_REFUNDS
REFUNDS_2025 = [("支付单号" if h == "支付宝交易号" else "售后类型" if h == "是否需要退货" else h) for h in REFUNDS_2017] + ["商品id"]

STATUS = {
    "paid": "买家已付款，等待卖家发货",
    "shipped": "卖家已发货，等待买家确认",
    "completed": "交易成功",
    "closed": "交易关闭",
    "unpaid": "等待买家付款",
}


@dataclass
class Line:
    title: str
    price: str
    qty: int
    sku: str = ""
    status: str | None = None  # line status; default the order's


@dataclass
class Order:
    oid: str
    lines: list[Line]
    status: str = "completed"
    paid_at: str = "2017-06-01 10:00:00"
    postage: str = "0.00"
    buyer: str = "buyer_a"
    message: str = ""
    memo: str = ""
    refund: str = "0.00"  # 退款金额 (the legacy 实付 is net of it)
    discount: str = "0.00"  # shop discount: paid less than the listed goods
    close_reason: str = "订单未关闭"
    tracking: str = ""

    @property
    def goods(self) -> Decimal:
        return sum((Decimal(l.price) * l.qty for l in self.lines), Decimal("0.00"))


@dataclass
class Refund:
    oid: str
    rid: str
    amount: str
    reason: str
    status: str = "退款成功"
    goods_status: str = "买家已收到货"
    cs: str = ""
    party: str = ""
    desc: str = ""
    need_return: str = "否"
    sku: str = ""
    title: str = ""
    aftersale: str | None = None  # 售后类型 (writes the 2025 layout)
    applied: str = "2017-06-06 09:00:00"
    finished: str = "2017-06-07 12:00:00"  # 退款完结时间 / 完结时间 of a 退款成功 refund


@dataclass
class Shop:
    orders: list[Order] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    shipments: list[list[str]] = field(default_factory=list)

    def order(self, oid: str, *lines: tuple, **kw) -> Order:
        o = Order(oid, [Line(*l) for l in lines], **kw)
        if o.tracking == "" and o.status in ("shipped", "completed"):
            o.tracking = "No:7" + oid[-8:]
        self.orders.append(o)
        return o

    def refund(self, oid: str, rid: str, amount: str, reason: str, **kw) -> Refund:
        r = Refund(oid, rid, amount, reason, **kw)
        self.refunds.append(r)
        return r

    def ship(self, oid: str, sku: str, qty, at: str, reship: bool = False, weight: str = "", tracking: str | None = None):
        self.shipments.append([oid, sku, "" if qty is None else str(qty), at, tracking or f"SF{oid[-6:]}{at[8:10]}{at[11:13]}",
                               weight, "true" if reship else "false"])

    # ---- writing -----------------------------------------------------------------------
    def write(self, folder: Path, stamp: str = "201706200000") -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        if self.orders:
            paths.append(_write(folder / f"ExportOrderList{stamp}.csv", LEGACY_ORDERS,
                                [self._order_row(o) for o in self.orders]))
            paths.append(_write(folder / f"ExportOrderDetailList{stamp}.csv", LEGACY_ITEMS,
                                [self._item_row(o, l) for o in self.orders for l in o.lines], trailing=True))
        old = [r for r in self.refunds if r.aftersale is None]
        new = [r for r in self.refunds if r.aftersale is not None]
        if old:
            paths.append(_write(folder / f"ExportRefundList{stamp}.csv", REFUNDS_2017, [self._refund_row(r, False) for r in old]))
        if new:
            paths.append(_write(folder / f"ExportRefundList2025{stamp[4:]}.csv", REFUNDS_2025,
                                [self._refund_row(r, True) for r in new], enc="utf-8"))
        if self.shipments:
            paths.append(_write(folder / f"shipments{stamp}.csv", SHIPMENTS, self.shipments, enc="utf-8", quote_all=False))
        return paths

    def load(self, con, folder: Path, stamp: str = "201706200000"):
        return load_paths(con, self.write(folder, stamp))

    def _order_row(self, o: Order) -> list[str]:
        d = dict.fromkeys(LEGACY_ORDERS, "")
        refund = Decimal(o.refund)
        paid = o.goods + Decimal(o.postage) - refund - Decimal(o.discount)
        d.update({
            "订单编号": f'="{o.oid}"', "买家会员名": o.buyer, "买家支付宝账号": "ali_" + o.buyer,
            "买家应付货款": str(o.goods), "买家应付邮费": o.postage, "买家支付积分": "0",
            "总金额": str(o.goods + Decimal(o.postage)), "返点积分": "0", "买家实际支付金额": str(paid),
            "买家实际支付积分": "0", "订单状态": STATUS[o.status], "买家留言": o.message, "收货人姓名": "张三",
            "收货地址 ": "浙江省 杭州市 西湖区", "运送方式": "快递", "联系电话 ": "'0571-888", "联系手机": "138****0000",
            "订单创建时间": o.paid_at, "订单付款时间 ": o.paid_at, "宝贝标题 ": "，".join(l.title for l in o.lines),
            "宝贝种类 ": str(len(o.lines)), "物流单号 ": o.tracking, "物流公司": "中通快递" if o.tracking else "",
            "订单备注": o.memo, "宝贝总数量": str(sum(l.qty for l in o.lines)), "店铺Id": "1001", "店铺名称": "玩具店",
            "订单关闭原因": o.close_reason, "卖家服务费": "0", "买家服务费": "0元", "是否手机订单": "手机订单",
            "退款金额": o.refund,
        })
        return [d[h] for h in LEGACY_ORDERS]

    def _item_row(self, o: Order, l: Line) -> list[str]:
        return [f'="{o.oid}"', l.title, l.price, str(l.qty), "", "颜色分类：默认", "", "",
                STATUS[l.status or o.status], l.sku]

    def _refund_row(self, r: Refund, new_layout: bool) -> list[str]:
        o = next((o for o in self.orders if o.oid == r.oid), None)
        d = dict.fromkeys(REFUNDS_2025 if new_layout else REFUNDS_2017, "")
        d.update({
            "订单编号": f'="{r.oid}"', "退款编号": f'="{r.rid}"', "订单付款时间": o.paid_at if o else "2017-06-01 10:00:00",
            "商家编码": r.sku, "退款完结时间": r.finished if r.status == "退款成功" else "",
            "买家会员名称": o.buyer if o else "buyer_a", "买家实际支付金额": str(o.goods) if o else "",
            "宝贝标题": r.title, "买家退款金额": r.amount, "手工退款/系统退款": "系统退款",
            "退款的申请时间": r.applied, "退款状态": r.status, "货物状态": r.goods_status, "客服介入状态": r.cs,
            "买家退款原因": r.reason, "买家退款说明": r.desc, "责任方": r.party, "售中或售后": "售后",
            "完结时间": r.finished if r.status == "退款成功" else "",
            "部分退款/全部退款": "部分退款",
        })
        if new_layout:
            d["支付单号"] = '="2017060121001001"'
            d["售后类型"] = r.aftersale
        else:
            d["支付宝交易号"] = '="2017060121001001"'
            d["是否需要退货"] = r.need_return
        return list(d.values())


# a formula the csv writer quoted ("=""123""") as the bare formula ="123"
_QUOTED_FORMULA = re.compile(r'(?<![^,\n])"=""([^"]*)"""(?=,|\n)')


def _write(path: Path, header: list[str], rows: list[list[str]], enc: str = "gb18030", trailing: bool = False,
           quote_all: bool = True) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(list(r) + ([""] if trailing else []))
    text = buf.getvalue()
    if trailing:  # the real legacy item export ends each data row with a bare comma
        text = text.replace(',""\n', ",\n")
    if enc == "gb18030":  # a GBK download: the ids are bare formulas ="…", as the platform writes them
        text = _QUOTED_FORMULA.sub(r'="\1"', text)
    path.write_bytes(text.encode(enc))
    return path
