-- Signal unshipped: paid and not shipped. Rules:
--   unshipped_deadline   status 买家已付款，等待卖家发货 (paid), no ship time in the order export,
--                        no parcel in the shipments file by $as_of, and ship_by already passed
--   closed_out_of_stock  closed after payment with 订单关闭原因 缺货 / 卖家缺货 (policy reasons.unshipped)
-- Either is the shop's failure to ship (merchant). An order whose deadline is still ahead is
-- not flagged. The goods concerned are all the goods of the order.
-- Grain: one row per order. Inputs: fl_orders, policy_terms (reasons). Params: $as_of.
with

past_deadline as (
    select o.*, 'unshipped_deadline' as rule
    from fl_orders o
    where o.status = 'paid'
      and o.paid_at is not null
      and o.shipped_at is null
      and o.ship_rows = 0
      and o.ship_by < $as_of
),

out_of_stock as (
    select o.*, 'closed_out_of_stock' as rule
    from fl_orders o
    join policy_terms t on t.list = 'reasons' and t.kind = 'unshipped' and t.norm = fl_norm(o.close_reason)
    where o.status = 'closed'
      and o.paid_at is not null
),

both_rules as (
    select * from past_deadline
    union all
    select * from out_of_stock
),

final as (
    select
        order_id,
        rule,
        'unshipped'                                             as kind,
        0.9::double                                             as confidence,
        'explicit'                                              as basis,
        true                                                    as is_primary,
        false                                                   as complaint,
        null::varchar                                           as refund_id,
        null::integer                                           as line_no,
        null::varchar                                           as sku,
        unit_count::bigint                                      as missing_qty,
        goods_paid::decimal(18, 2)                              as affected_amount,
        case when rule = 'closed_out_of_stock' then coalesce(order_refund_amount, 0) else 0 end::decimal(18, 2)
                                                                as refunded_amount,
        null::timestamp                                         as reshipped_at,
        'merchant'                                              as resp,
        'order_status'                                          as resp_rule,
        -- not the run's clock: the evidence (and the order's evidence page) changes only with the order
        [case rule
            when 'unshipped_deadline' then fl_fact('row', 'unshipped.deadline', ['status', 'paid', 'ship_by'],
                                                   [fl_quote(coalesce(status_raw, status)), fl_ts(paid_at), fl_ts(ship_by)])
            else fl_fact('row', 'unshipped.out_of_stock', ['status', 'close_reason', 'paid'],
                         [fl_quote(coalesce(status_raw, status)), fl_quote(close_reason), coalesce(fl_ts(paid_at), '')])
        end]                                                    as facts
    from both_rules
)

select * from final
