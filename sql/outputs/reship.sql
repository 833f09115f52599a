-- reship.csv: what the warehouse (or the ERP) still has to send, order by order and SKU by SKU.
-- Grain: one row per order × SKU still to send (lines of one order that share a SKU are one
--   row; a line without a SKU code is its own row).
-- Inputs: liabilities, flags (this run), orders, order_lines, shipments. Params: $as_of.
-- Orders: those the shop is at fault for and whose goods the buyer still lacks:
--   curable (re-ship before the deadline and nothing is owed), then owed orders not re-shipped
--   whose goods were not refunded either (goods_refund_yuan > 0); never an order closed
--   (交易关闭), never an order paid after $as_of. Parcels shipped after $as_of are not seen.
-- Units to send, per SKU (basis):
--   shipments    the shipments file holds the order with SKU codes and falls short of the
--                lines: ordered − shipped (first parcels and re-shipments) per SKU
--   flag_line    else the line the flag names: its missing units − units re-shipped since
--   single_line  else the order's only SKU: the missing units − units re-shipped
--   whole_order  else, for an empty, lost or unshipped order: every line, ordered − re-shipped
--   undetermined else one row without a SKU: the missing units (a person decides which)
-- deadline / hours_left: the ship-by of the order and the hours from $as_of to it (negative
-- when passed); penalty_avoided_yuan: the penalty of the whole order that re-shipping in time
-- avoids (curable; 0 for an owed order), on each of the order's rows.
with

candidates as (
    select
        l.order_id,
        l.shop,
        f.buyer,
        l.status,
        l.kind,
        l.deadline,
        l.at_risk_yuan,
        f.sku                                                   as flag_sku,
        f.line_no                                               as flag_line_no,
        f.missing_qty
    from liabilities l
    join flags f using (order_id)
    join orders o using (order_id)
    where (l.status = 'curable'
           or (l.status = 'owed' and l.goods_refund_yuan > 0 and f.reshipped_at is null))
      and coalesce(o.status, '') <> 'closed'
      and (o.paid_at is null or o.paid_at <= $as_of)
),

lines as (
    select
        l.order_id,
        coalesce(l.sku, '#' || l.line_no)                       as key,
        l.sku,
        l.line_no,
        l.line_id,
        l.title,
        l.attributes,
        l.quantity
    from order_lines l
    semi join candidates c using (order_id)
    where coalesce(l.status, '') <> 'closed'
),

skus as (
    select
        order_id,
        key,
        any_value(sku)                                          as sku,
        min(line_no)                                            as line_no,
        string_agg(distinct line_id, ' ')                       as line_id,
        min(title)                                              as title,
        string_agg(distinct attributes, '; ')                   as attributes,
        sum(quantity)                                           as ordered_qty
    from lines
    group by order_id, key
),

ship as (
    select s.order_id, s.sku, s.quantity, s.reship
    from shipments s
    semi join candidates c using (order_id)
    where s.shipped_at <= $as_of
),

shipped as (
    select
        order_id,
        sku,
        sum(quantity)                                           as shipped_qty,
        coalesce(sum(quantity) filter (where reship), 0)        as reshipped_qty
    from ship
    where sku is not null
    group by order_id, sku
),

-- can the shipments file say what is missing SKU by SKU?
ship_known as (
    select order_id
    from ship
    group by order_id
    having bool_and(sku is not null and quantity is not null)
),

per_sku as (
    select
        s.*,
        coalesce(sh.shipped_qty, 0)                             as shipped_qty,
        coalesce(sh.reshipped_qty, 0)                           as reshipped_qty,
        greatest(s.ordered_qty - coalesce(sh.shipped_qty, 0), 0) as ship_gap
    from skus s
    left join shipped sh on sh.order_id = s.order_id and sh.sku = s.sku
),

sku_sums as (
    select
        order_id,
        bool_and(sku is not null)                               as all_skus,
        sum(ship_gap)                                           as ship_gap,
        count(*)                                                as n_skus,
        sum(reshipped_qty)                                      as reshipped_qty
    from per_sku
    group by order_id
),

per_order as (
    select
        c.*,
        coalesce(c.flag_sku, fk.key)                            as flag_key,
        k.order_id is not null and coalesce(s.all_skus, false)  as by_shipments,
        coalesce(s.ship_gap, 0)                                 as ship_gap,
        coalesce(s.n_skus, 0)                                   as n_skus,
        coalesce(s.reshipped_qty, 0)                            as reshipped_qty
    from candidates c
    left join sku_sums s using (order_id)
    left join ship_known k using (order_id)
    left join lines fk on fk.order_id = c.order_id and fk.line_no = c.flag_line_no
),

rows as (
    -- the shipments file shows the gap SKU by SKU
    select o.*, p.key, p.sku, p.line_no, p.line_id, p.title, p.attributes,
           p.ship_gap as quantity, 'shipments' as basis
    from per_order o
    join per_sku p using (order_id)
    where o.by_shipments and o.ship_gap > 0 and p.ship_gap > 0

    union all

    -- the line the flag names, or the order's only SKU
    select o.*, p.key, p.sku, p.line_no, p.line_id, p.title, p.attributes,
           o.missing_qty - p.reshipped_qty as quantity,
           case when o.flag_key is not null then 'flag_line' else 'single_line' end as basis
    from per_order o
    join per_sku p using (order_id)
    where not (o.by_shipments and o.ship_gap > 0)
      and (p.key = o.flag_key or (o.flag_key is null and o.n_skus = 1 and o.kind in ('short', 'wrong')))

    union all

    -- a whole order (empty parcel, lost, never shipped): every line not re-shipped yet
    select o.*, p.key, p.sku, p.line_no, p.line_id, p.title, p.attributes,
           p.ordered_qty - (case when o.kind = 'unshipped' then p.shipped_qty else p.reshipped_qty end) as quantity,
           'whole_order' as basis
    from per_order o
    join per_sku p using (order_id)
    where not (o.by_shipments and o.ship_gap > 0)
      and o.flag_key is null and o.kind in ('empty', 'not_received', 'unshipped')

    union all

    -- several SKUs, the data does not say which is missing
    select o.*, null as key, null as sku, null as line_no, null as line_id, null as title,
           null as attributes, o.missing_qty - o.reshipped_qty as quantity, 'undetermined' as basis
    from per_order o
    where not (o.by_shipments and o.ship_gap > 0)
      and o.flag_key is null and o.kind in ('short', 'wrong') and o.n_skus <> 1
),

final as (
    select
        order_id,
        shop,
        buyer,
        sku,
        title,
        attributes,
        quantity::bigint                                        as quantity,
        deadline,
        round(datediff('second', $as_of::timestamp, deadline) / 3600.0, 1)::decimal(10, 1) as hours_left,
        (case when status = 'curable' then at_risk_yuan else 0 end)::decimal(18, 2) as penalty_avoided_yuan,
        status,
        kind,
        basis,
        line_id,
        line_no::integer                                        as line_no
    from rows
    where quantity is null or quantity > 0
    order by case status when 'curable' then 0 else 1 end, deadline nulls last, order_id, line_no nulls last, sku
)

select * from final
