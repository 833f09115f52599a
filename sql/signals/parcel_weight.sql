-- Signal parcel_weight: a parcel weighs clearly less than the SKUs it claims to hold. Which
-- parcels are light, and how many units they miss, is found by signals/parcel_light.sql
-- (fl_light_parcels); this model names what they were to hold and its paid value.
-- Grain: one row per order with a light parcel (its lightest parcel, relative to expectation).
-- The weights are the shop's own record (merchant).
-- Inputs: fl_light_parcels, shipments, fl_lines. Params: $as_of.
with

judged as (
    select * from fl_light_parcels
),

ship as (
    select s.order_id, coalesce(s.tracking_no, '') as tk, s.shipped_at, s.sku, s.quantity
    from shipments s
    semi join judged j on j.order_id = s.order_id
    where s.shipped_at <= $as_of and s.sku is not null and s.quantity > 0
),

ordered as (
    select order_id, sku, sum(quantity) as ordered_qty, sum(line_paid) as paid
    from fl_lines
    semi join judged using (order_id)
    where sku is not null and not closed
    group by order_id, sku
),

-- what the light parcels were to hold, and its paid value
contents as (
    select
        j.order_id,
        j.tk,
        j.shipped_at,
        sum(case when od.ordered_qty > 0 then fl_share(od.paid, s.quantity, od.ordered_qty) end) as goods_value,
        min(s.sku)                                              as one_sku,
        count(distinct s.sku)                                   as n_skus,
        string_agg(s.sku || ' × ' || s.quantity, ', ' order by s.sku) as contents
    from judged j
    join ship s on s.order_id = j.order_id and s.tk = j.tk and s.shipped_at = j.shipped_at
    left join ordered od on od.order_id = s.order_id and od.sku = s.sku
    group by all
),

final as (
    select
        j.order_id,
        'parcel_weight'                                         as rule,
        j.kind,
        case when j.kind = 'empty' then 0.7 else 0.6 end::double as confidence,
        'weight'                                                as basis,
        true                                                    as is_primary,
        false                                                   as complaint,
        null::varchar                                           as refund_id,
        null::integer                                           as line_no,
        case when c.n_skus = 1 then c.one_sku end               as sku,
        j.missing::bigint                                       as missing_qty,
        case when j.kind = 'empty' then c.goods_value
             else fl_share(c.goods_value, j.missing, j.units) end::decimal(18, 2) as affected_amount,
        0::decimal(18, 2)                                       as refunded_amount,
        null::timestamp                                         as reshipped_at,
        'merchant'                                              as resp,
        'shipments_record'                                      as resp_rule,
        [fl_fact('row', case when j.tracking_no is null then 'parcel_weight.untracked' else 'parcel_weight' end,
                 ['tracking_no', 'shipped_at', 'contents', 'weight', 'expected', 'sigma'],
                 [j.tracking_no, fl_ts(j.shipped_at), c.contents, printf('%.3f', j.weight_kg),
                  printf('%.3f', j.expected_kg), printf('%.3f', j.sigma_kg)])]  as facts
    from judged j
    join contents c using (order_id, tk, shipped_at)
)

select * from final
