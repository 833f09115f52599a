-- Typed shipments from one load.
-- Grain: one row per record of load $load_id (_raw_batch: this load's raw_shipments rows) (one SKU in one parcel).
-- Inputs: _raw_batch (as raw_shipments), load_manifest. quantity NULL means unknown; reship defaults to false.
-- Rows with the same order, tracking number, SKU and time are all kept (they add up: a row per
-- order line, two lines of one order may share a SKU); the merge replaces them by key.
-- The typed columns skip ss_clean where their text as exported is in its plain form (the p_ and
-- f_ tests, sql/schema/00_macros.sql); the checks read the cleaned text.
with

raw as (
    select * exclude (load_id, extra), $load_id::integer as load_id from _raw_batch
),

cleaned as (
    select
        load_id, line,
        ss_clean(columns(* exclude (load_id, line, order_id, quantity, weight_kg, shipped_at))),
        order_id, quantity, weight_kg, shipped_at,
        ss_id_plain(order_id)             as p_order_id,
        ss_int_plain(quantity)            as p_quantity,
        ss_weight_plain(weight_kg)        as p_weight_kg,
        ss_ts_fast(shipped_at)            as f_shipped_at
    from raw
),

texts as (
    select
        * replace (
            ss_clean_unless(order_id, p_order_id)           as order_id,
            ss_clean_unless(quantity, p_quantity)           as quantity,
            ss_clean_unless(weight_kg, p_weight_kg)         as weight_kg,
            ss_ts_text(shipped_at, f_shipped_at)            as shipped_at
        )
    from cleaned
),

typed as (
    select
        c.*,
        ss_id(order_id)                          as v_order_id,
        ss_int_typed(quantity, p_quantity)       as v_quantity,
        ss_ts_typed(shipped_at, f_shipped_at)    as v_shipped_at,
        ss_weight_typed(weight_kg, p_weight_kg)  as v_weight_kg,
        ss_bool(reship)                          as v_reship
    from texts c
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            ss_id_problem_raw(v_order_id, p_order_id),
            case when shipped_at is null then 'missing date in shipped_at' end,
            ss_bad_ts(shipped_at, v_shipped_at, 'shipped_at'),
            ss_bad_qty(quantity, v_quantity, 'quantity', 0, 1000000),
            ss_bad(weight_kg, v_weight_kg, 'bad weight_kg (0 to 999999.999 kg, at most three decimals)'),
            ss_bad(reship, v_reship, 'bad reship flag')
        ), '') as reject_reason
    from typed
),

manifest as (
    select path from load_manifest where load_id = $load_id
),

final as (
    select
        v_order_id                 as order_id,
        sku,
        v_quantity                 as quantity,
        v_shipped_at               as shipped_at,
        ss_tracking(tracking_no)   as tracking_no,
        v_weight_kg                as weight_kg,
        coalesce(v_reship, false)  as reship,
        packer,
        warehouse,
        load_id,
        m.path                     as source_file,
        line,
        reject_reason
    from checked cross join manifest m
)

select * from final
