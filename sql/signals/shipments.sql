-- Signal shipments: the shop's own shipping record (the shipments file) shows fewer units than
-- ordered. Strong, and the shop's own record (responsibility merchant). Rules:
--   ship_shortfall  the first parcels (reship = false) hold fewer units of a SKU than ordered
--   ship_reship     a re-shipment parcel (reship = true) exists: itself a record of a shortage
--   ship_wrong_sku  a SKU not on the order was shipped while an ordered SKU fell short (wrong)
-- The shortage is cured when the units shipped by ship_by reach the quantity ordered for every
-- SKU, owed when they reach it only later (reshipped_at) or never. A shortage nobody complained
-- about yet is flagged all the same, with ship_by as the deadline to re-ship.
-- Grain: one row per order with a shortage in the shipments file.
-- SKUs are compared when both the shipments rows and the order lines carry them; otherwise the
-- order's units are compared in total. Lines closed (交易关闭, refunded whole) are not expected
-- in parcels. Rows shipped after $as_of are not seen yet; rows with no quantity cannot be counted.
-- Inputs: shipments, fl_ship_orders, fl_orders, fl_lines. Params: $as_of.
with

ship_all as (
    select s.*
    from shipments s
    where s.shipped_at <= $as_of
),

-- most orders ship exactly what was ordered, in one go: fl_ship_orders compares units and a
-- checksum of the SKUs per order; only its candidates are looked at closely here
candidates as (
    select order_id from fl_ship_orders where candidate
),

ship as (
    select s.*
    from ship_all s
    semi join candidates c using (order_id)
),

line_skus as (
    select order_id, bool_and(sku is not null) as all_lines_have_sku
    from fl_lines
    semi join candidates using (order_id)
    group by order_id
),

modes as (
    select
        s.order_id,
        bool_and(s.sku is not null) and coalesce(any_value(ls.all_lines_have_sku), false) as by_sku
    from ship s
    left join line_skus ls using (order_id)
    group by s.order_id
),

ordered as (
    select
        l.order_id,
        case when m.by_sku then l.sku else '*' end              as key,
        sum(l.quantity)                                         as ordered_qty,
        sum(l.line_paid)                                        as paid,
        min(l.line_no)                                          as line_no,
        min(l.title)                                            as title,
        min(l.price)                                            as price
    from fl_lines l
    join modes m using (order_id)
    where not l.closed
    group by all
),

shipped_rows as (
    select
        s.*,
        case when m.by_sku then s.sku else '*' end              as key,
        f.ship_by
    from ship s
    join modes m using (order_id)
    join fl_orders f using (order_id)
),

shipped as (
    select
        order_id,
        key,
        sum(quantity) filter (where not reship)                 as first_qty,
        sum(quantity) filter (where reship)                     as reship_qty,
        bool_or(reship)                                         as has_reship,
        bool_or(quantity is null)                               as unknown_qty,
        sum(quantity) filter (where shipped_at <= ship_by)      as by_deadline_qty,
        max(shipped_at) filter (where reship)                   as last_reship_at
    from shipped_rows
    group by order_id, key
),

-- when the cumulative units of each key reached the quantity ordered
reached as (
    select order_id, key, min(shipped_at) as reached_at
    from (
        select
            r.order_id, r.key, r.shipped_at, o.ordered_qty,
            sum(r.quantity) over (
                partition by r.order_id, r.key order by r.shipped_at
                range between unbounded preceding and current row
            )                                                   as cum_qty
        from shipped_rows r
        join ordered o using (order_id, key)
        where r.quantity is not null
    )
    where cum_qty >= ordered_qty
    group by order_id, key
),

by_key as (
    select
        coalesce(o.order_id, s.order_id)                        as order_id,
        coalesce(o.key, s.key)                                  as key,
        o.ordered_qty,
        o.paid,
        o.line_no,
        o.title,
        o.price,
        coalesce(s.first_qty, 0)                                as first_qty,
        coalesce(s.reship_qty, 0)                               as reship_qty,
        coalesce(s.has_reship, false)                           as has_reship,
        coalesce(s.unknown_qty, false)                          as unknown_qty,
        coalesce(s.by_deadline_qty, 0)                          as by_deadline_qty,
        s.last_reship_at,
        r.reached_at,
        o.ordered_qty is null                                   as foreign_key,
        o.ordered_qty is not null and not coalesce(s.unknown_qty, false)
            and coalesce(s.first_qty, 0) < o.ordered_qty        as first_short
    from ordered o
    full join shipped s using (order_id, key)
    left join reached r using (order_id, key)
),

