"""The truth: `truth.parquet` (one row per order with an injected case: the flag and the
liability the pipeline should find) and `truth_columns.md`, which documents it."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa

from pipeline.generate.cases import REGISTRY
from pipeline.generate.chunk import Chunk
from pipeline.generate.render import order_status_at
from pipeline.generate.units import dec, dt
from pipeline.generate.values import buyer_hash, nick
from pipeline.generate.vocab import ORDER_STATUS
from pipeline.generate.world import World

TRUTH_COLUMNS: list[tuple[str, str]] = [
    ("order_id", "string: the order id as digits (Excel wrappers never applied here)"),
    ("shop", "string: 店铺名称 of the order"),
    ("buyer", "string: the buyer's nick (买家会员名 / 买家昵称 / 买家会员名称)"),
    ("case", "string: the injected case (see the case table below)"),
    ("kind", "string: short | wrong | empty | not_received | unshipped: the flag kind expected; none: a "
             "phrase or a refund that is no shortage (a gift, damage, a checkout note, an untraced make-up, a "
             "refund explained otherwise): the order must not be flagged"),
    ("responsibility", "string: merchant | courier | buyer | undetermined (empty when kind is none)"),
    ("evidence", "string: explicit (a refund reason, the shipments file or the order state says so) | "
                 "text_only (only free text) | amount_only (only a refund amount)"),
    ("missing_qty", "int64: units missing (short), sent wrong (wrong), or all units of the order "
                    "(empty, not_received, unshipped); for text_only the count stated in the text"),
    ("affected_amount", "decimal(18,2): paid value of the goods concerned, postage excluded: "
                        "sum over the lines concerned of round_half_up(k x line_paid / quantity) "
                        "(for whole lines simply line_paid)"),
    ("refunded_amount", "decimal(18,2): refunds that succeeded for this case by the export time"),
    ("ordered_qty", "int64: units ordered on the lines concerned"),
    ("skus", "list<string>: 商家编码 of the lines concerned"),
    ("detail", "list<struct>: one entry per line concerned: sku, ordered_qty, missing_qty, price "
               "(listed unit price), line_paid (the line's share of goods paid, postage excluded), "
               "affected_amount"),
    ("refund_ids", "list<string>: 退款编号 of the refunds written for this case"),
    ("paid_at", "timestamp: 订单付款时间 (China time, no zone)"),
    ("ship_by", "timestamp: paid_at + the tmall policy's ship window (72 h)"),
    ("reshipped_at", "timestamp: time of the 补发 parcel (reship=true) for cured_reship / late_reship, "
                     "else NULL"),
    ("order_status", "string: 订单状态 in the final order export"),
    ("expected_status", "string: owed | curable | cured | courier | disputed | excluded at as_of (empty when "
                        "kind is none)"),
    ("expected_compensation_yuan", "decimal(18,2): penalty under the tmall preset: round_half_up(rate x "
                                   "affected_amount, 0.01), then the floor, then the cap (per order); 0 "
                                   "unless expected_status is owed"),
    ("expected_points", "int64: expected_compensation_yuan x points_per_yuan (exact)"),
    ("as_of", "timestamp: the run clock these expectations assume (period end + 30 days, 00:00)"),
    ("export_time", "timestamp: when the (last) exports were taken (period end + 7 days 09:30)"),
]

_DETAIL_TYPE = pa.struct([
    ("sku", pa.string()), ("ordered_qty", pa.int64()), ("missing_qty", pa.int64()),
    ("price", pa.decimal128(18, 2)), ("line_paid", pa.decimal128(18, 2)), ("affected_amount", pa.decimal128(18, 2)),
])
TRUTH_SCHEMA = pa.schema([
    ("order_id", pa.string()), ("shop", pa.string()), ("buyer", pa.string()), ("case", pa.string()),
    ("kind", pa.string()), ("responsibility", pa.string()), ("evidence", pa.string()), ("missing_qty", pa.int64()),
    ("affected_amount", pa.decimal128(18, 2)), ("refunded_amount", pa.decimal128(18, 2)), ("ordered_qty", pa.int64()),
    ("skus", pa.list_(pa.string())), ("detail", pa.list_(_DETAIL_TYPE)), ("refund_ids", pa.list_(pa.string())),
    ("paid_at", pa.timestamp("s")), ("ship_by", pa.timestamp("s")), ("reshipped_at", pa.timestamp("s")),
    ("order_status", pa.string()), ("expected_status", pa.string()),
    ("expected_compensation_yuan", pa.decimal128(18, 2)), ("expected_points", pa.int64()),
    ("as_of", pa.timestamp("s")), ("export_time", pa.timestamp("s")),
])


def truth_table(w: World, ch: Chunk) -> pa.Table:
    """One row per case order of the chunk, as the final exports (at the export time) show it."""
    r = ch.r
    by_order: dict[int, list[int]] = {}
    for x, o in enumerate(r["order"].tolist()):
        by_order.setdefault(o, []).append(x)
    status = order_status_at(ch, w.export_s)
    rows = [_truth_row(w, ch, t, by_order.get(t["i"], []), int(status[t["i"]])) for t in ch.truth]
    return pa.Table.from_pylist(rows, schema=TRUTH_SCHEMA)


def _truth_row(w: World, ch: Chunk, t: dict, rids: list[int], st: int) -> dict:
    """t: the case as cases.inject_all noted it; rids: the order's refunds."""
    p, r, T, i = w.penalty, ch.r, w.export_s, t["i"]
    detail = t["detail"]  # (line, ordered, missing, affected cents)
    affected_d = dec(sum((a for _, _, _, a in detail), 0))
    refunded = sum(int(r["amount"][x]) for x in rids if r["final"][x] == 1 and r["finished"][x] <= T)
    comp = p.compensation(affected_d) if t["status"] == "owed" else Decimal("0.00")
    sku = [w.prod_sku_list[int(ch.l_prod[li])] for li, _, _, _ in detail]
    return {
        "order_id": str(int(ch.order_id[i])), "shop": w.shop_names[int(ch.shop[i])],
        "buyer": nick(int(buyer_hash(w, np.array([ch.buyer[i]]))[0])),
        "case": t["case"], "kind": t["kind"], "responsibility": t["resp"], "evidence": t["evidence"],
        "missing_qty": sum(k for _, _, k, _ in detail), "affected_amount": affected_d,
        "refunded_amount": dec(refunded), "ordered_qty": sum(q for _, q, _, _ in detail), "skus": sku,
        "detail": [
            {"sku": s, "ordered_qty": q, "missing_qty": k, "price": dec(int(ch.l_price[li])),
             "line_paid": dec(int(ch.l_paid[li])), "affected_amount": dec(a)}
            for s, (li, q, k, a) in zip(sku, detail)],
        "refund_ids": [str(int(r["id"][x])) for x in rids],
        "paid_at": dt(ch.paid[i]), "ship_by": dt(t["ship_by"]),
        "reshipped_at": dt(t["reshipped_at"]) if t["reshipped_at"] is not None else None,
        "order_status": ORDER_STATUS[st], "expected_status": t["status"],
        "expected_compensation_yuan": comp, "expected_points": int(comp * p.points_per_yuan),
        "as_of": dt(w.as_of_s), "export_time": dt(w.export_s),
    }


