-- Typed refunds from one load.
-- Grain: one row per record of load $load_id (_raw_batch: this load's raw_refunds rows). Inputs: _raw_batch (as raw_refunds), load_manifest.
-- refund_amount is 退款总额 / 买家退款金额, else 退给买家金额 + 退给平台金额 (2026 layout).
-- return_required comes from 是否需要退货, else from 售后类型.
-- The typed columns skip ss_clean where their text as exported is in its plain form (the p_ and
-- f_ tests, sql/schema/00_macros.sql); the checks read the cleaned text.
with

raw as (
    select * exclude (load_id, extra), $load_id::integer as load_id from _raw_batch
),

cleaned as (
    select
        load_id, line,
        ss_clean(columns(* exclude (load_id, line, refund_id, order_id, line_id, refund_amount, refund_to_buyer,
                                    refund_to_platform, order_paid_amount, paid_at, applied_at, finished_at,
                                    completed_at, timeout_at, returned_at))),
        refund_id, order_id, line_id, refund_amount, refund_to_buyer, refund_to_platform,
        order_paid_amount, paid_at, applied_at, finished_at, completed_at, timeout_at, returned_at,
        ss_id_plain(refund_id)            as p_refund_id,
        ss_id_plain(order_id)             as p_order_id,
        ss_id_plain(line_id)              as p_line_id,
        ss_money_plain(refund_amount)     as p_refund_amount,
        ss_money_plain(refund_to_buyer)   as p_refund_to_buyer,
        ss_money_plain(refund_to_platform) as p_refund_to_platform,
        ss_money_plain(order_paid_amount) as p_order_paid_amount,
        ss_ts_fast(paid_at)               as f_paid_at,
        ss_ts_fast(applied_at)            as f_applied_at,
        ss_ts_fast(finished_at)           as f_finished_at,
        ss_ts_fast(completed_at)          as f_completed_at,
        ss_ts_fast(timeout_at)            as f_timeout_at,
        ss_ts_fast(returned_at)           as f_returned_at
    from raw
),

texts as (
    select
        * replace (
            ss_clean_unless(refund_id, p_refund_id)         as refund_id,
            ss_clean_unless(order_id, p_order_id)           as order_id,
            ss_clean_unless(line_id, p_line_id)             as line_id,
            ss_clean_unless(refund_amount, p_refund_amount) as refund_amount,
            ss_clean_unless(refund_to_buyer, p_refund_to_buyer) as refund_to_buyer,
            ss_clean_unless(refund_to_platform, p_refund_to_platform) as refund_to_platform,
            ss_clean_unless(order_paid_amount, p_order_paid_amount) as order_paid_amount,
            ss_ts_text(paid_at, f_paid_at)                  as paid_at,
            ss_ts_text(applied_at, f_applied_at)            as applied_at,
            ss_ts_text(finished_at, f_finished_at)          as finished_at,
            ss_ts_text(completed_at, f_completed_at)        as completed_at,
            ss_ts_text(timeout_at, f_timeout_at)            as timeout_at,
            ss_ts_text(returned_at, f_returned_at)          as returned_at
        )
    from cleaned
),

typed as (
    select
        c.*,
        ss_id(refund_id)                 as v_refund_id,
        ss_id(order_id)                  as v_order_id,
        ss_id(line_id)                   as v_line_id,
        ss_money_typed(refund_amount, p_refund_amount) as v_refund_amount,
        ss_money_typed(refund_to_buyer, p_refund_to_buyer) as v_refund_to_buyer,
        ss_money_typed(refund_to_platform, p_refund_to_platform) as v_refund_to_platform,
        ss_money_typed(order_paid_amount, p_order_paid_amount) as v_order_paid_amount,
        ss_ts_typed(paid_at, f_paid_at)  as v_paid_at,
        ss_ts_typed(applied_at, f_applied_at) as v_applied_at,
        ss_ts_typed(finished_at, f_finished_at) as v_finished_at,
        ss_ts_typed(completed_at, f_completed_at) as v_completed_at,
        ss_ts_typed(timeout_at, f_timeout_at) as v_timeout_at,
        ss_ts_typed(returned_at, f_returned_at) as v_returned_at,
        ss_bool(return_required)         as v_return_required
    from texts c
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            ss_id_problem_raw(v_order_id, p_order_id),
            case when ss_id_problem_raw(v_refund_id, p_refund_id) is not null
                 then 'refund id: ' || ss_id_problem_raw(v_refund_id, p_refund_id) end,
            case when line_id is not null then 'sub-order id: ' || ss_id_problem_raw(v_line_id, p_line_id) end,
            case when refund_amount is null and refund_to_buyer is null then 'missing refund amount' end,
            ss_bad_money(refund_amount, v_refund_amount, 'refund_amount'),
            ss_bad_money(refund_to_buyer, v_refund_to_buyer, 'refund_to_buyer'),
            ss_bad_money(refund_to_platform, v_refund_to_platform, 'refund_to_platform'),
            ss_bad_money(order_paid_amount, v_order_paid_amount, 'order_paid_amount'),
            ss_bad_ts(paid_at, v_paid_at, 'paid_at'),
            ss_bad_ts(applied_at, v_applied_at, 'applied_at'),
            ss_bad_ts(finished_at, v_finished_at, 'finished_at'),
            ss_bad_ts(completed_at, v_completed_at, 'completed_at'),
            ss_bad_ts(timeout_at, v_timeout_at, 'timeout_at'),
            ss_bad_ts(returned_at, v_returned_at, 'returned_at')
        ), '') as reject_reason
    from typed
),

manifest as (
    select path from load_manifest where load_id = $load_id
),

final as (
    select
        v_refund_id                        as refund_id,
        v_order_id                         as order_id,
        v_line_id                          as line_id,
        sku,
        title,
        buyer,
        coalesce(v_refund_amount, v_refund_to_buyer + coalesce(v_refund_to_platform, 0))::decimal(18, 2)
                                           as refund_amount,
        v_order_paid_amount                as order_paid_amount,
        ss_refund_status(status)           as status,
        status                             as status_raw,
        goods_status,
        reason,
        description,
        coalesce(v_return_required,
                 case when aftersale_type = '退货退款' then true
                      when aftersale_type in ('仅退款', '补寄') then false end)
                                           as return_required,
        aftersale_type,
        cs_status,
        responsible_party,
        phase,
        refund_scope,
        seller_memo,
        v_paid_at                          as paid_at,
        v_applied_at                       as applied_at,
        coalesce(v_finished_at, v_completed_at) as finished_at,
        v_timeout_at                       as timeout_at,
        v_returned_at                      as returned_at,
        load_id,
        m.path                             as source_file,
        line,
        reject_reason
    from checked cross join manifest m
)

select * from final