-- a re-shipment parcel on a SKU whose first parcels look complete is itself the record of a
-- shortage of that many units, made good when the re-shipment left
per_key as (
    select
        b.*,
        f.ship_by,
        case
            when first_short then ordered_qty - first_qty
            when has_reship and ordered_qty is not null then least(reship_qty, ordered_qty)
            else 0
        end                                                     as missing,
        case
            when first_short then reached_at
            when has_reship then last_reship_at
        end                                                     as made_good_at,
        case
            when first_short then by_deadline_qty >= ordered_qty
            when has_reship then last_reship_at <= f.ship_by
        end                                                     as made_good_in_time
    from by_key b
    join fl_orders f using (order_id)
),

per_order as (
    select
        order_id,
        any_value(ship_by)                                      as ship_by,
        bool_or(first_short)                                    as first_short,
        bool_or(has_reship)                                     as has_reship,
        bool_or(foreign_key)                                    as has_foreign,
        sum(missing) filter (where not foreign_key)             as missing_qty,
        sum(case when missing > 0 then fl_share(paid, missing, ordered_qty) else 0 end)
            filter (where not foreign_key)                      as affected_amount,
        -- made good for every short key, else never
        case when bool_and(made_good_at is not null) filter (where missing > 0)
             then max(made_good_at) filter (where missing > 0) end as reached_at,
        coalesce(bool_and(coalesce(made_good_in_time, false)) filter (where missing > 0), false)
                                                                as complete_by_deadline,
        min(line_no) filter (where missing > 0)                 as line_no,
        case when count(*) filter (where missing > 0 and key <> '*') = 1
             then min(key) filter (where missing > 0) end       as sku,
        -- what the file shows per SKU, as facts (sql/flags/macros.sql fl_fact)
        fl_lead(flatten(list(
            case when foreign_key
                 then [fl_fact('row', 'shipments.not_ordered', ['sku', 'n'], [key, (first_qty + reship_qty)::varchar])]
                 else fl_facts([
                      case when key = '*'
                           then fl_fact('row', 'shipments.all_lines', ['title', 'price', 'ordered', 'first'],
                                        [fl_quote(title), price::varchar, ordered_qty::varchar, first_qty::varchar])
                           else fl_fact('row', 'shipments.sku', ['sku', 'title', 'price', 'ordered', 'first'],
                                        [key, fl_quote(title), price::varchar, ordered_qty::varchar, first_qty::varchar])
                      end,
                      case when has_reship then fl_fact('item', 'shipments.reshipped', ['n', 'at'],
                                                        [reship_qty::varchar, fl_ts(last_reship_at)]) end,
                      fl_fact('item', 'shipments.by_ship_by', ['n'], [by_deadline_qty::varchar])])
            end order by key)), 'none')                         as detail
    from per_key
    where (first_short or has_reship or foreign_key)
      -- only the orders the signal fires on (final): the others' facts are never read
      and order_id in (select order_id from per_key where first_short or has_reship)
    group by order_id
),

final as (
    select
        p.order_id,
        case
            when p.has_foreign and p.first_short then 'ship_wrong_sku'
            when p.first_short then 'ship_shortfall'
            else 'ship_reship'
        end                                                     as rule,
        case when p.has_foreign and p.first_short then 'wrong' else 'short' end as kind,
        0.9::double                                             as confidence,
        'explicit'                                              as basis,
        true                                                    as is_primary,
        false                                                   as complaint,
        null::varchar                                           as refund_id,
        p.line_no,
        p.sku,
        p.missing_qty::bigint                                   as missing_qty,
        p.affected_amount::decimal(18, 2)                       as affected_amount,
        0::decimal(18, 2)                                       as refunded_amount,
        case when p.first_short or p.has_reship then p.reached_at end as reshipped_at,
        'merchant'                                              as resp,
        'shipments_record'                                      as resp_rule,
        [fl_fact0('row', 'shipments.file')] || p.detail || [
            case
                when p.missing_qty is null or p.missing_qty = 0 then fl_fact0('row', 'shipments.reship_on_record')
                when p.complete_by_deadline then fl_fact('row', 'shipments.cured', ['reached', 'ship_by'],
                                                         [fl_ts(p.reached_at), fl_ts(p.ship_by)])
                when p.reached_at is not null then fl_fact('row', 'shipments.reached_late', ['reached', 'ship_by'],
                                                           [fl_ts(p.reached_at), fl_ts(p.ship_by)])
                when p.ship_by > $as_of then fl_fact('row', 'shipments.still_curable', ['n', 'ship_by'],
                                                     [p.missing_qty::varchar, fl_ts(p.ship_by)])
                when p.ship_by is null then fl_fact('row', 'shipments.missing_no_ship_by', ['n'], [p.missing_qty::varchar])
                else fl_fact('row', 'shipments.missing_passed', ['n', 'ship_by'], [p.missing_qty::varchar, fl_ts(p.ship_by)])
            end]                                                as facts
    from per_order p
    where p.first_short or p.has_reship
)

select * from final
