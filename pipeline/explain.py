"""Evidence said in the reader's language (issue 22).

Detection keeps the evidence of a flag as facts (`flags.evidence_facts`): a list of
`{sep, code, args}`, built in SQL by `fl_fact` (sql/flags/macros.sql). `code` names a sentence
template below; `args` are its arguments as text (order and refund ids, lines, quantities,
amounts, times, the quoted memo or message); `sep` says how the fact joins the one before it
(none, item, row, sentence). The sentence of each code is a message of the catalogue (context
`evidence`, pipeline/locale; English message ids, Chinese translations), with `{name}`
placeholders for its arguments.

Rendering stays in DuckDB: `render_params(lang)` gives the language's templates as two bound
lists ($ev_codes, $ev_texts) and the macro `fl_render(facts, map($ev_codes, $ev_texts))` fills
them in. The `flags` table keeps the English text in `evidence` (canonical, like the codes);
the files for people (flags.parquet, review.csv, the workbook, the report, the evidence pages)
say it in the run's language (`said_sql`).
"""
from __future__ import annotations

from functools import lru_cache

from pipeline import db
from pipeline.locale import messages


def pgettext(context: str, message: str) -> tuple[str, str]:  # a marker: extraction reads the calls
    return context, message


# how a fact joins the one before it (sep.none: directly)
SEPARATORS = {
    "sep.item": pgettext("evidence", ", "),
    "sep.row": pgettext("evidence", "; "),
    "sep.sentence": pgettext("evidence", ". "),
}

