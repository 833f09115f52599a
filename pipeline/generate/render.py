"""Rendering: the state of a chunk as seen by an export taken at time T, as columns in the
layout of the run (legacy or current), one list of Arrow string columns per export kind."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.generate.chunk import Chunk
from pipeline.generate.layouts import (
    CURRENT_ITEMS, CURRENT_ORDERS, CURRENT_REFUNDS, LEGACY_ITEMS, LEGACY_ORDERS, LEGACY_REFUNDS,
)
from pipeline.generate.units import DAY, NEVER
from pipeline.generate.values import (
    Fmt, buyer_hash, cat, const, money, nicks, non_empty, opt, pick, text, tracking,
)
from pipeline.generate.vocab import (
    CARRIERS, GOODS, ORDER_STATUS, PLACES, REFUND_FINAL, REFUND_PENDING, ST_CLOSED, ST_DONE, ST_PAID, ST_SHIPPED,
    ST_UNPAID, STREETS, SURNAMES,
)
from pipeline.generate.world import World


@dataclass
class _View:
    """What an export taken at T shows of a chunk."""
    T: int
    status: np.ndarray  # per order: index into ORDER_STATUS
    refunded: np.ndarray  # per order: refunds succeeded by T, cents
    l_refunded: np.ndarray  # per line: the same
    paid_v: np.ndarray  # per order: paid by T
    ship_v: np.ndarray  # per order: first parcel shipped by T
    vis_o: np.ndarray  # orders in the export
    vis_r: np.ndarray  # refunds in the export
    s_vis: np.ndarray  # shipment rows in the file
    first_row: np.ndarray  # per order: its first shipment row (its tracking number), -1 none
    carrier_o: np.ndarray  # per order: the carrier of its parcels


def render(w: World, ch: Chunk, T: int, lo: int | None = None) -> dict:
    """Every export kind of this chunk as seen at time T. With `lo` (split_daily), only what
    changed in (lo, T]. Returns kind -> (columns, n rows, relative sci rows)."""
    f = Fmt(w)
    v = _view(w, ch, T, lo)
    out = {}
    oi = np.flatnonzero(v.vis_o)
    if len(oi):
        lidx = _lines_of(ch, oi)
        out["orders"] = _orders(w, ch, v, f, oi, lidx)
        out["items"] = _items(w, ch, v, f, oi, lidx)
    ri = np.flatnonzero(v.vis_r)
    if len(ri):
        out["refunds"] = _refunds(w, ch, v, f, ri)
    si = np.flatnonzero(v.s_vis)
    if len(si):
        out["shipments"] = _shipments(w, ch, v, f, si)
    return out


def order_status_at(ch: Chunk, T: int) -> np.ndarray:
    """Each order's 订单状态 at T, as an index into ORDER_STATUS."""
    status = np.full(ch.n, ST_PAID, np.int64)
    status = np.where(ch.ship1 <= T, ST_SHIPPED, status)
    status = np.where(ch.confirmed <= T, ST_DONE, status)
    status = np.where(~(ch.paid <= T), ST_UNPAID, status)
    return np.where(ch.closed <= T, ST_CLOSED, status)


def _view(w: World, ch: Chunk, T: int, lo: int | None) -> _View:
    r = ch.r
    vis_r = r["applied"] <= T
    succ = vis_r & (r["final"] == 1) & (r["finished"] <= T)
    refunded = np.zeros(ch.n, np.int64)
    np.add.at(refunded, r["order"][succ], r["amount"][succ])
    l_refunded = np.zeros(len(ch.l_order), np.int64)
    np.add.at(l_refunded, r["line"][succ], r["amount"][succ])
    vis_o = ch.created <= T
    s_vis = ch.s_time <= T
    if lo is not None:  # split_daily: only what changed in the window
        vis_o, vis_r, s_vis = _changed_since(ch, T, lo, vis_o, vis_r, s_vis)
    first_row = np.full(ch.n, -1, np.int64)
    s_ord_all = ch.l_order[ch.s_line]
    firsts = np.flatnonzero(np.r_[True, s_ord_all[1:] != s_ord_all[:-1]]) if len(s_ord_all) else np.zeros(0, np.int64)
    first_row[s_ord_all[firsts]] = firsts
    return _View(T=T, status=order_status_at(ch, T), refunded=refunded, l_refunded=l_refunded,
                 paid_v=ch.paid <= T, ship_v=ch.ship1 <= T, vis_o=vis_o, vis_r=vis_r, s_vis=s_vis,
                 first_row=first_row, carrier_o=w.shop_carrier[ch.shop, (ch.g % 5 == 0).astype(np.int64)])


