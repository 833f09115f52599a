"""The canonical code values people see labelled, listed so that message extraction finds them.

Each entry is `pgettext(field, value)`: the field is the catalogue context, the value the code
as it is in the tables. `Messages.code(field, value)` looks the label up at run time. A value
missing here shows as itself (and `tests/act/test_locale.py` lists the fields whose values the
code produces, so a new value is noticed).
"""
from __future__ import annotations


def pgettext(context: str, message: str) -> tuple[str, str]:  # a marker: extraction reads the calls
    return context, message


CODES = [
    # flags.kind
    pgettext("kind", "short"),
    pgettext("kind", "wrong"),
    pgettext("kind", "empty"),
    pgettext("kind", "not_received"),
    pgettext("kind", "unshipped"),
    # flags.responsibility
    pgettext("responsibility", "merchant"),
    pgettext("responsibility", "courier"),
    pgettext("responsibility", "buyer"),
    pgettext("responsibility", "undetermined"),
    # liabilities.status
    pgettext("status", "owed"),
    pgettext("status", "curable"),
    pgettext("status", "cured"),
    pgettext("status", "courier"),
    pgettext("status", "disputed"),
    pgettext("status", "excluded"),
    pgettext("status", "awaiting_data"),
    pgettext("status", "total"),
    # liabilities.hold / flags.hold, and sql/outputs/awaiting.sql waiting_for: why no money moves yet
    pgettext("hold", "order_not_loaded"),
    pgettext("hold", "lines_not_loaded"),
    pgettext("hold", "no_paid_time"),
    pgettext("hold", "data_problem"),
    # liabilities.payout_form
    pgettext("payout_form", "points"),
    pgettext("payout_form", "red_packet"),
    pgettext("payout_form", "beans"),
    pgettext("payout_form", "cash"),
    # payouts.reason
    pgettext("payout_reason", "new"),
    pgettext("payout_reason", "top_up"),
    pgettext("payout_reason", "reversal"),
    # decisions.decision
    pgettext("decision", "merchant"),
    pgettext("decision", "courier"),
    pgettext("decision", "buyer"),
    pgettext("decision", "no_fault"),
    # flags.basis
    pgettext("basis", "explicit"),
    pgettext("basis", "amount"),
    pgettext("basis", "weight"),
    pgettext("basis", "text"),
    pgettext("basis", "problem"),
    # reship.csv basis: where the units to send come from
    pgettext("reship_basis", "shipments"),
    pgettext("reship_basis", "flag_line"),
    pgettext("reship_basis", "single_line"),
    pgettext("reship_basis", "whole_order"),
    pgettext("reship_basis", "undetermined"),
    # courier_claims.csv basis and claim rule
    pgettext("claim_basis", "lost_in_transit"),
    pgettext("claim_basis", "short_in_intact_parcel"),
    pgettext("claim_rule", "declared_value"),
    pgettext("claim_rule", "postage_multiple"),
    pgettext("freight_source", "order_postage"),
    pgettext("freight_source", "policy_estimate"),
    # policy penalty.cap_scope
    pgettext("cap_scope", "order"),
    pgettext("cap_scope", "buyer_24h"),
    pgettext("cap_scope", "item"),
    # sql/outputs/data_problems.sql problem
    pgettext("problem", "refund_exceeds_paid"),
    pgettext("problem", "refunds_exceed_paid"),
    pgettext("problem", "refund_exceeds_line_paid"),
    pgettext("problem", "refund_line_not_on_order"),
    pgettext("problem", "decision_units_exceed_ordered"),
    # root_causes.parquet dimension
    pgettext("dimension", "shop"),
    pgettext("dimension", "sku"),
    pgettext("dimension", "day"),
    pgettext("dimension", "week"),
    pgettext("dimension", "packer"),
    pgettext("dimension", "warehouse"),
    # orders.status
    pgettext("order_status", "unpaid"),
    pgettext("order_status", "paid"),
    pgettext("order_status", "shipped"),
    pgettext("order_status", "completed"),
    pgettext("order_status", "closed"),
    # refunds.status
    pgettext("refund_status", "requested"),
    pgettext("refund_status", "awaiting_return"),
    pgettext("refund_status", "returned"),
    pgettext("refund_status", "refused"),
    pgettext("refund_status", "closed"),
    pgettext("refund_status", "success"),
    # rule ids (flags.rules), see pipeline/flag.py RULES
    pgettext("rule", "refund_reason"),
    pgettext("rule", "aftersale_reship"),
    pgettext("rule", "aftersale_exchange"),
    pgettext("rule", "goods_not_received"),
    pgettext("rule", "refund_amount"),
    pgettext("rule", "text_words"),
    pgettext("rule", "ship_shortfall"),
    pgettext("rule", "ship_reship"),
    pgettext("rule", "ship_wrong_sku"),
    pgettext("rule", "parcel_weight"),
    pgettext("rule", "unshipped_deadline"),
    pgettext("rule", "closed_out_of_stock"),
    pgettext("rule", "ruling_party"),
    pgettext("rule", "cs_ruling"),
    pgettext("rule", "shop_refunded"),
    pgettext("rule", "shipments_record"),
    pgettext("rule", "order_status"),
    pgettext("rule", "courier_not_received"),
    pgettext("rule", "review_decision"),
    pgettext("rule", "refund_explained"),
    pgettext("rule", "text_checkout"),
    pgettext("rule", "text_damage"),
    pgettext("rule", "text_gift"),
    pgettext("rule", "text_makeup"),
    pgettext("rule", "text_other_order"),
    pgettext("rule", "text_substitution"),
    pgettext("rule", "data_problem"),
]

