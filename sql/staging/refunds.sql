-- Typed refunds from one load.
-- Grain: one row per record of load $load_id (_raw_batch: this load's raw_refunds rows). Inputs: _raw_batch (as raw_refunds), load_manifest.
-- refund_amount is 退款总额 / 买家退款金额, else 退给买家金额 + 退给平台金额 (2026 layout).
-- return_required comes from 是否需要退货, else from 售后类型.
-- The typed columns are typed from their text as exported (ss_*_raw, sql/schema/00_macros.sql):
-- only the values not in their plain form are cleaned, and the checks quote the cleaned text.
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
        refund_id, order_id, line_id, refund_amount, refund_to_buyer, refund_to_platform, order_paid_amount,
        paid_at, applied_at, finished_at, completed_at, timeout_at, returned_at
    from raw
),

typed as (
    select
        c.*,
        ss_id_plain(refund_id)               as plain_refund_id,
        ss_id_plain(order_id)                as plain_order_id,
        ss_id_plain(line_id)                 as plain_line_id,
        ss_money_raw(refund_amount)          as v_refund_amount,
        ss_money_raw(refund_to_buyer)        as v_refund_to_buyer,
        ss_money_raw(refund_to_platform)     as v_refund_to_platform,
        ss_money_raw(order_paid_amount)      as v_order_paid_amount,
        ss_ts_raw(paid_at)                   as v_paid_at,
        ss_ts_raw(applied_at)                as v_applied_at,
        ss_ts_raw(finished_at)               as v_finished_at,
        ss_ts_raw(completed_at)              as v_completed_at,
        ss_ts_raw(timeout_at)                as v_timeout_at,
        ss_ts_raw(returned_at)               as v_returned_at,
        ss_bool(return_required)             as v_return_required
    from cleaned c
),

texts as (
    select
        * replace (
            ss_text_raw(refund_amount, v_refund_amount is not null)            as refund_amount,
            ss_text_raw(refund_to_buyer, v_refund_to_buyer is not null)        as refund_to_buyer,
            ss_text_raw(refund_to_platform, v_refund_to_platform is not null)  as refund_to_platform,
            ss_text_raw(order_paid_amount, v_order_paid_amount is not null)    as order_paid_amount,
            ss_text_raw(paid_at, ss_ts_ok(v_paid_at))                          as paid_at,
            ss_text_raw(applied_at, ss_ts_ok(v_applied_at))                    as applied_at,
            ss_text_raw(finished_at, ss_ts_ok(v_finished_at))                  as finished_at,
            ss_text_raw(completed_at, ss_ts_ok(v_completed_at))                as completed_at,
            ss_text_raw(timeout_at, ss_ts_ok(v_timeout_at))                    as timeout_at,
            ss_text_raw(returned_at, ss_ts_ok(v_returned_at))                  as returned_at
        ),
        ss_text_raw(refund_id, plain_refund_id)  as v_refund_id,
        ss_text_raw(order_id, plain_order_id)    as v_order_id,
        ss_text_raw(line_id, plain_line_id)      as v_line_id
    from typed
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            ss_id_problem_raw(v_order_id, plain_order_id),
            case when ss_id_problem_raw(v_refund_id, plain_refund_id) is not null
                 then 'refund id: ' || ss_id_problem_raw(v_refund_id, plain_refund_id) end,
            case when v_line_id is not null then 'sub-order id: ' || ss_id_problem_raw(v_line_id, plain_line_id) end,
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
    from texts
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
