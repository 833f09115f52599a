-- courier_claims.csv: what the shop can claim back from each courier.
-- Grain: one row per order to claim, sorted by carrier, month and order.
-- Inputs: liabilities, flags, orders, order_lines, shipments, _act_parcels (temp: parcel
--   weights of these orders, sql/outputs/parcel_weights.sql). Params: $as_of, $claim_rule
--   (policy courier.claim), $postage_multiple (courier.postage_multiple), $freight_per_parcel
--   (freight.per_parcel_yuan), $noise (detection.weight_noise_sigmas).
-- Which orders (basis):
--   lost_in_transit         lost or damaged before the buyer signed for it (liability status
--                           courier): the goods value is what the shop owes the buyer
--   short_in_intact_parcel  a shortage the shop paid for (status owed or cured, kind short)
--                           although its first parcels left complete: the shipments file holds
--                           every unit ordered and every first parcel weighs what those units
--                           should (parcel_weights weight_ok) while the missing units weigh at
--                           least twice the margin a parcel may be light by ($noise × its
--                           scatter): the scale would have shown them missing at dispatch, so
--                           the units went missing in transit
-- freight_yuan: the order's postage (买家应付邮费) when it has one, else the policy's estimate
-- per parcel × the parcels sent. claim_yuan: declared_value → the goods value;
-- postage_multiple → the goods value, at most $postage_multiple × freight_yuan.
-- carrier: the order's 物流公司, else its lines'; month: of the first parcel (else the order's
-- ship time, else its payment). tracking_nos: every tracking number of the order (shipments
-- file, order and item exports), sorted.
with

lost as (
    select l.order_id, l.shop, l.status, l.kind, 'lost_in_transit' as basis,
           coalesce(l.recoverable_yuan, f.affected_amount, 0) as goods_value
    from liabilities l
    left join flags f using (order_id)
    where l.status = 'courier'
),

short_candidates as (
    select l.order_id, l.shop, l.status, l.kind, coalesce(f.affected_amount, 0) as goods_value,
           f.missing_qty, f.sku as flag_sku
    from liabilities l
    join flags f using (order_id)
    where l.kind = 'short' and l.status in ('owed', 'cured') and f.missing_qty > 0
),

ordered as (
    select l.order_id, l.sku, sum(l.quantity) as ordered_qty
    from order_lines l
    semi join short_candidates c using (order_id)
    where coalesce(l.status, '') <> 'closed'
    group by all
),

first_shipped as (
    select s.order_id, s.sku, sum(s.quantity) as shipped_qty
    from shipments s
    semi join short_candidates c using (order_id)
    where not s.reship and s.shipped_at <= $as_of
    group by all
),

complete as (
    select o.order_id
    from ordered o
    left join first_shipped s on s.order_id = o.order_id and s.sku = o.sku
    group by o.order_id
    having bool_and(o.sku is not null and coalesce(s.shipped_qty, 0) >= o.ordered_qty)
),

-- what the missing units weigh: the flagged SKU's unit weight, else the lightest of the order's SKUs
unit_weights as (
    select c.order_id, c.missing_qty * min(w.unit_kg) as missing_kg
    from short_candidates c
    join order_lines l on l.order_id = c.order_id and (c.flag_sku is null or l.sku = c.flag_sku)
    join (select distinct sku, unit_kg from _act_sku_weights where unit_kg > 0) w on w.sku = l.sku
    group by c.order_id, c.missing_qty
),

-- every first parcel weighs what it should, and would have shown the missing units: they
-- weigh at least twice the margin a parcel may be light by ($noise × its scatter)
intact as (
    select p.order_id
    from _act_parcels p
    join unit_weights u using (order_id)
    where not p.reship
    group by p.order_id
    having bool_and(p.weight_ok) and min(u.missing_kg) >= 2 * $noise * max(p.sigma_kg)
),

short_intact as (
    select c.order_id, c.shop, c.status, c.kind, 'short_in_intact_parcel' as basis, c.goods_value
    from short_candidates c
    semi join complete using (order_id)
    semi join intact using (order_id)
),

claims as (
    select * from lost
    union all
    select * from short_intact
),

parcels as (
    select
        order_id,
        count(*) filter (where not reship)                      as first_parcels,
        min(shipped_at)                                         as first_shipped_at,
        sum(weight_kg) filter (where not reship)                as weight_kg,
        sum(expected_kg) filter (where not reship)              as expected_kg
    from _act_parcels
    semi join claims using (order_id)
    group by order_id
),

tracking as (
    select order_id, list_sort(list_distinct(list(tk))) as tracking_nos
    from (
        select s.order_id, s.tracking_no as tk from shipments s semi join claims using (order_id)
        where s.shipped_at <= $as_of and s.tracking_no is not null
        union all
        select o.order_id, o.tracking_no from orders o semi join claims using (order_id)
        where o.tracking_no is not null
        union all
        select l.order_id, l.tracking_no from order_lines l semi join claims using (order_id)
        where l.tracking_no is not null
    )
    group by order_id
),

line_carriers as (
    select order_id, min(carrier) as carrier
    from order_lines l
    semi join claims using (order_id)
    where carrier is not null
    group by order_id
),

priced as (
    select
        c.*,
        coalesce(o.carrier, lc.carrier)                         as carrier,
        coalesce(p.first_shipped_at, o.shipped_at, o.paid_at)   as shipped_at,
        coalesce(t.tracking_nos, [])                            as tracking_nos,
        p.weight_kg,
        p.expected_kg,
        case when o.postage > 0 then o.postage
             else $freight_per_parcel::decimal(18, 2) * greatest(coalesce(p.first_parcels, 1), 1)
        end::decimal(18, 2)                                     as freight_yuan,
        case when o.postage > 0 then 'order_postage' else 'policy_estimate' end as freight_source
    from claims c
    left join orders o using (order_id)
    left join line_carriers lc using (order_id)
    left join parcels p using (order_id)
    left join tracking t using (order_id)
),

final as (
    select
        carrier,
        strftime(shipped_at, '%Y-%m')                           as month,
        order_id,
        shop,
        basis,
        status,
        kind,
        tracking_nos,
        shipped_at,
        goods_value::decimal(18, 2)                             as goods_value_yuan,
        freight_yuan,
        freight_source,
        $claim_rule::varchar                                    as claim_rule,
        (case
            when $claim_rule = 'declared_value' then goods_value
            else least(goods_value, $postage_multiple::decimal(18, 2) * freight_yuan)
        end)::decimal(18, 2)                                    as claim_yuan,
        weight_kg,
        expected_kg
    from priced
    order by carrier nulls last, month nulls last, order_id
)

select * from final
