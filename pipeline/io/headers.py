"""The header alias table: the single place to add a new export layout.

Every export kind maps source header names (after `normalize_header`) to canonical English
column names. For each canonical name the first alias present in a file wins; any other
header, known or not, is kept in the raw table's `extra` map.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

KINDS = ("orders", "items", "refunds", "shipments")

# canonical name -> aliases, in order of preference. Aliases are written as they appear in
# exports; they are normalised the same way as the headers before matching.
ALIASES: dict[str, dict[str, list[str]]] = {
    "orders": {
        "order_id": ["订单编号", "order_id"],
        "buyer": ["买家会员名", "买家会员名称", "买家昵称", "buyer"],
        "buyer_alipay": ["买家支付宝账号"],
        "payment_no": ["支付单号", "支付宝交易号"],
        "goods_amount": ["买家应付货款"],
        "postage": ["买家应付邮费", "邮费"],
        "total_amount": ["总金额"],
        "paid_amount": ["买家实际支付金额", "买家实付金额"],
        "status": ["订单状态"],
        "buyer_message": ["买家留言", "主订单买家留言"],
        "receiver_name": ["收货人姓名"],
        "address": ["收货地址"],
        "shipping_method": ["运送方式"],
        "created_at": ["订单创建时间"],
        "paid_at": ["订单付款时间"],
        "title": ["宝贝标题", "商品标题"],
        "line_kinds": ["宝贝种类"],
        "tracking_no": ["物流单号"],
        "carrier": ["物流公司"],
        "seller_memo": ["订单备注", "商家备注", "商家备忘"],
        "item_count": ["宝贝总数量"],
        "shop_id": ["店铺Id"],
        "shop": ["店铺名称", "shop"],
        "close_reason": ["订单关闭原因"],
        "refund_amount": ["退款金额"],
        "shipped_at": ["发货时间"],
        "confirmed_at": ["确认收货时间"],
        "settled_amount": ["打款商家金额", "确认收货打款金额"],
        "main_order_id": ["主订单编号"],
        "compensation_amount": ["主动赔付金额", "延迟发货自动赔付金额"],
    },
    "items": {
        "order_id": ["主订单编号", "订单编号", "order_id"],
        "line_id": ["子订单编号"],
        "title": ["标题", "商品标题", "宝贝标题"],
        "price": ["价格", "商品价格", "单价"],
        "quantity": ["购买数量", "数量"],
        "external_id": ["外部系统编号"],
        "attributes": ["商品属性", "商品属性SKU"],
        "package_info": ["套餐信息"],
        "note": ["备注", "联系方式备注"],
        "status": ["订单状态"],
        "sku": ["商家编码"],
        "payment_no": ["支付单号", "支付宝交易号"],
        "goods_amount": ["买家应付货款"],
        "paid_amount": ["买家实付金额", "买家实际支付金额"],
        "refund_status": ["退款状态"],
        "refund_amount": ["退款金额"],
        "created_at": ["订单创建时间"],
        "paid_at": ["订单付款时间"],
        "item_id": ["商品ID"],
        "seller_memo": ["商家备注"],
        "buyer_message": ["主订单买家留言"],
        "shipped_at": ["发货时间"],
        "tracking_no": ["物流单号"],
        "carrier": ["物流公司"],
        "ship_by": ["应发货时间"],
        "shop": ["店铺名称"],
    },
    "refunds": {
        "order_id": ["订单编号", "order_id"],
        "refund_id": ["退款编号", "refund_id"],
        "line_id": ["子订单编号"],
        "payment_no": ["支付宝交易号", "支付单号"],
        "paid_at": ["订单付款时间"],
        "sku": ["商家编码"],
        "finished_at": ["退款完结时间"],
        "buyer": ["买家会员名称", "买家会员名"],
        "order_paid_amount": ["买家实际支付金额", "买家实付金额"],
        "title": ["宝贝标题", "商品标题"],
        "refund_amount": ["买家退款金额", "退款总额", "退款金额"],
        "refund_to_buyer": ["退给买家金额"],
        "refund_to_platform": ["退给平台金额"],
        "refund_mode": ["手工退款/系统退款"],
        "return_required": ["是否需要退货"],
        "aftersale_type": ["售后类型"],
        "applied_at": ["退款的申请时间", "申请时间"],
        "timeout_at": ["超时时间"],
        "status": ["退款状态"],
        "goods_status": ["货物状态"],
        "return_logistics": ["退货物流信息"],
        "ship_logistics": ["发货物流信息"],
        "cs_status": ["客服介入状态"],
        "return_tracking_no": ["退货物流单号"],
        "return_carrier": ["退货物流公司"],
        "reason": ["买家退款原因", "退款原因"],
        "description": ["买家退款说明", "退款说明"],
        "returned_at": ["买家退货时间"],
        "responsible_party": ["责任方"],
        "phase": ["售中或售后"],
        "seller_memo": ["商家备注"],
        "completed_at": ["完结时间"],
        "refund_scope": ["部分退款/全部退款", "部分退款/全额退款"],
        "reason_tag": ["退款原因标签"],
        "business_type": ["业务类型"],
        "item_id": ["商品id"],
        "shop": ["店铺名称"],
    },
    "shipments": {
        "order_id": ["order_id"],
        "sku": ["sku"],
        "quantity": ["quantity"],
        "shipped_at": ["shipped_at"],
        "tracking_no": ["tracking_no"],
        "weight_kg": ["weight_kg"],
        "reship": ["reship"],
        "packer": ["packer", "打包员"],
        "warehouse": ["warehouse", "仓库"],
    },
}

# Required canonical columns per kind; a tuple means "any one of these".
REQUIRED: dict[str, list[str | tuple[str, ...]]] = {
    "orders": ["order_id", "paid_amount"],
    "items": ["order_id", "quantity", "price"],
    "refunds": ["order_id", "refund_id", ("refund_amount", "refund_to_buyer")],
    "shipments": ["order_id", "shipped_at"],
}

# Headers that say which kind a file is, strongest first.
_MARKERS: list[tuple[str, str]] = [
    ("refund_id", "refunds"),
    ("quantity", "items"),
    ("line_id", "items"),
]

_BRACKETS = str.maketrans({"（": "(", "）": ")", "／": "/", "\ufeff": None})
_SPACE = re.compile(r"\s+")


def normalize_header(name: str) -> str:
    """Strip (also full-width) white space, unify brackets and slashes, fold English case."""
    s = unicodedata.normalize("NFC", str(name or "")).translate(_BRACKETS)
    s = s.replace("\u3000", " ").strip().strip('"').strip()
    s = s.replace('="', "").rstrip('"')
    s = _SPACE.sub("", s)
    return s.lower()


_NORMALIZED: dict[str, dict[str, str]] = {
    kind: {normalize_header(alias): canon for canon, aliases in table.items() for alias in aliases}
    for kind, table in ALIASES.items()
}


@dataclass(frozen=True)
class HeaderMap:
    kind: str
    columns: list[str | None]  # canonical name per source position, None = kept as extra
    names: list[str]  # the source header names, normalised

    def missing_required(self) -> list[str]:
        present = set(c for c in self.columns if c)
        missing = []
        for req in REQUIRED[self.kind]:
            options = req if isinstance(req, tuple) else (req,)
            if not present.intersection(options):
                missing.append(" or ".join(_alias_label(self.kind, o) for o in options))
        return missing


def _alias_label(kind: str, canon: str) -> str:
    return f"{ALIASES[kind][canon][0]} ({canon})"


def map_header(kind: str, header: list[str]) -> HeaderMap:
    """Map a header row to canonical names for `kind`. The first alias present wins."""
    names = [normalize_header(h) for h in header]
    table = _NORMALIZED[kind]
    ranks: dict[str, tuple[int, int]] = {}
    for pos, n in enumerate(names):
        canon = table.get(n)
        if canon is None:
            continue
        rank = [normalize_header(a) for a in ALIASES[kind][canon]].index(n)
        if canon not in ranks or rank < ranks[canon][0]:
            ranks[canon] = (rank, pos)
    columns: list[str | None] = [None] * len(names)
    for canon, (_, pos) in ranks.items():
        columns[pos] = canon
    return HeaderMap(kind=kind, columns=columns, names=names)


def detect_kind(header: list[str]) -> str | None:
    """The export kind a header row belongs to, or None when it is not a known header."""
    names = {normalize_header(h) for h in header}
    for canon, kind in _MARKERS:
        if names & {normalize_header(a) for a in ALIASES[kind][canon]}:
            if not map_header(kind, header).missing_required():
                return kind
    best, best_score = None, 0
    for kind in KINDS:
        hm = map_header(kind, header)
        if hm.missing_required():
            continue
        score = sum(1 for c in hm.columns if c)
        if score > best_score:
            best, best_score = kind, score
    return best


def looks_like_header(header: list[str]) -> bool:
    """Loosely: does this row hold at least two names the alias table knows (any kind)?"""
    names = {normalize_header(h) for h in header}
    known = set().union(*(_NORMALIZED[k].keys() for k in KINDS))
    return len(names & known) >= 2