def _changed_since(ch: Chunk, T: int, lo: int, vis_o, vis_r, s_vis):
    """Orders, refunds and shipment rows with an event in (lo, T] (an order also when one of
    its refunds or parcels has one)."""
    r = ch.r
    last = np.full(ch.n, -1, np.int64)
    for ev in (ch.created, ch.paid, ch.ship1, ch.confirmed, ch.closed):
        last = np.where(ev <= T, np.maximum(last, ev), last)
    for key in ("applied", "finished", "agreed", "returned"):
        ev = r[key]
        m = ev <= T
        np.maximum.at(last, r["order"][m], ev[m])
    m = s_vis
    np.maximum.at(last, ch.l_order[ch.s_line[m]], ch.s_time[m])
    r_last = np.full(len(r["order"]), -1, np.int64)
    for key in ("applied", "finished", "agreed", "returned"):
        r_last = np.where(r[key] <= T, np.maximum(r_last, r[key]), r_last)
    return vis_o & (last > lo), vis_r & (r_last > lo), s_vis & (ch.s_time > lo)


def _first_parcel(ch: Chunk, fr: np.ndarray) -> np.ndarray:
    """The parcel serial of first shipment rows fr (-1: none, any serial: the caller masks it)."""
    if not len(ch.s_parcel):  # no order of the chunk shipped (e.g. a last chunk of one unpaid order)
        return np.zeros(len(fr), np.int64)
    return ch.s_parcel[np.maximum(fr, 0)]


def _lines_of(ch: Chunk, oi: np.ndarray) -> np.ndarray:
    """The lines of the orders oi, in order."""
    ls, nl = ch.line_start[oi], ch.n_lines[oi]
    return np.repeat(ls, nl) + (np.arange(int(nl.sum())) - np.repeat(np.cumsum(nl) - nl, nl))


def _joined(values: pa.Array, ch: Chunk, oi, lidx) -> pa.Array:
    """Per order, the values of its lines' SKUs joined with '，' (宝贝标题, 商品属性SKU)."""
    offsets = pa.array(np.concatenate([[0], np.cumsum(ch.n_lines[oi])]).astype(np.int32))
    return pc.binary_join(pa.ListArray.from_arrays(offsets, pc.take(values, pa.array(ch.l_prod[lidx]))), "，")


# ---- the order export


def _orders(w: World, ch: Chunk, v: _View, f: Fmt, oi, lidx) -> tuple:
    n = len(oi)
    nl = ch.n_lines[oi]
    bh = buyer_hash(w, ch.buyer[oi])
    fr = v.first_row[oi]
    track, carrier_name = tracking(w, _first_parcel(ch, fr), v.carrier_o[oi])
    x = dict(  # what both layouts show
        n=n, bh=bh, nick=nicks(bh), title=_joined(w.prod_title, ch, oi, lidx),
        tq=np.add.reduceat(ch.l_qty[lidx], np.concatenate([[0], np.cumsum(nl)[:-1]])),
        has_track=v.ship_v[oi] & (fr >= 0), track=track, carrier=carrier_name, place=pick(PLACES, bh % len(PLACES)),
        msg=pa.array([ch.message[i] for i in oi], pa.string()), memo=pa.array([ch.memo[i] for i in oi], pa.string()),
        oid=f.id(ch.order_id[oi], ch.sci[oi]), status=pick(ORDER_STATUS, v.status[oi]),
        goods=ch.goods[oi], post=ch.postage[oi], refd=v.refunded[oi], paid_ok=v.paid_v[oi],
        shop=pick(w.shop_names, ch.shop[oi]), created=f.ts(ch.created[oi]), paid=f.ts(ch.paid[oi], v.paid_v[oi]),
    )
    if w.legacy:
        cols, header = _legacy_order_cols(w, ch, v, f, oi, x), LEGACY_ORDERS
    else:
        cols, header = _current_order_cols(w, ch, v, f, oi, lidx, x), CURRENT_ORDERS
    return [cols.get(h) if h in cols else f.e(n) for h in header], n, np.flatnonzero(ch.sci[oi])


