-- Typed order lines from one load.
-- Grain: one row per record of load $load_id (_raw_batch: this load's raw_items rows). line_no (an order's lines
-- numbered in export order) is added by pipeline/load.py (the merge, or after a first load's insert), over
-- (order_id, line) alone: a window over these wide rows would sort them all. Inputs: _raw_batch (as raw_items), load_manifest. reject_reason is NULL for a row that parsed.
-- The typed columns skip ss_clean where their text as exported is in its plain form (the p_ and
-- f_ tests, sql/schema/00_macros.sql); the checks read the cleaned text.
with

raw as (
    select * exclude (load_id, extra), $load_id::integer as load_id from _raw_batch
),

cleaned as (
    select
        load_id, line,
        ss_clean(columns(* exclude (load_id, line, order_id, line_id, price, refund_amount, paid_amount, quantity,
                                    shipped_at, ship_by))),
        order_id, line_id, price, refund_amount, paid_amount, quantity, shipped_at, ship_by,
        ss_id_plain(order_id)             as p_order_id,
        ss_id_plain(line_id)              as p_line_id,
        ss_money_plain(price)             as p_price,
        ss_money_plain(refund_amount)     as p_refund_amount,
        ss_money_plain(paid_amount)       as p_paid_amount,
        ss_int_plain(quantity)            as p_quantity,
        ss_ts_fast(shipped_at)            as f_shipped_at,
        ss_ts_fast(ship_by)               as f_ship_by
    from raw
),

texts as (
    select
        * replace (
            ss_clean_unless(order_id, p_order_id)           as order_id,
            ss_clean_unless(line_id, p_line_id)             as line_id,
            ss_clean_unless(price, p_price)                 as price,
            ss_clean_unless(refund_amount, p_refund_amount) as refund_amount,
            ss_clean_unless(paid_amount, p_paid_amount)     as paid_amount,
            ss_clean_unless(quantity, p_quantity)           as quantity,
            ss_ts_text(shipped_at, f_shipped_at)            as shipped_at,
            ss_ts_text(ship_by, f_ship_by)                  as ship_by
        )
    from cleaned
),

typed as (
    select
        c.*,
        ss_id(order_id)                  as v_order_id,
        ss_id(line_id)                   as v_line_id,
        ss_money_typed(price, p_price)   as v_price,
        ss_int_typed(quantity, p_quantity) as v_quantity,
        ss_refund_status(refund_status)  as v_refund_status,
        ss_money_typed(refund_amount, p_refund_amount) as v_refund_amount,
        ss_money_typed(paid_amount, p_paid_amount) as v_paid_amount,
        ss_ts_typed(shipped_at, f_shipped_at) as v_shipped_at,
        ss_ts_typed(ship_by, f_ship_by)  as v_ship_by
    from texts c
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            ss_id_problem_raw(v_order_id, p_order_id),
            case when line_id is not null then 'sub-order id: ' || ss_id_problem_raw(v_line_id, p_line_id) end,
            case when price is null then 'missing amount in price' end,
            ss_bad_money(price, v_price, 'price'),
            case when quantity is null then 'missing quantity' end,
            ss_bad_qty(quantity, v_quantity, 'quantity', 1, 1000000),
            ss_bad_money(refund_amount, v_refund_amount, 'refund_amount'),
            ss_bad_money(paid_amount, v_paid_amount, 'paid_amount'),
            ss_bad_ts(shipped_at, v_shipped_at, 'shipped_at'),
            ss_bad_ts(ship_by, v_ship_by, 'ship_by')
        ), '') as reject_reason
    from typed
),

manifest as (
    select path from load_manifest where load_id = $load_id
),

final as (
    select
        v_order_id                                 as order_id,
        v_line_id                                  as line_id,
        title,
        v_price                                    as price,
        v_quantity                                 as quantity,
        sku,
        external_id,
        attributes,
        ss_order_status(status)                    as status,
        status                                     as status_raw,
        v_refund_status                            as refund_status,
        v_refund_amount                            as refund_amount,
        v_paid_amount                              as paid_amount,
        v_shipped_at                               as shipped_at,
        v_ship_by                                  as ship_by,
        ss_tracking(tracking_no)                   as tracking_no,
        carrier,
        ss_id(item_id)                             as item_id,
        load_id,
        m.path                                     as source_file,
        line,
        reject_reason
    from checked cross join manifest m
)

select * from final
