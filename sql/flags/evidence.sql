-- Every piece of evidence the signals found, in one shape.
-- Grain: one row per signal row (order × rule × refund or source); see sql/signals/*.sql.
-- Columns: order_id, rule, kind, confidence (0-1), basis (explicit, amount, weight, text,
-- support, problem), is_primary (can raise a flag on its own), complaint (the buyer complained),
-- refund_id, line_no, sku, missing_qty, affected_amount, refunded_amount, reshipped_at,
-- resp / resp_rule (a responsibility the evidence itself carries), facts (the evidence as facts:
-- sql/flags/macros.sql fl_fact; their sentences in the reader's language: pipeline/explain.py).
-- Inputs: the signal tables sig_* built by pipeline/flag.py from sql/signals/.
with

all_rows as (
    select * from sig_refund_reason
    union all by name select * from sig_goods_aftersale
    union all by name select * from sig_refund_amount
    union all by name select * from sig_text_words
    union all by name select * from sig_text_makeup
    union all by name select * from sig_shipments
    union all by name select * from sig_parcel_weight
    union all by name select * from sig_unshipped
    union all by name select * from sig_data_problem
),

final as (
    select
        order_id, rule, kind, confidence, basis, is_primary, complaint, refund_id,
        line_no, sku, missing_qty, affected_amount, refunded_amount, reshipped_at,
        resp, resp_rule, facts
    from all_rows
    where order_id is not null
      and explained_by is null    -- refunds explained otherwise (sig_refund_amount) raise no flag
)

select * from final