# fact code -> its sentence (English message id; {name}: an argument of the fact)
TEMPLATES = {
    # pieces several signals share
    "line": pgettext("evidence", "line {line_no} {title}"),
    "line.sku": pgettext("evidence", "line {line_no} {title} (SKU {sku})"),
    "sku": pgettext("evidence", " (SKU {sku})"),
    "price_qty": pgettext("evidence", " {price} × {qty}"),
    "line_paid": pgettext("evidence", "paid {paid}"),
    "line_closed": pgettext("evidence", " (交易关闭)"),
    "close_paren": pgettext("evidence", ")"),
    "colon": pgettext("evidence", ": "),
    "goods_status": pgettext("evidence", "货物状态 {goods_status}"),
    "aftersale_type": pgettext("evidence", "售后类型 {aftersale_type}"),
    "return_required": pgettext("evidence", "需要退货"),
    "no_return": pgettext("evidence", "不需退货"),
    "refund_description": pgettext("evidence", "买家退款说明 {text}"),
    # sql/review/review_queue.sql: the order's lines (商品明细)
    "lines.line": pgettext("evidence", "{line_no}. {title}"),
    "lines.sku": pgettext("evidence", " ({sku})"),
    "lines.status": pgettext("evidence", "{status}"),
    "lines.closed": pgettext("evidence", "closed"),
    # sql/signals/goods_aftersale.sql
    "refund.goods_status": pgettext("evidence", "退款 {refund_id}: 货物状态 {goods_status}"),
    "refund.aftersale_type": pgettext("evidence", "退款 {refund_id}: 售后类型 {aftersale_type}"),
    "refund.reason": pgettext("evidence", "买家退款原因 {reason}"),
    # sql/signals/refund_reason.sql
    "refund_reason": pgettext("evidence", "退款 {refund_id}: 买家退款原因 {reason}, {status}, {amount} yuan"),
    "refund_reason.several_kinds": pgettext("evidence", " (the reason fits several kinds)"),
    # sql/signals/refund_amount.sql
    "refund_amount.refund": pgettext("evidence", "退款 {refund_id} of {amount} yuan"),
    "refund_amount.refund_reason": pgettext("evidence", "退款 {refund_id} of {amount} yuan ({reason})"),
    "refund_amount.line": pgettext("evidence", "line refund (退款金额) of {amount} yuan"),
    "refund_amount.order": pgettext("evidence", "order refund (退款金额) of {amount} yuan"),
    "refund_amount.less_closed_listed": pgettext(
        "evidence", ", less the closed lines at their listed price, leaves {fit} yuan,"),
    "refund_amount.less_closed_paid": pgettext(
        "evidence", ", less the closed lines at their paid share, leaves {fit} yuan,"),
    "refund_amount.whole_line": pgettext("evidence", " = the whole of line {line_no} {title}"),
    "refund_amount.k_listed": pgettext("evidence", " = {k} × the listed price {unit} of line {line_no} {title}"),
    "refund_amount.k_paid": pgettext("evidence", " = {k} × the paid share {unit} of line {line_no} {title}"),
    "refund_amount.other_lines_fit": pgettext("evidence", " (other lines fit as well)"),
    "refund_amount.likely_missing": pgettext("evidence", ": likely {k} units missing"),
    "refund_amount.likely_missing_one": pgettext("evidence", ": likely {k} unit missing"),
    "refund_amount.explained_by.closed_line": pgettext(
        "evidence", "explained by the whole of a line closed inside the order (交易关闭)"),
    "refund_amount.explained_by.damage": pgettext("evidence", "explained by damage said on the order"),
    # sql/signals/parcel_weight.sql
    "parcel_weight": pgettext("evidence", "parcel {tracking_no} of {shipped_at} ({contents}) weighed {weight} kg, "
                                          "expected {expected} kg (usual scatter {sigma} kg)"),
    "parcel_weight.untracked": pgettext("evidence", "parcel (no tracking no.) of {shipped_at} ({contents}) weighed "
                                                    "{weight} kg, expected {expected} kg (usual scatter {sigma} kg)"),
    # sql/signals/shipments.sql
    "shipments.file": pgettext("evidence", "shipments file: "),
    "shipments.not_ordered": pgettext("evidence", "SKU {sku} shipped {n} but not ordered"),
    "shipments.all_lines": pgettext("evidence", "all lines {title} {price}: ordered {ordered}, first parcels {first}"),
    "shipments.sku": pgettext("evidence", "SKU {sku} {title} {price}: ordered {ordered}, first parcels {first}"),
    "shipments.reshipped": pgettext("evidence", "re-shipped {n} ({at})"),
    "shipments.by_ship_by": pgettext("evidence", "by ship-by {n}"),
    "shipments.reship_on_record": pgettext("evidence", "re-shipment parcel on record"),
    "shipments.cured": pgettext("evidence", "cured: the quantity ordered was reached at {reached}, "
                                            "before ship-by {ship_by}"),
    "shipments.reached_late": pgettext("evidence", "the quantity ordered was reached only at {reached}, "
                                                   "after ship-by {ship_by}"),
    "shipments.still_curable": pgettext("evidence", "{n} still missing: re-ship by {ship_by} to cure"),
    "shipments.missing_no_ship_by": pgettext("evidence", "{n} still missing, ship-by unknown"),
    "shipments.missing_passed": pgettext("evidence", "{n} still missing, ship-by {ship_by} passed"),
    # sql/signals/text_makeup.sql
    "makeup.later": pgettext("evidence", "make-up on the buyer's later order {later_id} (paid {paid}): "),
    "makeup.quote": pgettext("evidence", "{source} {text}"),
    "makeup.quote.packing": pgettext(
        "evidence", "{source} {text} (packing instructions for that parcel: written before it left)"),
    "makeup.quote.one_act": pgettext(
        "evidence", "{source} {text} (one make-up, naming goods that order does not hold)"),
    "makeup.target": pgettext("evidence", " -> {units} × line {line_no} {title}"),
    "makeup.of_this_order": pgettext("evidence", " of this order ({qty} ordered"),
    "makeup.more_than_line": pgettext("evidence", "; the make-up gives {said}, more than this line holds: "),
    "makeup.rest_on": pgettext("evidence", "the rest is on the buyer's earlier order {orders}"),
    "makeup.unplaced": pgettext("evidence", "{n} unit(s) no earlier order of the buyer holds"),
    "makeup.not_shipped": pgettext("evidence", "the later order is not shipped yet"),
    "makeup.reshipped_at": pgettext("evidence", "re-shipped with it at {at}"),
    "makeup.reshipped_late": pgettext(
        "evidence", "re-shipped with it, late: it was paid only after this order's ship-by {ship_by}"),
    "makeup.reshipped_unknown": pgettext("evidence", "re-shipped with it at a time the exports do not give"),
    # sql/signals/text_words.sql
    "words.quote": pgettext("evidence", "{source} {text} ({triggers}"),
    "words.readings": pgettext("evidence", ": "),
    "words.reading.line": pgettext("evidence", "{units} × line {line_no} {title}"),
    "words.reading.line_sku": pgettext("evidence", "{units} × line {line_no} {title} (SKU {sku})"),
    "words.reading.item": pgettext("evidence", "{units} × {item} (no line of the order named)"),
    "words.reading.units": pgettext("evidence", "{units} × units"),
    "words.other_reading": pgettext(
        "evidence", "or a make-up for the buyer's earlier order {order_id} (paid {paid}), which holds it too: "
                    "line {line_no} {title}"),
    "words.other_reading.sku": pgettext(
        "evidence", "or a make-up for the buyer's earlier order {order_id} (paid {paid}), which holds it too: "
                    "line {line_no} {title} (SKU {sku})"),
    "words.which_parcel": pgettext("evidence", ": the words do not say which parcel was short"),
    # sql/signals/unshipped.sql
    "unshipped.deadline": pgettext("evidence", "订单状态 {status}, paid {paid}, not shipped by the ship-by "
                                               "{ship_by} (passed)"),
    "unshipped.out_of_stock": pgettext("evidence", "订单状态 {status}, 订单关闭原因 {close_reason}, paid {paid}"),
    # sql/signals/data_problem.sql, sql/outputs/data_problems.sql, sql/flags/flags.sql
    "data_problem.refund": pgettext("evidence", " (买家退款原因 {reason}, {status}): not evidence, a person decides"),
    "problem.refund_exceeds_paid": pgettext(
        "evidence", "data problem (refund_exceeds_paid): 退款 {refund_id} of {amount} yuan is larger than the "
                    "order's paid amount {paid} yuan"),
    "problem.refund_exceeds_export_paid": pgettext(
        "evidence", "data problem (refund_exceeds_paid): 退款 {refund_id} of {amount} yuan is larger than the "
                    "refund export's 买家实际支付金额 {paid} yuan"),
    "problem.refunds_exceed_paid": pgettext(
        "evidence", "data problem (refunds_exceed_paid): {n} successful refunds add up to {refunded} yuan, "
                    "more than the {paid} yuan paid"),
    "problem.refund_line_not_on_order": pgettext(
        "evidence", "data problem (refund_line_not_on_order): 退款 {refund_id} names 子订单编号 {line}, which none "
                    "of the order's {lines} line(s) has"),
    "problem.refund_sku_not_on_order": pgettext(
        "evidence", "data problem (refund_line_not_on_order): 退款 {refund_id} names 商家编码 {line}, which none "
                    "of the order's {lines} line(s) has"),
    "problem.refund_exceeds_line_paid": pgettext(
        "evidence", "data problem (refund_exceeds_line_paid): 退款 {refund_id} of {amount} yuan is larger than "
                    "what line {line_nos} (子订单编号 {line}) was paid, {paid} yuan"),
    "problem.refund_exceeds_sku_line_paid": pgettext(
        "evidence", "data problem (refund_exceeds_line_paid): 退款 {refund_id} of {amount} yuan is larger than "
                    "what line {line_nos} (商家编码 {line}) was paid, {paid} yuan"),
    "problem.plus_postage": pgettext("evidence", " plus the postage {postage} yuan"),
    "problem.decision_units_exceed_ordered": pgettext(
        "evidence", "data problem (decision_units_exceed_ordered): review decision {decision} gives {qty} unit(s) "
                    "missing, more than the {units} ordered"),
    "problem.refunds_open": pgettext("evidence", " ("),
    "problem.refund": pgettext("evidence", "退款 {refund_id}"),
    "problem.refund_reason": pgettext("evidence", "退款 {refund_id} {reason}"),
    "problem.not_evidence": pgettext("evidence", "): not evidence"),
    "problem.decision_not_applied": pgettext("evidence", ": the decision is not applied"),
    # sql/flags/flags.sql: who is responsible and why
    "responsibility.merchant": pgettext("evidence", "Responsibility merchant"),
    "responsibility.courier": pgettext("evidence", "Responsibility courier"),
    "responsibility.buyer": pgettext("evidence", "Responsibility buyer"),
    "responsibility.no_fault": pgettext("evidence", "Responsibility no_fault"),
    "responsibility.undetermined": pgettext("evidence", "Responsibility undetermined"),
    "resp.because": pgettext("evidence_because", ": "),
    "resp.the_data.merchant": pgettext("evidence", " (the data: merchant"),
    "resp.the_data.courier": pgettext("evidence", " (the data: courier"),
    "resp.the_data.buyer": pgettext("evidence", " (the data: buyer"),
    "resp.the_data.undetermined": pgettext("evidence", " (the data: undetermined"),
    "resp.data_alone.merchant": pgettext("evidence", " (the data alone: merchant"),
    "resp.data_alone.courier": pgettext("evidence", " (the data alone: courier"),
    "resp.data_alone.buyer": pgettext("evidence", " (the data alone: buyer"),
    "resp.rows_do_not_add_up": pgettext("evidence", ": the rows do not add up, a person decides"),
    "resp.words_only": pgettext("evidence", " (nothing beyond the buyer's or the seller's words)"),
    "resp.amount_only": pgettext("evidence", " (a refund's amount alone does not say who was at fault)"),
    "resp.no_record": pgettext("evidence", " (no ruling, no refund by the shop and no shipping record says who)"),
    # sql/flags/responsibility.sql
    "resp.ruling_party": pgettext("evidence", "责任方 {party} (退款 {refund_id})"),
    "resp.cs_ruling": pgettext("evidence", "客服介入状态 {cs_status} (退款 {refund_id})"),
    "resp.shop_refunded": pgettext("evidence", "the shop refunded ({status}, 退款 {refund_id}) for {reason}"),
    "resp.shipments_record": pgettext("evidence", "the shop's own shipping record"),
    "resp.order_status": pgettext("evidence", "the order's own status"),
    "resp.not_received": pgettext("evidence", "shipped but not received"),
    "resp.not_received.tracking": pgettext("evidence", "shipped ({tracking_no}) but not received"),
    "resp.goods_status": pgettext("evidence", " (货物状态 {goods_status})"),
    # sql/review/decided.sql: a person's decision
    "decision": pgettext("evidence", "review decision {decision}"),
    "decision.by": pgettext("evidence", " by {who}"),
    "decision.at": pgettext("evidence", " at {at}"),
    "decision.missing": pgettext("evidence", "{n} missing"),
    "decision.source": pgettext("evidence", " ({file}, line {line})"),
    "decision.source_sheet": pgettext("evidence", " ({file} [{sheet}], line {line})"),
    "decision.note": pgettext("evidence", ": {note}"),
    # sql/flags/flags.sql: the complaint and what is awaited
    "no_complaint": pgettext("evidence", "No complaint from the buyer yet"),
    "awaiting.order_not_loaded": pgettext(
        "evidence", "Awaiting data: the order's row (订单报表) is not loaded; nothing is owed until it arrives"),
    "awaiting.lines_not_loaded": pgettext(
        "evidence", "Awaiting data: the order's lines (宝贝报表) are not loaded; the units cannot be valued, "
                    "nothing is owed until they arrive"),
}


