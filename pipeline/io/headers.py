"""The header alias table: the single place to add a new export layout.

Every export kind maps source header names (after `normalize_header`) to canonical English
column names. For each canonical name the first alias present in a file wins; any other
header, known or not, is kept in the raw table's `extra` map.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

KINDS = ("orders", "items", "refunds", "shipments", "decisions")

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
    # a filled review.csv (SPEC sections 3 and 5): the run writes the Chinese headings
    "decisions": {
        "order_id": ["订单编号", "order_id"],
        "decision": ["判定", "decision"],
        "missing_qty": ["缺件数量", "missing_qty"],
        "note": ["备注", "note"],
        "decided_by": ["判定人", "decided_by"],
        "decided_at": ["判定时间", "decided_at"],
    },
}

# Required canonical columns per kind; a tuple means "any one of these".
REQUIRED: dict[str, list[str | tuple[str, ...]]] = {
    "orders": ["order_id", "paid_amount"],
    "items": ["order_id", "quantity", "price"],
    "refunds": ["order_id", "refund_id", ("refund_amount", "refund_to_buyer")],
    "shipments": ["order_id", "shipped_at"],
    "decisions": ["order_id", "decision"],
}

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


# Columns whose several names may stand side by side in one header with different contents (an
# ERP superset has both 订单备注 and 商家备忘, two memos of the seller): their non-empty values are
# joined with JOIN_SEPARATOR, in the order of the alias table. Any other column named twice
# under two of its aliases reads the first non-empty value in the alias table's order.
JOINED = frozenset({"seller_memo", "buyer_message", "note"})
JOIN_SEPARATOR = "；"


@dataclass(frozen=True)
class HeaderMap:
    kind: str
    columns: list[str | None]  # canonical name per source position, None = kept as extra
    names: list[str]  # the source header names, normalised
    # canonical name -> further source positions holding another of its aliases (alias order);
    # those positions are None in `columns` (kept as extras too) and read by `value_sql`
    more: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def positions(self, canon: str) -> list[int]:
        """The source positions a canonical column is read from (first: the best alias)."""
        if canon not in self.columns:
            return []
        return [self.columns.index(canon), *self.more.get(canon, ())]

    def value_sql(self, canon: str, column: Callable[[int], str]) -> str:
        """The SQL expression of a canonical column's text over the source columns named by
        `column(position)`: the column itself, or the combination of its several aliases."""
        cols = [column(p) for p in self.positions(canon)]
        if len(cols) == 1:
            return cols[0]
        filled = [f"nullif(nullif(trim({c}), ''), '=\"\"')" for c in cols]
        if canon in JOINED:
            return f"nullif(concat_ws('{JOIN_SEPARATOR}', {', '.join(filled)}), '')"
        return f"coalesce({', '.join(filled)}, {cols[0]})"

    def missing_required(self) -> list[str]:
        present = set(c for c in self.columns if c)
        missing = []
        for req in REQUIRED[self.kind]:
            options = req if isinstance(req, tuple) else (req,)
            if not present.intersection(options):
                missing.append(" or ".join(_alias_label(self.kind, o) for o in options))
        return missing

    def duplicate_problem(self) -> str | None:
        """A name the alias table knows, twice in the header: which column is meant cannot be
        told (unknown names may repeat: they are kept as extras)."""
        seen: dict[str, int] = {}
        for pos, name in enumerate(self.names):
            if name in _NORMALIZED[self.kind]:
                if name in seen:
                    return (f"the header has {name} twice (columns {seen[name] + 1} and {pos + 1}): "
                            "which one to read cannot be told")
                seen[name] = pos
        return None


def _alias_label(kind: str, canon: str) -> str:
    return f"{ALIASES[kind][canon][0]} ({canon})"


def map_header(kind: str, header: list[str]) -> HeaderMap:
    """Map a header row to canonical names for `kind`. The first alias present (in the alias
    table's order) names the column; further aliases of it in the same header are read with it
    (`HeaderMap.value_sql`: joined for memos and messages, else the first non-empty)."""
    names = [normalize_header(h) for h in header]
    table = _NORMALIZED[kind]
    ranks: dict[str, list[tuple[int, int]]] = {}
    for pos, n in enumerate(names):
        canon = table.get(n)
        if canon is None:
            continue
        rank = [normalize_header(a) for a in ALIASES[kind][canon]].index(n)
        ranks.setdefault(canon, []).append((rank, pos))
    columns: list[str | None] = [None] * len(names)
    for canon, found in ranks.items():
        columns[min(found)[1]] = canon
    more = {canon: tuple(pos for _, pos in sorted(found)[1:]) for canon, found in ranks.items() if len(found) > 1}
    return HeaderMap(kind=kind, columns=columns, names=names, more=more)


# Signature names: the header names (aliases, normalised) that only one kind has, e.g. 退款编号,
# 买家退款金额 or 货物状态 for refunds, 购买数量 or 价格 for items, 总金额 or 收货地址 for orders,
# weight_kg or reship for shipments, 判定 for decisions. A name two kinds share (订单编号,
# 订单状态, 退款金额, 商家编码 ...) says nothing about the kind, nor do the English words our own
# files use for other things (review.csv has `shop` and `buyer` columns).
_GENERIC = frozenset({"buyer", "shop"})
SIGNATURES: dict[str, frozenset[str]] = {
    kind: frozenset(_NORMALIZED[kind]).difference(_GENERIC, *(_NORMALIZED[k] for k in KINDS if k != kind))
    for kind in KINDS
}


def signature_hits(kind: str, header: list[str]) -> int:
    """How many of the header's names only `kind` has."""
    return len({normalize_header(h) for h in header} & SIGNATURES[kind])


def detect_kind(header: list[str]) -> str | None:
    """The kind a header row resembles most: the one with the most signature names, then the
    one whose required columns are all there, then the one that maps the most names. A row
    without any signature name is taken only as the one kind whose required columns it holds
    (a minimal `订单编号, 买家实付金额` export is an orders export). None when the row is not an
    export header or two kinds resemble it equally. The kind found may lack a required column
    (see `lacks`): a file is never taken for another kind instead."""
    names = {normalize_header(h) for h in header}
    scored = []
    for k in KINDS:
        hm = map_header(k, header)
        scored.append((len(names & SIGNATURES[k]), not hm.missing_required(), sum(1 for c in hm.columns if c), k))
    scored.sort(reverse=True)
    (hits, complete, mapped, best), second = scored[0], scored[1]
    if (hits, complete, mapped) == second[:3]:
        return None
    if hits == 0 and not (complete and not second[1]):
        return None
    return best


def lacks(hm: HeaderMap) -> str | None:
    """`refunds export lacks 退款编号 (refund_id), a required column`, or None."""
    missing = hm.missing_required()
    if not missing:
        return None
    what = "a required column" if len(missing) == 1 else "required columns"
    return f"{hm.kind} export lacks {' and '.join(missing)}, {what}"