def _legacy_order_cols(w: World, ch: Chunk, v: _View, f: Fmt, oi, x: dict) -> dict:
    n, bh = x["n"], x["bh"]
    net = np.where(x["paid_ok"], x["goods"] + x["post"] - x["refd"], 0)
    phone = cat(pa.array(np.where(bh % 5 == 0, "'", "")), "1", text(30 + bh % 60), "****",
                pc.utf8_lpad(text(bh // 100 % 10000), width=4, padding="0"))
    close = pa.array([ch.close_reason[i] if v.status[i] == ST_CLOSED else "订单未关闭" for i in oi], pa.string())
    return {
        "订单编号": x["oid"], "买家会员名": x["nick"],
        "买家支付宝账号": cat("1", text(30 + bh % 60), "****",
                            pc.utf8_lpad(text(bh // 10 % 10000), width=4, padding="0")),
        "买家应付货款": money(x["goods"]), "买家应付邮费": money(x["post"]), "买家支付积分": const("0", n),
        "总金额": money(x["goods"] + x["post"]), "返点积分": const("0", n), "买家实际支付金额": money(net),
        "买家实际支付积分": const("0", n), "订单状态": x["status"], "买家留言": x["msg"],
        "收货人姓名": cat(pick(SURNAMES, bh // 3 % len(SURNAMES)), "**"),
        "收货地址 ": cat(x["place"], " ", pick(STREETS, bh // 11 % len(STREETS)), text(1 + bh // 13 % 400), "号"),
        "运送方式": const("快递", n), "联系电话 ": const("", n), "联系手机": phone,
        "订单创建时间": x["created"], "订单付款时间 ": x["paid"],
        "宝贝标题 ": x["title"], "宝贝种类 ": text(ch.n_lines[oi]),
        "物流单号 ": opt(x["has_track"], cat("No:", x["track"]), ""),
        "物流公司": opt(x["has_track"], x["carrier"], ""), "订单备注": x["memo"], "宝贝总数量": text(x["tq"]),
        "店铺Id": text(w.shop_ids[ch.shop[oi]]), "店铺名称": x["shop"],
        "订单关闭原因": close, "卖家服务费": const("0", n), "买家服务费": const("0元", n),
        "是否手机订单": pa.array(np.where(ch.mobile[oi], "手机订单", "")),
        "特权订金订单id": f.formula(const("", n)),  # an empty formula, =""
        "是否上传合同照片": const("否", n), "是否上传小票": const("否", n), "是否代付": const("否", n),
        "退款金额": money(x["refd"]),
    }


def _current_order_cols(w: World, ch: Chunk, v: _View, f: Fmt, oi, lidx, x: dict) -> dict:
    n, goods, post, paid_ok = x["n"], x["goods"], x["post"], x["paid_ok"]
    confirmed_ok = ch.confirmed[oi] <= v.T
    return {
        "订单编号": x["oid"], "支付单号": f.payment_no(ch.g[oi], ch.paid[oi], paid_ok), "买家昵称": x["nick"],
        "买家应付货款": money(goods), "买家应付邮费": money(post), "总金额": money(goods + post),
        "买家实付金额": money(np.where(paid_ok, goods + post, 0)), "订单状态": x["status"],
        "买家留言": non_empty(x["msg"]), "收货地址": cat(x["place"], " ****"), "运送方式": const("快递", n),
        "订单创建时间": x["created"], "订单付款时间": x["paid"], "商品标题": x["title"],
        "宝贝种类": text(ch.n_lines[oi]), "物流单号": opt(x["has_track"], x["track"], None),
        "物流公司": opt(x["has_track"], x["carrier"], None),
        "商家备注": non_empty(x["memo"]), "宝贝总数量": text(x["tq"]),
        "店铺名称": x["shop"], "手机订单": pa.array(np.where(ch.mobile[oi], "是", "否")),
        "商品属性SKU": _joined(w.prod_attr, ch, oi, lidx), "发货时间": f.ts(ch.ship1[oi], v.ship_v[oi]),
        "确认收货时间": f.ts(ch.confirmed[oi], confirmed_ok), "退款金额": money(x["refd"]),
        "是否主动赔付": const("否", n),
        "确认收货打款金额": opt(confirmed_ok, money(goods + post - x["refd"]), None),
    }


# ---- the item export: every line of the orders shown


def _items(w: World, ch: Chunk, v: _View, f: Fmt, oi, lidx) -> tuple:
    lo_ = ch.l_order[lidx]
    nli = len(lidx)
    st = v.status[oi]
    lst = np.where(ch.l_paid[lidx] > 0, v.l_refunded[lidx] >= ch.l_paid[lidx], False) & (
        st[np.repeat(np.arange(len(oi)), ch.n_lines[oi])] != ST_UNPAID)
    prod = pa.array(ch.l_prod[lidx])
    x = dict(lo_=lo_, nli=nli, sku=pc.take(w.prod_sku, prod), title=pc.take(w.prod_title, prod),
             attr=pc.take(w.prod_attr, prod), status=pick(ORDER_STATUS, np.where(lst, ST_CLOSED, v.status[lo_])),
             price=money(ch.l_price[lidx]), qty=text(ch.l_qty[lidx]))
    if w.legacy:
        cols = {
            "订单编号": f.id(ch.order_id[lo_], ch.sci_items[lo_]), "标题": x["title"], "价格": x["price"],
            "购买数量": x["qty"], "外部系统编号": x["sku"], "商品属性": x["attr"],
            "订单状态": x["status"], "商家编码": x["sku"],
        }
        header = LEGACY_ITEMS
    else:
        cols, header = _current_item_cols(w, ch, v, f, lidx, x), CURRENT_ITEMS
    return [cols.get(h) if h in cols else f.e(nli) for h in header], nli, np.flatnonzero(ch.sci_items[lo_])


def _current_item_cols(w: World, ch: Chunk, v: _View, f: Fmt, lidx, x: dict) -> dict:
    lo_ = x["lo_"]
    lpaid = ch.l_paid[lidx] + np.where(ch.n_lines[lo_] == 1, ch.postage[lo_], 0)  # a single line carries the postage
    pv = v.paid_v[lo_]
    return {
        "子订单编号": f.id(ch.l_id[lidx]), "主订单编号": f.id(ch.order_id[lo_], ch.sci_items[lo_]),
        "商品标题": x["title"],
        "商品价格": x["price"], "购买数量": x["qty"], "商品属性": x["attr"],
        "订单状态": x["status"], "商家编码": x["sku"],
        "支付单号": f.payment_no(ch.g[lo_], ch.paid[lo_], pv),
        "买家应付货款": money(lpaid), "买家实付金额": money(np.where(pv, lpaid, 0)),
        "退款状态": _line_refund_status(ch, v, lidx), "退款金额": money(v.l_refunded[lidx]),
        "订单创建时间": f.ts(ch.created[lo_]), "订单付款时间": f.ts(ch.paid[lo_], pv),
        "商品ID": text(w.prod_item_id[ch.l_prod[lidx]]),
        "商家备注": non_empty(pa.array([ch.memo[i] for i in lo_], pa.string())),
        "主订单买家留言": non_empty(pa.array([ch.message[i] for i in lo_], pa.string())),
        "是否主动赔付": const("否", x["nli"]),
    }


def _line_refund_status(ch: Chunk, v: _View, lidx) -> pa.Array:
    """退款状态 of each line: its latest refund visible at T, or 没有申请退款."""
    r = ch.r
    nli = len(lidx)
    rs_text = np.zeros(nli, np.int64)  # 0 none
    line_pos = np.full(len(ch.l_order), -1, np.int64)
    line_pos[lidx] = np.arange(nli)
    vr = np.flatnonzero(v.vis_r & (line_pos[r["line"]] >= 0))
    order_r = vr[np.argsort(r["applied"][vr], kind="stable")]
    rtexts = ["没有申请退款"]
    for ri in order_r:
        rtexts.append(refund_status_text(r, int(ri), v.T))
        rs_text[line_pos[r["line"][ri]]] = len(rtexts) - 1
    return pick(rtexts, rs_text)


def refund_status_text(r: dict, x: int, T: int) -> str:
    if r["finished"][x] <= T:
        return REFUND_FINAL[{1: "success", 2: "refused", 3: "closed"}[int(r["final"][x])]]
    if r["ret"][x]:
        if r["returned"][x] <= T:
            return REFUND_PENDING[2]
        if r["agreed"][x] <= T:
            return REFUND_PENDING[1]
    return REFUND_PENDING[0]


# ---- the refund export


def _refunds(w: World, ch: Chunk, v: _View, f: Fmt, ri) -> tuple:
    r, T, nr = ch.r, v.T, len(ri)
    ro, rl = r["order"][ri], r["line"][ri]
    fin_ok = r["finished"][ri] <= T
    ret = r["ret"][ri]
    returned_ok = r["returned"][ri] <= T
    # 货物状态: a return shows as received until the goods are back
    goods_key = [("returned" if returned_ok[j] else "received") if k == "returned" else k
                 for j, k in enumerate(r["goods"][x] for x in ri)]
    goods_txt = [GOODS[w.fmtk][k] for k in goods_key]
    fr = v.first_row[ro]
    track, carrier_name = tracking(w, _first_parcel(ch, fr), v.carrier_o[ro])
    rtrack, rcarrier = tracking(w, ch.g[ro] * 4 + 3, ch.g[ro] % len(CARRIERS))
    back = ret & returned_ok
    cols = {
        "订单编号": f.id(ch.order_id[ro]), "退款编号": f.id(r["id"][ri]),
        "支付宝交易号": f.payment_no(ch.g[ro], ch.paid[ro], np.ones(nr, bool)),
        "支付单号": f.payment_no(ch.g[ro], ch.paid[ro], np.ones(nr, bool)),
        "订单付款时间": f.ts(ch.paid[ro]), "商家编码": pc.take(w.prod_sku, pa.array(ch.l_prod[rl])),
        "退款完结时间": f.ts(r["finished"][ri], fin_ok), "买家会员名称": nicks(buyer_hash(w, ch.buyer[ro])),
        "买家实际支付金额": money(ch.goods[ro] + ch.postage[ro]),
        "宝贝标题": pc.take(w.prod_title, pa.array(ch.l_prod[rl])),
        "买家退款金额": money(r["amount"][ri]), "手工退款/系统退款": const("系统退款", nr),
        "是否需要退货": pa.array(np.where(ret, "是", "否")), "售后类型": pa.array(np.where(ret, "退货退款", "仅退款")),
        "退款的申请时间": f.ts(r["applied"][ri]), "超时时间": f.ts(np.where(fin_ok, NEVER, r["applied"][ri] + 5 * DAY)),
        "退款状态": pa.array([refund_status_text(r, int(x), T) for x in ri], pa.string()),
        "货物状态": pa.array(goods_txt, pa.string()),
        "发货物流信息": opt((ch.ship1[ro] <= T) & (fr >= 0), cat(carrier_name, " ", track), f.empty),
        "退货物流单号": opt(back, rtrack, f.empty), "退货物流公司": opt(back, rcarrier, f.empty),
        "买家退货时间": f.ts(r["returned"][ri], back),
        "完结时间": f.ts(r["finished"][ri], fin_ok),
        "部分退款/全部退款": pa.array(np.where(r["amount"][ri] >= ch.l_paid[rl], "全部退款", "部分退款")),
        "售中或售后": pa.array(np.where(r["applied"][ri] < ch.confirmed[ro], "售中", "售后")),
        **_refund_texts(w, ch, ri), **_refund_constants(nr),
    }
    header = LEGACY_REFUNDS if w.legacy else CURRENT_REFUNDS
    return [cols.get(h) if h in cols else f.e(nr) for h in header], nr, np.zeros(0, np.int64)


def _refund_texts(w: World, ch: Chunk, ri) -> dict:
    """The refund export's free texts and the seller's side."""
    r, shop = ch.r, ch.shop[ch.r["order"][ri]]
    k = range(len(w.shop_names))
    return {
        "客服介入状态": pa.array([r["cs"][x] for x in ri], pa.string()),
        "卖家真实姓名": pick([f"{SURNAMES[j % len(SURNAMES)]}**" for j in k], shop),
        "卖家退货地址": pick([f"{PLACES[j % len(PLACES)]} 仓库{j + 1}号" for j in k], shop),
        "买家退款原因": pa.array([r["reason"][x] for x in ri], pa.string()),
        "买家退款说明": pa.array([r["desc"][x] for x in ri], pa.string()),
        "责任方": pa.array([r["party"][x] for x in ri], pa.string()),
        "商品 id": text(w.prod_item_id[ch.l_prod[r["line"][ri]]]),
    }


def _refund_constants(nr: int) -> dict:
    return {"卖家邮编": const("310000", nr), "是否零秒响应": const("否", nr), "退款操作人": const("系统", nr),
            "业务类型": const("普通退款", nr), "是否帮他退款": const("否", nr)}


# ---- our shipments file: plain values, UTF-8


def _shipments(w: World, ch: Chunk, v: _View, f: Fmt, si) -> tuple:
    so = ch.l_order[ch.s_line[si]]
    track, _ = tracking(w, ch.s_parcel[si], v.carrier_o[so])
    wgt = ch.s_weight[si]
    cols = [
        text(ch.order_id[so]), pc.take(w.prod_sku, pa.array(ch.l_prod[ch.s_line[si]])), text(ch.s_qty[si]),
        f.plain_ts(ch.s_time[si]), track,
        pc.binary_join_element_wise(text(wgt // 1000), pc.utf8_lpad(text(wgt % 1000), width=3, padding="0"), "."),
        pa.array(np.where(ch.s_reship[si], "true", "false")),
    ]
    return cols, len(si), np.zeros(0, np.int64)