@lru_cache(maxsize=None)
def templates(lang: str) -> dict[str, str]:
    """code -> the sentence template in `lang` (zh, en), separators included."""
    m = messages(lang)
    out = {"sep.none": ""}
    for code, (context, message) in {**SEPARATORS, **TEMPLATES}.items():
        out[code] = m.pgettext(context, message)
    return out


def render_params(lang: str) -> dict[str, list[str]]:
    """The bind parameters of `fl_render(facts, map($ev_codes, $ev_texts))` for `lang`."""
    t = templates(lang)
    return {"ev_codes": list(t), "ev_texts": list(t.values())}


# a TEMP table naming the macros.sql a connection holds (its digest): `prepare` runs the script
# (some twenty statements) once per connection instead of once per caller
_PREPARED = "_shortship_macros"


@lru_cache(maxsize=None)
def _macros_digest() -> str:
    import hashlib

    return hashlib.sha256(db.read_sql("flags/macros.sql").encode()).hexdigest()[:16]


def prepare(con) -> None:
    """The macros that build and say facts (sql/flags/macros.sql), on `con` (TEMP: per
    connection). Run once per connection: a connection that holds them already (the marker
    table says which script made them; a rolled-back transaction takes both away) is left as it
    is. (The marker is looked up in duckdb_tables(): reading a missing table would abort the
    caller's transaction.)"""
    digest = _macros_digest()
    if con.execute("select count(*) from duckdb_tables() where temporary and table_name = ?",
                   [_PREPARED]).fetchall() != [(0,)]:
        if con.execute(f"select any_value(digest) from temp.main.{_PREPARED}").fetchall() == [(digest,)]:
            return
    db.run_script(con, db.read_sql("flags/macros.sql"))
    con.execute(f"create or replace temp table {_PREPARED} as select ?::varchar as digest", [digest])


def said(column: str = "evidence_facts") -> str:
    """The SQL expression saying `column` (a list of facts) in the language of $ev_codes / $ev_texts."""
    return f"fl_render({column}, map($ev_codes, $ev_texts))"


def render(facts, lang: str) -> str:
    """The text of a list of facts in `lang`, in Python (the same as fl_render in SQL): for a
    page that holds its flag's facts. A fact is a dict {sep, code, args} (args: a dict, or the
    (key, value) pairs DuckDB gives a MAP as)."""
    if not facts:
        return ""
    t = templates(lang)
    out = []
    for i, f in enumerate(facts):
        if i:
            out.append(t.get("sep." + (f.get("sep") or "none"), ""))
        text = t.get(f["code"], f["code"])
        args = f.get("args") or {}
        items = args.items() if isinstance(args, dict) else args
        for k, v in items:
            text = text.replace("{" + k + "}", "" if v is None else str(v))
        out.append(text)
    return "".join(out)
