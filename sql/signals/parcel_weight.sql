-- Signal parcel_weight: a parcel weighs clearly less than the SKUs it claims to hold.
-- Grain: one row per order with a light parcel (its lightest parcel, relative to expectation).
-- What a parcel should weigh is learnt from the shipments file itself, per SKU, from the
-- single-SKU first parcels of orders whose first parcels held the full quantity ordered
-- (at least $min_samples of them):
--   weight = packaging + units × unit weight: the unit weight is the least-squares slope over
--   the median weight of each quantity, the packaging the median of weight − slope × units;
--   the scatter (noise) is 1.4826 × the median absolute residual;
--   a SKU × quantity seen at least $min_samples times is compared with its own median instead.
-- A parcel with several SKUs uses the median packaging of all SKUs. The scatter is never taken
-- below that of all parcels pooled (a handful of parcels understates it) and grows with the
-- uncertainty of an expectation learnt from few parcels (× sqrt(1 + π/2n)).
-- A parcel is (order, tracking_no, shipped_at). Its weight is weight_kg summed over its rows,
-- or, when every row repeats one value (the whole parcel's weight on each row), that value.
-- Light: lighter than expected by more than $weight_noise × the scatter and by at least half a
-- unit, and its contents (weight − packaging) under $empty_ratio of what they should weigh:
-- empty; under $light_ratio, for a parcel of one SKU in a quantity seen often enough to have its
-- own median (no extrapolation along the line): short, the missing units estimated from the
-- missing weight.
-- The weights are the shop's own record (merchant).
-- Inputs: shipments, fl_lines. Params: $as_of, $light_ratio, $empty_ratio, $min_samples,
-- $weight_noise.
with

ship as (
    select *, coalesce(tracking_no, '') as tk
    from shipments
    where shipped_at <= $as_of and sku is not null and quantity > 0
),

parcels as (
    select
        order_id,
        tk,
        shipped_at,
        any_value(tracking_no)                                  as tracking_no,
        bool_or(reship)                                         as reship,
        count(*)                                                as n_rows,
        count(distinct sku)                                     as n_skus,
        count(weight_kg)                                        as n_weighed,
        case when count(*) > 1 and count(distinct weight_kg) = 1 and count(weight_kg) = count(*)
             then max(weight_kg) else sum(weight_kg) end::double as weight_kg
    from ship
    group by order_id, tk, shipped_at
),

ordered as (
    select order_id, sku, sum(quantity) as ordered_qty, sum(line_paid) as paid
    from fl_lines
    where sku is not null and not closed
    group by order_id, sku
),

first_shipped as (
    select order_id, sku, sum(quantity) as first_qty
    from ship
    where not reship
    group by order_id, sku
),

samples as (
    select s.sku, s.quantity as q, p.weight_kg as w
    from ship s
    join parcels p using (order_id, tk, shipped_at)
    join ordered o on o.order_id = s.order_id and o.sku = s.sku
    join first_shipped f on f.order_id = s.order_id and f.sku = s.sku
    where p.n_rows = 1 and not s.reship and p.weight_kg > 0 and f.first_qty >= o.ordered_qty
),

bins as (
    select sku, q, median(w) as w_med, count(*) as n
    from samples
    group by sku, q
),

slopes as (
    select sku, regr_slope(w_med, q) as unit_kg
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

noise as (
    select
        m.sku,
        m.unit_kg,
        m.pack_kg,
        1.4826 * median(abs(s.w - (m.pack_kg + m.unit_kg * s.q))) as sigma_kg
    from samples s
    join models m using (sku)
    group by all
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
    select 1.4826 * median(abs(s.w - (m.pack_kg + m.unit_kg * s.q))) as sigma_kg
    from samples s
    join models m using (sku)
),

overall as (
    select
        (select median(pack_kg) from noise)                     as pack_kg,
        (select sigma_kg from pooled)                           as sigma_kg
),

sample_counts as (
    select sku, count(*) as n from samples group by sku
),

expected as (
    select
        s.order_id,
        s.tk,
        s.shipped_at,
        count(*)                                                as n_rows,
        bool_and(n.sku is not null or bn.sku is not null)       as all_known,
        -- single SKU: its own bin, else its own line; several: the shared packaging
        case when count(*) = 1 then coalesce(max(bn.w_med), max(n.pack_kg + n.unit_kg * s.quantity))
             else max(o.pack_kg) + sum(n.unit_kg * s.quantity) end as expected_kg,
        case when count(*) = 1 then coalesce(max(n.pack_kg), max(o.pack_kg))
             else max(o.pack_kg) end                            as pack_kg,
        -- the scatter of one parcel plus the uncertainty of an expectation learnt from n parcels
        greatest(case when count(*) = 1 then coalesce(max(bn.sigma_kg), max(n.sigma_kg)) end,
                 max(o.sigma_kg))
            * sqrt(1 + 1.5708 / min(coalesce(bn.n, sc.n)))      as sigma_kg,
        min(coalesce(n.unit_kg, bn.w_med / s.quantity))         as min_unit_kg,
        count(*) = 1 and bool_and(bn.sku is not null)           as own_bin,
        sum(s.quantity)                                         as units
    from ship s
    cross join overall o
    left join noise n on n.sku = s.sku
    left join bin_noise bn on bn.sku = s.sku and bn.q = s.quantity
    left join sample_counts sc on sc.sku = s.sku
    group by s.order_id, s.tk, s.shipped_at
),

light as (
    select
        p.*,
        e.expected_kg,
        e.pack_kg,
        e.sigma_kg,
        e.min_unit_kg,
        e.units,
        e.own_bin,
        e.expected_kg - p.weight_kg                             as deficit_kg,
        (p.weight_kg - coalesce(e.pack_kg, 0)) / nullif(e.expected_kg - coalesce(e.pack_kg, 0), 0)
                                                                as contents_ratio
    from parcels p
    join expected e using (order_id, tk, shipped_at)
    where e.all_known and p.n_weighed = p.n_rows and e.expected_kg > 0 and e.sigma_kg is not null
      and e.expected_kg - p.weight_kg > $weight_noise * e.sigma_kg
      and e.expected_kg - p.weight_kg >= 0.5 * e.min_unit_kg
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

-- what the light parcels were to hold, and its paid value
contents as (
    select
        j.order_id,
        j.tk,
        j.shipped_at,
        sum(case when od.ordered_qty > 0 then fl_share(od.paid, s.quantity, od.ordered_qty) end) as goods_value,
        min(s.sku)                                              as one_sku,
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
        case when j.n_skus = 1 then c.one_sku end               as sku,
        j.missing::bigint                                       as missing_qty,
        case when j.kind = 'empty' then c.goods_value
             else fl_share(c.goods_value, j.missing, j.units) end::decimal(18, 2) as affected_amount,
        0::decimal(18, 2)                                       as refunded_amount,
        null::timestamp                                         as reshipped_at,
        'merchant'                                              as resp,
        'shipments_record'                                      as resp_rule,
        'parcel ' || coalesce(j.tracking_no, '(no tracking no.)') || ' of ' || fl_ts(j.shipped_at)
            || ' (' || c.contents || ') weighed ' || printf('%.3f', j.weight_kg) || ' kg, expected '
            || printf('%.3f', j.expected_kg) || ' kg (usual scatter ' || printf('%.3f', j.sigma_kg)
            || ' kg)'                                           as evidence
    from judged j
    join contents c using (order_id, tk, shipped_at)
)

select * from final
