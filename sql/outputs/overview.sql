-- overview.html: one page across shops, so that a provider sees where to look first.
-- Grain: one row per shop. shop = $shop when given (spark-run: the shop folder's name; every row
--   of the database is that shop's), else the order's 店铺名称, else its flag's or liability's
--   ('' when the export has none).
-- Inputs: orders, flags, liabilities, runs. Parameters: $shop (varchar; NULL: by 店铺名称),
--   $trend_weeks (how many weeks the short-rate trend covers, ending with the clock's week).
-- The run's clock: as in summary.sql (the as-of the flags, else the liabilities, were built
--   for, else the latest run's); an order paid (else created) after it is not counted.
-- Columns:
--   orders (loaded orders by the clock), flagged (flagged orders), short_orders (of those orders,
--   the ones flagged short or empty, the liability not excluded: as root_causes.sql),
--   short_rate = short_orders / orders;
--   owed_orders, owed_yuan (total_yuan of the owed liabilities: penalty, goods, freight),
--   compensation_yuan and points (the penalty owed now);
--   review_orders (awaiting a review decision: the rows of review.csv, review_queue.sql),
--   review_yuan (their affected_amount);
--   curable_orders, at_risk_yuan (the penalty re-shipping in time avoids), next_deadline (the
--   nearest re-ship deadline of a curable order), deadlines (the curable orders' deadlines,
--   nearest first, at most 5: list of {order_id, deadline, at_risk_yuan});
--   courier_orders, recoverable_yuan; awaiting_data_orders; total_yuan (every liability);
--   weeks (the trend: list of {week (Monday), orders, short_orders, short_rate} of the weeks of
--   the window that have orders, oldest first); short_rate_last_week (the window's latest week
--   with orders), short_rate_before (its earlier weeks together), trend (last week's rate minus
--   the earlier weeks', NULL without both);
--   as_of (the clock).
-- Sorted as the page ranks the shops: owed_yuan, then review_yuan, then review_orders, largest
--   first; then shop.
with

clock as (
    select coalesce(
        (select max(as_of) from flags),
        (select max(as_of) from liabilities),
        (select as_of from runs order by started_at desc, run_id desc limit 1),
        '9999-12-31'::timestamp)                                   as as_of
),

params as (
    select $shop::varchar as shop, greatest(coalesce($trend_weeks::integer, 1), 1) as trend_weeks
),

seen_orders as (
    select
        o.order_id,
        coalesce((select shop from params), o.shop, '')           as shop,
        date_trunc('week', coalesce(o.paid_at, o.created_at))::date as week
    from orders o
    where coalesce(o.paid_at, o.created_at) is null
       or coalesce(o.paid_at, o.created_at) <= (select as_of from clock)
),

-- every flagged or liable order with its shop (its order's, else its flag's, else its liability's)
judged as (
    select
        coalesce(f.order_id, l.order_id)                          as order_id,
        coalesce((select shop from params), o.shop, f.shop, l.shop, '') as shop,
        f.kind,
        f.responsibility,
        f.decision,
        f.hold                                                    as flag_hold,
        f.affected_amount,
        l.status,
        l.total_yuan,
        l.compensation_yuan,
        l.points,
        l.at_risk_yuan,
        l.recoverable_yuan,
        l.deadline
    from flags f
    full join liabilities l using (order_id)
    left join orders o on o.order_id = coalesce(f.order_id, l.order_id)
),

short_of as (
    select order_id
    from judged
    where kind in ('short', 'empty') and coalesce(status, '') <> 'excluded'
),

order_counts as (
    select s.shop, count(*) as orders, count(x.order_id) as short_orders
    from seen_orders s
    left join short_of x using (order_id)
    group by s.shop
),

judged_sums as (
    select
        shop,
        count(*) filter (where kind is not null)                                       as flagged,
        count(*) filter (where status = 'owed')                                        as owed_orders,
        sum(total_yuan) filter (where status = 'owed')                                 as owed_yuan,
        sum(compensation_yuan) filter (where status = 'owed')                          as compensation_yuan,
        sum(points) filter (where status = 'owed')                                     as points,
        count(*) filter (where responsibility = 'undetermined' and decision is null
                         and (flag_hold is null or flag_hold = 'data_problem'))        as review_orders,
        sum(affected_amount) filter (where responsibility = 'undetermined' and decision is null
                         and (flag_hold is null or flag_hold = 'data_problem'))        as review_yuan,
        count(*) filter (where status = 'curable')                                     as curable_orders,
        sum(at_risk_yuan) filter (where status = 'curable')                            as at_risk_yuan,
        min(deadline) filter (where status = 'curable')                                as next_deadline,
        count(*) filter (where status = 'courier')                                     as courier_orders,
        sum(recoverable_yuan) filter (where status = 'courier')                        as recoverable_yuan,
        count(*) filter (where status = 'awaiting_data')                               as awaiting_data_orders,
        sum(total_yuan)                                                                as total_yuan
    from judged
    group by shop
),

-- the nearest deadlines of each shop's curable orders
nearest as (
    select
        shop,
        list(struct_pack(order_id := order_id, deadline := deadline, at_risk_yuan := at_risk_yuan::decimal(18, 2))
             order by deadline, order_id)                                              as deadlines
    from (
        select shop, order_id, deadline, at_risk_yuan,
               row_number() over (partition by shop order by deadline, order_id)      as n
        from judged
        where status = 'curable' and deadline is not null
    )
    where n <= 5
    group by shop
),

-- the short rate by week, over the window ending with the clock's week
window_weeks as (
    select
        s.shop,
        s.week,
        count(*)                                                  as orders,
        count(x.order_id)                                         as short_orders
    from seen_orders s
    left join short_of x using (order_id)
    where s.week is not null
      and s.week <= date_trunc('week', (select as_of from clock))::date
      and s.week > date_trunc('week', (select as_of from clock))::date
                   - to_weeks((select trend_weeks from params))
    group by s.shop, s.week
),

ranked_weeks as (
    select *, row_number() over (partition by shop order by week desc) as back
    from window_weeks
),

trend as (
    select
        shop,
        list(struct_pack(week := week, orders := orders::bigint, short_orders := short_orders::bigint,
                         short_rate := (short_orders / orders)::double) order by week) as weeks,
        (sum(short_orders) filter (where back = 1) / sum(orders) filter (where back = 1))::double
                                                                  as short_rate_last_week,
        (sum(short_orders) filter (where back > 1) / sum(orders) filter (where back > 1))::double
                                                                  as short_rate_before
    from ranked_weeks
    group by shop
),

-- every shop with an order or a flag; the given shop always (a shop folder of nothing yet)
shops as (
    select shop from order_counts
    union
    select shop from judged_sums
    union
    select shop from params where shop is not null
),

final as (
    select
        s.shop,
        coalesce(o.orders, 0)::bigint                             as orders,
        coalesce(j.flagged, 0)::bigint                            as flagged,
        coalesce(o.short_orders, 0)::bigint                       as short_orders,
        case when coalesce(o.orders, 0) > 0 then (o.short_orders / o.orders)::double end as short_rate,
        coalesce(j.owed_orders, 0)::bigint                        as owed_orders,
        coalesce(j.owed_yuan, 0)::decimal(18, 2)                  as owed_yuan,
        coalesce(j.compensation_yuan, 0)::decimal(18, 2)          as compensation_yuan,
        coalesce(j.points, 0)::bigint                             as points,
        coalesce(j.review_orders, 0)::bigint                      as review_orders,
        coalesce(j.review_yuan, 0)::decimal(18, 2)                as review_yuan,
        coalesce(j.curable_orders, 0)::bigint                     as curable_orders,
        coalesce(j.at_risk_yuan, 0)::decimal(18, 2)               as at_risk_yuan,
        j.next_deadline                                           as next_deadline,
        n.deadlines                                               as deadlines,
        coalesce(j.courier_orders, 0)::bigint                     as courier_orders,
        coalesce(j.recoverable_yuan, 0)::decimal(18, 2)           as recoverable_yuan,
        coalesce(j.awaiting_data_orders, 0)::bigint               as awaiting_data_orders,
        coalesce(j.total_yuan, 0)::decimal(18, 2)                 as total_yuan,
        t.weeks                                                   as weeks,
        t.short_rate_last_week                                    as short_rate_last_week,
        t.short_rate_before                                       as short_rate_before,
        (t.short_rate_last_week - t.short_rate_before)::double   as trend,
        (select as_of from clock)                                 as as_of
    from shops s
    left join order_counts o using (shop)
    left join judged_sums j using (shop)
    left join nearest n using (shop)
    left join trend t using (shop)
    order by owed_yuan desc, review_yuan desc, review_orders desc, s.shop
)

select * from final