# the sheets of liabilities.xlsx (context "sheet"); the English catalogue keeps the names
SHEETS = [
    pgettext("sheet", "summary"),
    pgettext("sheet", "liabilities"),
    pgettext("sheet", "payouts"),
    pgettext("sheet", "reship"),
    pgettext("sheet", "courier_claims"),
    pgettext("sheet", "claim_totals"),
    pgettext("sheet", "review"),
]

# the column headings of the files and sheets for people (context "column"); the English
# catalogue leaves them canonical
COLUMNS = [
    pgettext("column", "order_id"),
    pgettext("column", "line_id"),
    pgettext("column", "line_no"),
    pgettext("column", "shop"),
    pgettext("column", "buyer"),
    pgettext("column", "platform"),
    pgettext("column", "kind"),
    pgettext("column", "responsibility"),
    pgettext("column", "status"),
    pgettext("column", "count"),
    pgettext("column", "base_amount"),
    pgettext("column", "compensation_yuan"),
    pgettext("column", "points"),
    pgettext("column", "floor_applied"),
    pgettext("column", "cap_applied"),
    pgettext("column", "goods_refund_yuan"),
    pgettext("column", "freight_yuan"),
    pgettext("column", "total_yuan"),
    pgettext("column", "deadline"),
    pgettext("column", "policy"),
    pgettext("column", "run_id"),
    pgettext("column", "payout_form"),
    pgettext("column", "at_risk_yuan"),
    pgettext("column", "recoverable_yuan"),
    pgettext("column", "as_of"),
    pgettext("column", "payout_id"),
    pgettext("column", "yuan"),
    pgettext("column", "reason"),
    pgettext("column", "created_at"),
    # reship.csv
    pgettext("column", "sku"),
    pgettext("column", "title"),
    pgettext("column", "attributes"),
    pgettext("column", "quantity"),
    pgettext("column", "hours_left"),
    pgettext("column", "penalty_avoided_yuan"),
    pgettext("column", "basis"),
    pgettext("column", "paid_at"),
    # courier_claims.csv
    pgettext("column", "carrier"),
    pgettext("column", "month"),
    pgettext("column", "tracking_nos"),
    pgettext("column", "shipped_at"),
    pgettext("column", "goods_value_yuan"),
    pgettext("column", "freight_source"),
    pgettext("column", "claim_rule"),
    pgettext("column", "claim_yuan"),
    pgettext("column", "weight_kg"),
    pgettext("column", "expected_kg"),
    pgettext("column", "orders"),
    # review sheet
    pgettext("column", "evidence"),
    pgettext("column", "missing_qty"),
    pgettext("column", "affected_amount"),
    pgettext("column", "rules"),
    pgettext("column", "confidence"),
    pgettext("column", "decision"),
    pgettext("column", "lines"),
    pgettext("column", "note"),
    pgettext("column", "decided_by"),
    pgettext("column", "decided_at"),
    # root causes
    pgettext("column", "dimension"),
    pgettext("column", "value"),
    pgettext("column", "short_orders"),
    pgettext("column", "wrong_orders"),
    pgettext("column", "short_rate"),
    # data problems (sql/outputs/data_problems.sql)
    pgettext("column", "problem"),
    pgettext("column", "refund_id"),
    pgettext("column", "source_file"),
    pgettext("column", "line"),
    pgettext("column", "detail"),
    # awaiting data (sql/outputs/awaiting.sql) and liabilities.hold
    pgettext("column", "hold"),
    pgettext("column", "waiting_for"),
    pgettext("column", "refunds"),
    pgettext("column", "parcels"),
    pgettext("column", "decisions"),
    pgettext("column", "since"),
]