_PREAMBLE = """\
# truth.parquet: what was injected and what the pipeline should find

Written by `shortship generate` (pipeline/generate.py). One row per order with an injected case
(a makeup_split case also lists the second earlier order its make-up is split over); orders
without a case are not listed (their expected flag is none). Ordinary refunds (七天无理由退换货,
质量问题, 大小/尺寸与商品描述不符, buyer cancellations before shipping, refused or withdrawn claims with
ordinary reasons) are noise, not cases. Partial refunds of k units for an ordinary reason always come
with a return (退货退款, 货物状态 买家已退货); ordinary 仅退款 partial refunds never equal k x unit paid
or a whole line of several (to the cent, +-1), so the amount signal only fires on `amount_only` cases.

- period: {start:%Y-%m-%d} .. {end:%Y-%m-%d} (orders created in [start, end))
- export_time: {export:%Y-%m-%d %H:%M} (end + 7 days 09:30): every file shows the state at that
  time; with split_daily, daily files at start + j days 09:30 (j = 1 .. days + 7) each hold what
  changed in the 7 days before (orders, their lines, refunds: anything with an event in the window;
  shipments: parcels shipped in the window), in the state of that day: the newest copy is the final state.
- as_of: {as_of:%Y-%m-%d %H:%M} (end + 30 days). Every ship-by deadline has passed, so no case
  is `curable`; an un-cured shortage is `owed`. To test `curable`, run with `--as-of` earlier than a
  `ship_only_no_complaint` case's ship_by (its shipments are already in the files) and expect `curable`.
- policy: {p.policy_id} (rate {p.rate}, floor {p.floor}, cap {p.cap} per order, {p.points_per_yuan} points\
/yuan, ship window {p.window_hours} h), read from pipeline.policy.load_policy('tmall').
- money: line_paid is the order's goods paid (paid before refunds minus postage) split over its lines in
  proportion to price x quantity, the rounding cents going to the largest lines (ties: the earlier
  line), as SPEC 2 describes. The current item export's 买家实付金额 is that share (plus the postage on a
  single-line order); the legacy order export's 买家实际支付金额 is net of refunds (= goods + postage -
  退款金额) and 总金额 = 买家实际支付金额 + 退款金额.
- shipments: one row per SKU per parcel; weight_kg is the weight of the whole parcel, repeated on each
  of its rows; a parcel's tracking_no is shared by its rows.
- excel_dates: every time in the Taobao exports loses its seconds; the generator then draws whole
  minutes everywhere (also the shipments file and this truth) so they agree.
- ids: the legacy layout writes every id (订单编号, 退款编号, 支付宝交易号) as a bare Excel formula,
  `="20179398626366303"` (the field not quoted), and 特权订金订单id as the empty formula `=""`, as the
  seller back office does; excel_ids does the same in the current layout; resaved_ids writes them as a
  copy re-saved through Excel does, quoted as text.
- sci_ids: the rows listed in the generate summary (never a case order) carry an id like 2.14073E+16
  and must be rejected by the loader.

## Columns

| column | meaning |
|---|---|"""


def truth_markdown(w: World) -> str:
    lines = [_PREAMBLE.format(start=dt(w.start_s), end=dt(w.end_s), export=dt(w.export_s), as_of=dt(w.as_of_s),
                              p=w.penalty)]
    lines += [f"| {c} | {d} |" for c, d in TRUTH_COLUMNS]
    lines += ["", "## Cases", "", "| case | kind | responsibility | evidence | expected_status | default rate | data |",
              "|---|---|---|---|---|---|---|"]
    for c in REGISTRY:
        doc = c.doc.format(reasons=", ".join(w.amount_only_reasons))
        lines.append(f"| {c.name} | {c.kind} | {c.responsibility} | {c.evidence} | {c.status} | {c.rate} | {doc} |")
    lines.append("")
    return "\n".join(lines)
