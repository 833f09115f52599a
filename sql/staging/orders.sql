-- Typed orders from one load.
-- Grain: one row per record of load $load_id (_raw_batch: this load's raw_orders rows) (duplicates resolved by the merge).
-- Inputs: _raw_batch (as raw_orders), load_manifest. reject_reason is NULL for a row that parsed.
-- paid_gross is what the buyer paid before refunds: in the legacy export 买家实际支付金额 is
-- net of refunds, so there it is 实付 + 退款金额 (load_manifest.paid_is_net).
-- The typed columns skip ss_clean where their text as exported is in its plain form (the p_ and
-- f_ tests, sql/schema/00_macros.sql); the checks read the cleaned text.
with

raw as (
    select * exclude (load_id, extra), $load_id::integer as load_id from _raw_batch
),

cleaned as (
    select
        load_id, line,
        ss_clean(columns(* exclude (load_id, line, order_id, goods_amount, postage, total_amount, paid_amount,
                                    refund_amount, created_at, paid_at, shipped_at, confirmed_at, item_count,
                                    shop_id))),
        shop_id,  -- read only where shop is empty: cleaned there (final)
        order_id, goods_amount, postage, total_amount, paid_amount, refund_amount,
        created_at, paid_at, shipped_at, confirmed_at, item_count,
        ss_id_plain(order_id)          as p_order_id,
        ss_money_plain(goods_amount)   as p_goods_amount,
        ss_money_plain(postage)        as p_postage,
        ss_money_plain(total_amount)   as p_total_amount,
        ss_money_plain(paid_amount)    as p_paid_amount,
        ss_money_plain(refund_amount)  as p_refund_amount,
        ss_ts_fast(created_at)         as f_created_at,
        ss_ts_fast(paid_at)            as f_paid_at,
        ss_ts_fast(shipped_at)         as f_shipped_at,
        ss_ts_fast(confirmed_at)       as f_confirmed_at,
        ss_int_plain(item_count)       as p_item_count
    from raw
),

texts as (
    select
        * replace (
            ss_clean_unless(order_id, p_order_id)            as order_id,
            ss_clean_unless(goods_amount, p_goods_amount)    as goods_amount,
            ss_clean_unless(postage, p_postage)              as postage,
            ss_clean_unless(total_amount, p_total_amount)    as total_amount,
            ss_clean_unless(paid_amount, p_paid_amount)      as paid_amount,
            ss_clean_unless(refund_amount, p_refund_amount)  as refund_amount,
            ss_ts_text(created_at, f_created_at)             as created_at,
            ss_ts_text(paid_at, f_paid_at)                   as paid_at,
            ss_ts_text(shipped_at, f_shipped_at)             as shipped_at,
            ss_ts_text(confirmed_at, f_confirmed_at)         as confirmed_at,
            ss_clean_unless(item_count, p_item_count)        as item_count
        )
    from cleaned
),

typed as (
    select
        c.*,
        ss_id(order_id)                                  as v_order_id,
        ss_money_typed(goods_amount, p_goods_amount)     as v_goods_amount,
        ss_money_typed(postage, p_postage)               as v_postage,
        ss_money_typed(total_amount, p_total_amount)     as v_total_amount,
        ss_money_typed(paid_amount, p_paid_amount)       as v_paid_amount,
        ss_money_typed(refund_amount, p_refund_amount)   as v_refund_amount,
        ss_ts_typed(created_at, f_created_at)            as v_created_at,
        ss_ts_typed(paid_at, f_paid_at)                  as v_paid_at,
        ss_ts_typed(shipped_at, f_shipped_at)            as v_shipped_at,
        ss_ts_typed(confirmed_at, f_confirmed_at)        as v_confirmed_at,
        ss_int_typed(item_count, p_item_count)           as v_item_count
    from texts c
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            ss_id_problem_raw(v_order_id, p_order_id),
            case when paid_amount is null then 'missing amount in paid_amount' end,
            ss_bad_money(paid_amount, v_paid_amount, 'paid_amount'),
            ss_bad_money(goods_amount, v_goods_amount, 'goods_amount'),
            ss_bad_money(postage, v_postage, 'postage'),
            ss_bad_money(total_amount, v_total_amount, 'total_amount'),
            ss_bad_money(refund_amount, v_refund_amount, 'refund_amount'),
            ss_bad_ts(created_at, v_created_at, 'created_at'),
            ss_bad_ts(paid_at, v_paid_at, 'paid_at'),
            ss_bad_ts(shipped_at, v_shipped_at, 'shipped_at'),
            ss_bad_ts(confirmed_at, v_confirmed_at, 'confirmed_at'),
            ss_bad_qty(item_count, v_item_count, 'item_count', 0, 1000000000)
        ), '') as reject_reason
    from typed
),

manifest as (
    select path, paid_is_net from load_manifest where load_id = $load_id
),

final as (
    select
        v_order_id                         as order_id,
        coalesce(shop, ss_clean(shop_id))  as shop,
        buyer,
        ss_order_status(status)            as status,
        status                             as status_raw,
        v_goods_amount                     as goods_amount,
        v_postage                          as postage,
        v_total_amount                     as total_amount,
        v_paid_amount                      as paid_amount,
        v_refund_amount                    as refund_amount,
        (case when m.paid_is_net then v_paid_amount + coalesce(v_refund_amount, 0)
              else v_paid_amount end)::decimal(18, 2) as paid_gross,
        v_created_at                       as created_at,
        v_paid_at                          as paid_at,
        v_shipped_at                       as shipped_at,
        v_confirmed_at                     as confirmed_at,
        ss_tracking(tracking_no)           as tracking_no,
        carrier,
        buyer_message,
        seller_memo,
        v_item_count                       as item_count,
        close_reason,
        title,
        address,
        load_id,
        m.path                             as source_file,
        line,
        reject_reason
    from checked cross join manifest m
)

select * from final
