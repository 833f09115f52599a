-- Each parcel of some orders, its weight against what it should weigh.
-- Grain: one row per parcel (order_id, tracking_no, shipped_at) of the orders in _act_orders,
--   shipped up to $as_of.
-- Inputs: _act_orders (temp: order_id, the orders asked about), shipments, _act_sku_weights
--   (temp: sql/outputs/sku_weights.sql). Params: $as_of, $noise (the policy's
--   detection.weight_noise_sigmas).
-- expected_kg: a parcel of one SKU row takes the median weight of that SKU × quantity when it
-- was seen often enough, else the SKU's line (packaging + units × unit weight); a parcel of
-- several SKUs the median packaging of its SKUs plus each row's units × unit weight. NULL when
-- a SKU has not been learnt. A parcel's weight is weight_kg summed over its rows, or the one
-- value every row repeats (the whole parcel's weight on each row).
-- weight_ok: not lighter than expected by more than $noise × the scatter (the parcel left
-- with what the rows say); light: lighter than that.
with

rows as (
    select
        s.order_id,
        coalesce(s.tracking_no, '')                             as tk,
        s.tracking_no,
        s.shipped_at,
        s.sku,
        s.quantity,
        s.weight_kg::double                                     as weight_kg,
        s.reship,
        s.source_file,
        s.line
    from shipments s
    semi join _act_orders using (order_id)
    where s.shipped_at <= $as_of
),

with_model as (
    select
        r.*,
        w.bin_kg,
        w.bin_sigma_kg,
        m.unit_kg,
        m.pack_kg,
        m.line_sigma_kg,
        coalesce(w.bin_n, 0)                                    as bin_n,
        m.sku_n
    from rows r
    left join _act_sku_weights w on w.sku = r.sku and w.quantity = r.quantity
    left join (select distinct sku, unit_kg, pack_kg, line_sigma_kg, sku_n
               from _act_sku_weights where unit_kg is not null) m on m.sku = r.sku
),

parcels as (
    select
        order_id,
        tk,
        shipped_at,
        any_value(tracking_no)                                  as tracking_no,
        bool_or(reship)                                         as reship,
        count(*)                                                as n_rows,
        sum(quantity)                                           as units,
        string_agg(coalesce(sku, '?') || ' × ' || coalesce(quantity::varchar, '?'), ', ' order by line) as contents,
        case when count(*) > 1 and min(weight_kg) = max(weight_kg) and count(weight_kg) = count(*)
             then max(weight_kg) else sum(weight_kg) end        as weight_kg,
        count(weight_kg) = count(*)                             as weighed,
        any_value(bin_kg)                                       as bin_kg,
        any_value(bin_sigma_kg)                                 as bin_sigma_kg,
        bool_and(unit_kg is not null)                           as all_lines,
        median(pack_kg)                                         as pack_kg,
        sum((unit_kg * quantity)::decimal(18, 6))::double       as units_kg,  -- exact: the same every run
        max(line_sigma_kg)                                      as line_sigma_kg,
        min(least(coalesce(sku_n, 0), 1000000))                 as sku_n,
        min(bin_n)                                              as bin_n,
        list(source_file order by line)                         as source_files,
        list(line order by line)                                as lines
    from with_model
    group by order_id, tk, shipped_at
),

expected as (
    select
        *,
        case
            when n_rows = 1 and bin_kg is not null then bin_kg
            when all_lines then pack_kg + units_kg
        end                                                     as expected_kg,
        case
            when n_rows = 1 and bin_kg is not null then bin_sigma_kg
            when all_lines then line_sigma_kg
        end                                                     as raw_sigma_kg,
        case when n_rows = 1 and bin_kg is not null then bin_n else sku_n end as learnt_from
    from parcels
),

final as (
    select
        order_id,
        tracking_no,
        shipped_at,
        reship,
        n_rows,
        units,
        contents,
        case when weighed then round(weight_kg, 3) end::decimal(12, 3)  as weight_kg,
        round(expected_kg, 3)::decimal(12, 3)                           as expected_kg,
        -- a scatter never below 10 g (a scale's step), grown for an expectation learnt from few parcels
        round(greatest(coalesce(raw_sigma_kg, 0), 0.01) * sqrt(1 + 1.5708 / greatest(learnt_from, 1)), 3)::decimal(12, 3)
                                                                        as sigma_kg,
        learnt_from,
        weighed and expected_kg is not null
            and weight_kg >= expected_kg - $noise * greatest(coalesce(raw_sigma_kg, 0), 0.01)
                                         * sqrt(1 + 1.5708 / greatest(learnt_from, 1))
                                                                        as weight_ok,
        weighed and expected_kg is not null
            and weight_kg < expected_kg - $noise * greatest(coalesce(raw_sigma_kg, 0), 0.01)
                                        * sqrt(1 + 1.5708 / greatest(learnt_from, 1))
                                                                        as light,
        source_files,
        lines
    from expected
)

select * from final
