-- root_causes.parquet: where short shipments come from.
-- Grain: one row per dimension × value: dimension shop, sku, day, week, and, when the
--   shipments file has the optional columns, packer and warehouse.
-- Inputs: orders, order_lines, shipments, flags, liabilities.
-- orders: the loaded orders of that value (a SKU: the orders holding it; a packer or
--   warehouse: the orders whose first parcels it packed or sent; a day: the day of payment,
--   else of creation; a week: the Monday of that day's week).
-- short_orders: orders flagged short or empty, wrong_orders: flagged wrong, neither counted
--   when the liability is excluded (the buyer's fault or outside the rules). A flag that names
--   its SKU counts for that SKU only, else for every SKU of the order.
-- short_rate = short_orders / orders; short_rate_low: the lower end of its 95 % Wilson
--   interval, which ranks 30 short out of 200 above 1 out of 1.
-- missing_qty, affected_amount: units and paid value of the goods concerned, short orders.
with

faults as (
    select
        f.order_id,
        f.sku                                                   as flag_sku,
        f.kind in ('short', 'empty')                            as is_short,
        f.kind = 'wrong'                                        as is_wrong,
        f.missing_qty,
        f.affected_amount
    from flags f
    left join liabilities l using (order_id)
    where f.kind in ('short', 'empty', 'wrong') and coalesce(l.status, '') <> 'excluded'
),

order_days as (
    select order_id, coalesce(shop, '') as shop, coalesce(paid_at, created_at)::date as day from orders
),

order_skus as (
    select distinct order_id, sku from order_lines where sku is not null
),

order_packers as (
    select distinct order_id, packer from shipments where packer is not null and not reship
),

order_warehouses as (
    select distinct order_id, warehouse from shipments where warehouse is not null and not reship
),

-- the orders of each value: each dimension grouped on its own key (a day as a date), not one
-- union of every (dimension, order, value) grouped by text; a week sums its days
days as (
    select day, count(*) as orders from order_days where day is not null group by day
),

totals as (
    select 'shop' as dimension, shop as value, count(*) as orders from order_days group by shop
    union all
    select 'day', day::varchar, orders from days
    union all
    select 'week', date_trunc('week', day)::date::varchar, sum(orders)::bigint from days group by date_trunc('week', day)
    union all
    select 'sku', sku, count(*) from order_skus group by sku
    union all
    select 'packer', packer, count(*) from order_packers group by packer
    union all
    select 'warehouse', warehouse, count(*) from order_warehouses group by warehouse
),

-- the values of the faulted orders only (a flag is one row per order: at most one fault a member)
fault_days as (
    select o.order_id, o.shop, o.day from order_days o semi join faults f using (order_id)
),

fault_members as (
    select 'shop' as dimension, order_id, shop as value, false as by_sku from fault_days
    union all
    select 'day', order_id, day::varchar, false from fault_days where day is not null
    union all
    select 'week', order_id, date_trunc('week', day)::date::varchar, false from fault_days where day is not null
    union all
    select 'sku', order_id, sku, true from order_skus semi join faults f using (order_id)
    union all
    select 'packer', order_id, packer, false from order_packers semi join faults f using (order_id)
    union all
    select 'warehouse', order_id, warehouse, false from order_warehouses semi join faults f using (order_id)
),

fault_counts as (
    select
        m.dimension,
        m.value,
        count(*) filter (where f.is_short)                      as short_orders,
        count(*) filter (where f.is_wrong)                      as wrong_orders,
        sum(f.missing_qty) filter (where f.is_short)            as missing_qty,
        sum(f.affected_amount) filter (where f.is_short)        as affected_amount
    from fault_members m
    join faults f
        on f.order_id = m.order_id and (not m.by_sku or f.flag_sku is null or f.flag_sku = m.value)
    group by m.dimension, m.value
),

counted as (
    select
        t.dimension,
        t.value,
        t.orders,
        coalesce(c.short_orders, 0)                             as short_orders,
        coalesce(c.wrong_orders, 0)                             as wrong_orders,
        c.missing_qty,
        c.affected_amount
    from totals t
    left join fault_counts c using (dimension, value)
),

final as (
    select
        dimension,
        value,
        orders::bigint                                          as orders,
        short_orders::bigint                                    as short_orders,
        wrong_orders::bigint                                    as wrong_orders,
        (short_orders / orders)::double                         as short_rate,
        greatest(0, (short_orders / orders + 1.9208 / orders
          - 1.96 * sqrt((short_orders / orders) * (1 - short_orders / orders) / orders
                        + 0.9604 / (orders * orders)))
         / (1 + 3.8416 / orders))::double                       as short_rate_low,
        coalesce(missing_qty, 0)::bigint                        as missing_qty,
        coalesce(affected_amount, 0)::decimal(18, 2)            as affected_amount
    from counted
    order by list_position(['shop', 'sku', 'packer', 'warehouse', 'day', 'week'], dimension), value
)

select * from final
