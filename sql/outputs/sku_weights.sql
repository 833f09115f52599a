-- What a parcel of each SKU weighs, learnt from the shipments file (for the evidence pages and
-- the courier claims: "weight against the expected weight").
-- Grain: one row per SKU × quantity seen in a parcel of that SKU alone.
-- Inputs: shipments. Params: $as_of, $min_samples.
-- Samples: the orders shipped as one shipments row (one SKU, one parcel, not a re-shipment)
-- with a weight, up to $as_of. Per SKU × quantity: the median weight and its scatter
-- (1.4826 × the median absolute deviation), trusted from $min_samples parcels. Per SKU: a line
-- weight = pack_kg + unit_kg × units (the least-squares slope over the medians of each
-- quantity, the packaging the median of weight − slope × units), when two quantities or more
-- were seen in $min_samples parcels or more, and its scatter. A short parcel among the
-- samples barely moves a median.
with

-- the orders shipped as one row up to $as_of, with that row (one pass, no join back)
single as (
    select any_value(sku) as sku, any_value(quantity) as quantity, any_value(weight_kg) as weight_kg,
           any_value(reship) as reship
    from shipments
    where shipped_at <= $as_of
    group by order_id
    having count(*) = 1
),

samples as (
    select sku, quantity as q, weight_kg::double as w
    from single
    where not reship and sku is not null and quantity > 0 and weight_kg > 0
),

bins as (
    select sku, q, median(w) as bin_kg, 1.4826 * median(abs(w - w_med)) as bin_sigma_kg, count(*) as bin_n
    from (select *, median(w) over (partition by sku, q) as w_med from samples)
    group by sku, q
),

-- the slope from exact sums (ss_slope: the same from run to run, whatever order DuckDB's
-- threads add the bins up; the expected weights must not differ, since an evidence page is
-- rewritten only when its facts change), kept to the microgram
lines as (
    select sku, round(ss_slope(q, bin_kg), 6) as unit_kg, sum(bin_n) as sku_n
    from bins
    group by sku
    having count(*) >= 2 and sum(bin_n) >= $min_samples
),

packs as (
    select s.sku, l.unit_kg, l.sku_n, median(s.w - l.unit_kg * s.q) as pack_kg
    from samples s
    join lines l using (sku)
    where l.unit_kg > 0
    group by all
),

line_noise as (
    select p.sku, p.unit_kg, p.pack_kg, p.sku_n,
           1.4826 * median(abs(s.w - (p.pack_kg + p.unit_kg * s.q))) as line_sigma_kg
    from samples s
    join packs p using (sku)
    group by all
),

final as (
    select
        b.sku,
        b.q                                                     as quantity,
        case when b.bin_n >= $min_samples then b.bin_kg end     as bin_kg,
        case when b.bin_n >= $min_samples then b.bin_sigma_kg end as bin_sigma_kg,
        b.bin_n,
        n.unit_kg,
        n.pack_kg,
        n.line_sigma_kg,
        n.sku_n
    from bins b
    left join line_noise n using (sku)
)

select * from final
