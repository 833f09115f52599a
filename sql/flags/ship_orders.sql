-- Per order: what its first parcels in the shipments file hold against what was ordered.
-- Most orders ship exactly what was ordered, in one go: units and a checksum of the SKUs
-- (Σ hash(sku) × quantity) are compared per order, so that only the other orders need a close
-- look (signals/shipments.sql) and the complete ones can teach what a parcel weighs
-- (signals/parcel_light.sql). Lines closed (交易关闭) are not expected in parcels; rows shipped
-- after $as_of are not seen yet.
-- Grain: one row per order_id with rows in shipments (shipped by $as_of).
-- Columns: candidate (needs the close look: a re-shipment, no order lines, a row without
-- quantity, other units or other SKUs than ordered), complete (the first parcels hold exactly
-- the SKUs and units ordered, SKUs known on both sides), ship_rows, first_shipped_at, and for an
-- order shipped as one row: its sku, quantity, weight_kg.
-- Inputs: shipments, order_lines. Params: $as_of.
with

ship_sums as (
    select
        order_id,
        count(*)                                                              as ship_rows,
        min(shipped_at)                                                       as first_shipped_at,
        sum(quantity) filter (where not reship)                               as first_units,
        sum((hash(coalesce(sku, '')) % 1000003)::bigint * quantity) filter (where not reship) as first_check,
        bool_or(reship)                                                       as any_reship,
        bool_or(quantity is null)                                             as any_unknown,
        bool_or(sku is null)                                                  as any_no_sku,
        any_value(sku)                                                        as one_sku,
        any_value(quantity)                                                   as one_quantity,
        any_value(weight_kg)                                                  as one_weight_kg
    from shipments
    where shipped_at <= $as_of
    group by order_id
),

line_sums as (
    select
        order_id,
        sum(quantity) filter (where not coalesce(status = 'closed', false))  as units,
        sum((hash(coalesce(sku, '')) % 1000003)::bigint * quantity)
            filter (where not coalesce(status = 'closed', false))             as checksum,
        bool_or(sku is null)                                                  as any_no_sku
    from order_lines
    group by order_id
),

compared as (
    select
        s.*,
        coalesce(
            s.any_reship
            or l.order_id is null
            or s.any_unknown
            or s.first_units is distinct from l.units
            or (not s.any_no_sku and not l.any_no_sku and s.first_check is distinct from l.checksum),
            false
        )                                                                     as candidate,
        coalesce(not s.any_no_sku and not l.any_no_sku, false)                as skus_known
    from ship_sums s
    left join line_sums l using (order_id)
),

final as (
    select
        order_id,
        candidate,
        not candidate and skus_known                                          as complete,
        ship_rows,
        first_shipped_at,
        case when ship_rows = 1 then one_sku end                              as sku,
        case when ship_rows = 1 then one_quantity end                         as quantity,
        case when ship_rows = 1 then one_weight_kg end                        as weight_kg
    from compared
)

select * from final
