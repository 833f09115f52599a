-- Signal parcel_weight, part one: the parcels that weigh clearly less than the SKUs they claim
-- to hold (what they were to hold and its value: signals/parcel_weight.sql).
-- What a parcel should weigh is learnt from the shipments file itself, per SKU, from the orders
-- shipped complete as one row (one SKU, the quantity ordered, no re-shipment: fl_ship_orders),
-- a SKU learnt from at least $min_samples of them:
--   weight = packaging + units × unit weight: the unit weight is the least-squares slope over
--   the median weight of each quantity, the packaging the median of weight − slope × units;
--   the scatter (noise) is 1.4826 × the median absolute residual;
--   a SKU × quantity seen at least $min_samples times is compared with its own median instead.
-- A parcel with several SKUs uses the median packaging of all SKUs. The scatter is never taken
-- below that of all parcels pooled (a handful of parcels understates it) and grows with the
-- uncertainty of an expectation learnt from few parcels (× sqrt(1 + π/2n)).
-- A parcel is (order, tracking_no, shipped_at) (grouped by tracking_no itself, NULL with NULL:
-- loading never leaves it '' (ss_tracking), so tk = coalesce(tracking_no, '') is the same key
-- and is worked out per parcel, not per row). Its weight is weight_kg summed over its rows,
-- or, when every row repeats one value (the whole parcel's weight on each row), that value.
-- Light: lighter than expected by more than $weight_noise × the scatter and by at least half a
-- unit, and its contents (weight − packaging) under $empty_ratio of what they should weigh:
-- empty; under $light_ratio, for a parcel of one SKU in a quantity seen often enough to have its
-- own median (no extrapolation along the line): short, the missing units estimated from the
-- missing weight.
-- Grain: one row per order with a light parcel (its lightest, relative to expectation).
-- Inputs: shipments, fl_ship_orders. Params: $as_of, $light_ratio, $empty_ratio, $min_samples,
-- $weight_noise.
with

samples as (
    select sku, quantity as q, weight_kg::double as w
    from fl_ship_orders
    where complete and ship_rows = 1 and sku is not null and quantity > 0 and weight_kg > 0
),

bins as (
    select sku, q, median(w) as w_med, count(*) as n
    from samples
    group by sku, q
),

-- the slope from exact sums (ss_slope: the same whatever order DuckDB's threads add the bins up)
slopes as (
    select sku, ss_slope(q, w_med) as unit_kg
    from bins
    group by sku
    having count(*) >= 2 and sum(n) >= $min_samples
),

models as (
    select
        s.sku,
        sl.unit_kg,
        median(s.w - sl.unit_kg * s.q)                          as pack_kg
    from samples s
    join slopes sl using (sku)
    where sl.unit_kg > 0
    group by s.sku, sl.unit_kg
),

-- each sample's distance from its SKU's line (read twice below: per SKU and pooled)
residuals as materialized (
    select m.sku, abs(s.w - (m.pack_kg + m.unit_kg * s.q)) as r
    from samples s
    join models m using (sku)
),

noise as (
    select
        m.sku,
        m.unit_kg,
        m.pack_kg,
        1.4826 * r.sigma                                        as sigma_kg
    from models m
    join (select sku, median(r) as sigma from residuals group by sku) r using (sku)
),

bin_noise as (
    select b.sku, b.q, b.w_med, b.n, 1.4826 * median(abs(s.w - b.w_med)) as sigma_kg
    from bins b
    join samples s on s.sku = b.sku and s.q = b.q
    where b.n >= $min_samples
    group by all
),

-- the scatter of all parcels around their SKU's line, pooled
pooled as (
    select 1.4826 * median(r) as sigma_kg
    from residuals
),

overall as (
    select
        (select median(pack_kg) from noise)                     as pack_kg,
        (select sigma_kg from pooled)                           as sigma_kg
),

-- per SKU: how many parcels it is learnt from, and its line (one lookup per shipment row)
sku_learnt as (
    select c.sku, c.n, n.sku is not null as modelled, n.unit_kg, n.pack_kg, n.sigma_kg
    from (select sku, count(*) as n from samples group by sku) c
    left join noise n using (sku)
),

ship as (
    select order_id, tracking_no, shipped_at, sku, quantity, weight_kg
    from shipments
    where shipped_at <= $as_of and sku is not null and quantity > 0
),

-- each row with what its SKU should weigh (the tables learnt above are small)
rows_expected as (
    select
        s.order_id,
        s.shipped_at,
        s.tracking_no,
        s.quantity,
        s.weight_kg,
        coalesce(n.modelled, false) or bn.sku is not null       as known,
        coalesce(bn.w_med, n.pack_kg + n.unit_kg * s.quantity)  as single_kg,
        n.unit_kg * s.quantity                                  as units_kg,
        n.pack_kg                                               as own_pack_kg,
        coalesce(bn.sigma_kg, n.sigma_kg)                       as own_sigma_kg,
        coalesce(bn.n, n.n)                                     as learnt_from,
        coalesce(n.unit_kg, bn.w_med / s.quantity)              as unit_kg,
        bn.sku is not null                                      as has_bin
    from ship s
    left join sku_learnt n on n.sku = s.sku
    left join bin_noise bn on bn.sku = s.sku and bn.q = s.quantity
),

-- each parcel's weight and what it should weigh, in one pass over the rows
parcel_sums as (
    select
        order_id,
        tracking_no,
        shipped_at,
        count(*)                                                as n_rows,
        count(weight_kg)                                        as n_weighed,
        min(weight_kg)                                          as min_kg,
        max(weight_kg)                                          as max_kg,
        sum(weight_kg)                                          as sum_kg,
        bool_and(known)                                         as all_known,
        max(single_kg)                                          as single_kg,
        sum(units_kg::decimal(38, 9))::double                  as units_kg,   -- exact: any order
        max(own_pack_kg)                                        as own_pack_kg,
        max(own_sigma_kg)                                       as own_sigma_kg,
        min(learnt_from)                                        as learnt_from,
        min(unit_kg)                                            as min_unit_kg,
        bool_and(has_bin)                                       as all_bin,
        sum(quantity)                                           as units
    from rows_expected
    group by order_id, tracking_no, shipped_at
),

parcels as (
    select
        p.order_id,
        coalesce(p.tracking_no, '')                             as tk,
        p.shipped_at,
        p.tracking_no,
        p.n_rows,
        p.n_weighed,
        -- the rows' weights added up, or the one value every row repeats
        case when p.n_rows > 1 and p.min_kg = p.max_kg and p.n_weighed = p.n_rows
             then p.max_kg else p.sum_kg end::double            as weight_kg,
        p.all_known,
        -- single SKU: its own bin, else its own line; several: the shared packaging
        case when p.n_rows = 1 then p.single_kg else o.pack_kg + p.units_kg end as expected_kg,
        case when p.n_rows = 1 then coalesce(p.own_pack_kg, o.pack_kg) else o.pack_kg end as pack_kg,
        -- the scatter of one parcel plus the uncertainty of an expectation learnt from n parcels
        greatest(case when p.n_rows = 1 then p.own_sigma_kg end, o.sigma_kg)
            * sqrt(1 + 1.5708 / p.learnt_from)                  as sigma_kg,
        p.min_unit_kg,
        p.n_rows = 1 and p.all_bin                              as own_bin,
        p.units
    from parcel_sums p
    cross join overall o
),

light as (
    select
        *,
        expected_kg - weight_kg                                 as deficit_kg,
        (weight_kg - coalesce(pack_kg, 0)) / nullif(expected_kg - coalesce(pack_kg, 0), 0)
                                                                as contents_ratio
    from parcels
    where all_known and n_weighed = n_rows and expected_kg > 0 and sigma_kg is not null
      and expected_kg - weight_kg > $weight_noise * sigma_kg
      and expected_kg - weight_kg >= 0.5 * min_unit_kg
),

judged as (
    select
        *,
        case when contents_ratio < $empty_ratio then 'empty' else 'short' end as kind,
        case
            when contents_ratio < $empty_ratio then units
            else greatest(1, least(units, round(deficit_kg / (
                     (expected_kg - coalesce(pack_kg, 0)) / units))::bigint))
        end                                                     as missing
    from light
    where contents_ratio < $empty_ratio or (own_bin and contents_ratio < $light_ratio)
    qualify row_number() over (partition by order_id order by contents_ratio, shipped_at, tk) = 1
),

final as (
    select * exclude (all_known) from judged
)

select * from final
