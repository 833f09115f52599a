-- Every order in scope (fl_scope: the orders a signal can fire on), with what the signals need
-- to know about it, as it stood at the run's clock $as_of: a ship or confirmation time after
-- $as_of is not known yet (the order was paid, or shipped, then), and an order closed by
-- refunds that all finished after $as_of was still open (the legacy export gives no close time;
-- with no refund to date it, the close is taken as it is). status_raw stays as exported.
-- Grain: one row per order_id of fl_scope.
-- Inputs: fl_scope, orders, refunds (fl_refunds_at), fl_ship_orders, fl_lines (sql/flags/lines.sql).
-- Params: $window_hours (policy [shipping] window_hours), $as_of.
-- ship_by = paid_at + the policy window; delivered = completed or shipped or confirmed.
-- The order's texts (买家留言, 订单备注) are not carried: the phrases are read from `orders` by
-- sql/flags/texts.sql, and no step reads them here.
-- order_loaded: the order's own row is in `orders` (a refund or a parcel can arrive before its
-- order: what rests on it waits for the order, sql/flags/flags.sql `hold`).
with

ids as (
    select order_id from fl_scope
),

line_totals as (
    select
        order_id,
        count(*)                                          as line_count,
        sum(quantity)                                     as unit_count,
        sum(line_paid)                                    as goods_paid,
        count(*) filter (where closed)                    as closed_lines,
        sum(quantity) filter (where not closed)           as open_units,
        sum(line_paid) filter (where not closed)          as open_paid
    from fl_lines
    group by order_id
),

refund_info as (
    select
        order_id,
        min(paid_at)                                       as paid_at,
        max(buyer)                                         as buyer,
        count(*) filter (where applied_at is null or applied_at <= $as_of) as refund_rows,
        count(*)                                           as all_refund_rows,
        count(*) filter (where finished_at is null or finished_at <= $as_of) as finished_rows
    from refunds
    semi join fl_scope using (order_id)
    group by order_id
),

ship_info as (
    select order_id, first_shipped_at, ship_rows
    from fl_ship_orders
),

joined as (
    select
        i.order_id,
        o.order_id is not null                              as order_loaded,
        o.shop,
        coalesce(o.buyer, r.buyer)                          as buyer,
        case
            when o.status in ('shipped', 'completed') and o.shipped_at > $as_of then 'paid'
            when o.status = 'completed' and o.confirmed_at > $as_of then 'shipped'
            when o.status = 'closed' and coalesce(r.all_refund_rows, 0) > 0 and coalesce(r.finished_rows, 0) = 0
                then case when o.shipped_at <= $as_of or (o.shipped_at is null and o.tracking_no is not null)
                          then 'shipped' else 'paid' end
            else o.status
        end                                                 as status,
        o.status_raw,
        coalesce(o.paid_at, r.paid_at)                      as paid_at,
        case when o.shipped_at <= $as_of then o.shipped_at end as shipped_at,
        case when o.confirmed_at <= $as_of then o.confirmed_at end as confirmed_at,
        case when o.shipped_at > $as_of then null else o.tracking_no end as tracking_no,
        o.close_reason,
        o.refund_amount                                     as order_refund_amount,
        coalesce(
            lt.goods_paid,
            greatest(coalesce(o.paid_gross, o.paid_amount) - coalesce(o.postage, 0), 0)
        )::decimal(18, 2)                                   as goods_paid,
        coalesce(lt.line_count, 0)                          as line_count,
        lt.unit_count,
        coalesce(lt.closed_lines, 0)                        as closed_lines,
        coalesce(r.refund_rows, 0)                          as refund_rows,
        coalesce(s.ship_rows, 0)                            as ship_rows,
        s.first_shipped_at
    from ids i
    left join orders o using (order_id)
    left join line_totals lt using (order_id)
    left join refund_info r using (order_id)
    left join ship_info s using (order_id)
),

final as (
    select
        *,
        paid_at + to_hours($window_hours::bigint)           as ship_by,
        coalesce(status in ('completed', 'shipped') or confirmed_at is not null, false)
                                                            as delivered,
        coalesce(status in ('completed', 'shipped') or confirmed_at is not null
                 or shipped_at is not null or tracking_no is not null or ship_rows > 0, false)
                                                            as shipped_evidence
    from joined
)

select * from final
