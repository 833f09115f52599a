-- summary.parquet: the daily picture per shop for BI dashboards.
-- Grain: one row per shop × day. day = the date of the order's paid_at, else of its created_at
--   (China time, as exported); shop = the order's 店铺名称 (NULL when the export has none).
-- Inputs: orders (every loaded order that exists at the run's clock), flags (one row per
--   flagged order, this run), liabilities (one row per flagged order, this run), runs. A flagged
--   order missing from `orders` takes its shop and day from flags (paid_at).
-- The run's clock: the as-of the flags (else the liabilities) were built for, else the latest
--   run's; an order paid (else created) after it does not exist yet for that run and is not
--   counted (the same rule as detection: sql/flags/clock.sql).
-- Columns: orders (loaded orders that day), flagged and flagged_<kind> (flagged orders),
--   owed_orders / curable_orders (liability status), compensation_yuan and points (penalty owed
--   now), goods_refund_yuan, freight_yuan, total_yuan (as in liabilities), at_risk_yuan (penalty
--   avoided by re-shipping the curable orders in time). Money DECIMAL(18,2), counts BIGINT.
with

clock as (
    select coalesce(
        (select max(as_of) from flags),
        (select max(as_of) from liabilities),
        (select as_of from runs order by started_at desc, run_id desc limit 1),
        '9999-12-31'::timestamp)                                   as as_of
),

seen_orders as (
    select o.*
    from orders o
    where coalesce(o.paid_at, o.created_at) is null
       or coalesce(o.paid_at, o.created_at) <= (select as_of from clock)
),

-- the shop and day of every loaded order (its own, else its flag's), and of the flagged or
-- owed orders no orders row has; orders are unique by order_id, flags and liabilities too
order_day as (
    select
        o.order_id,
        coalesce(o.shop, f.shop)                                  as shop,
        coalesce(o.paid_at, o.created_at, f.paid_at)::date        as day,
        true                                                      as in_orders
    from seen_orders o
    left join flags f using (order_id)
    union all
    select f.order_id, f.shop, f.paid_at::date, false
    from flags f
    anti join orders o using (order_id)
    union all
    select l.order_id, null, null, false
    from liabilities l
    anti join orders o using (order_id)
    anti join flags f using (order_id)
),

-- the same for the flagged and owed orders only (small: no pass over every order)
flagged_day as (
    select
        f.order_id,
        coalesce(o.shop, f.shop)                                  as shop,
        coalesce(o.paid_at, o.created_at, f.paid_at)::date        as day
    from flags f
    left join orders o using (order_id)
    union all
    select l.order_id, o.shop, coalesce(o.paid_at, o.created_at)::date
    from liabilities l
    left join orders o using (order_id)
    anti join flags f using (order_id)
),

flag_counts as (
    select
        d.shop,
        d.day,
        count(*)                                        as flagged,
        count(*) filter (where f.kind = 'short')        as flagged_short,
        count(*) filter (where f.kind = 'wrong')        as flagged_wrong,
        count(*) filter (where f.kind = 'empty')        as flagged_empty,
        count(*) filter (where f.kind = 'not_received') as flagged_not_received,
        count(*) filter (where f.kind = 'unshipped')    as flagged_unshipped
    from flags f
    join flagged_day d using (order_id)
    group by all
),

liability_sums as (
    select
        d.shop,
        d.day,
        count(*) filter (where l.status = 'owed')    as owed_orders,
        count(*) filter (where l.status = 'curable') as curable_orders,
        sum(l.compensation_yuan)::decimal(18, 2)     as compensation_yuan,
        sum(l.points)::bigint                        as points,
        sum(l.goods_refund_yuan)::decimal(18, 2)     as goods_refund_yuan,
        sum(l.freight_yuan)::decimal(18, 2)          as freight_yuan,
        sum(l.total_yuan)::decimal(18, 2)            as total_yuan,
        sum(l.at_risk_yuan)::decimal(18, 2)          as at_risk_yuan
    from liabilities l
    join flagged_day d using (order_id)
    group by all
),

order_counts as (
    select shop, day, count(*) filter (where in_orders) as orders
    from order_day
    group by all
),

final as (
    select
        o.shop,
        o.day,
        o.orders::bigint                                            as orders,
        coalesce(f.flagged, 0)::bigint                              as flagged,
        coalesce(f.flagged_short, 0)::bigint                        as flagged_short,
        coalesce(f.flagged_wrong, 0)::bigint                        as flagged_wrong,
        coalesce(f.flagged_empty, 0)::bigint                        as flagged_empty,
        coalesce(f.flagged_not_received, 0)::bigint                 as flagged_not_received,
        coalesce(f.flagged_unshipped, 0)::bigint                    as flagged_unshipped,
        coalesce(l.owed_orders, 0)::bigint                          as owed_orders,
        coalesce(l.curable_orders, 0)::bigint                       as curable_orders,
        coalesce(l.compensation_yuan, 0)::decimal(18, 2)            as compensation_yuan,
        coalesce(l.points, 0)::bigint                               as points,
        coalesce(l.goods_refund_yuan, 0)::decimal(18, 2)            as goods_refund_yuan,
        coalesce(l.freight_yuan, 0)::decimal(18, 2)                 as freight_yuan,
        coalesce(l.total_yuan, 0)::decimal(18, 2)                   as total_yuan,
        coalesce(l.at_risk_yuan, 0)::decimal(18, 2)                 as at_risk_yuan
    from order_counts o
    left join flag_counts f
        on f.shop is not distinct from o.shop and f.day is not distinct from o.day
    left join liability_sums l
        on l.shop is not distinct from o.shop and l.day is not distinct from o.day
    order by o.shop nulls last, o.day nulls last
)

select * from final
