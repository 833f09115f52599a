-- The line each refund is about: named by sub-order, SKU or title, else the line whose units
-- fit the amount exactly, else the only line of the order.
-- Grain: one row per refunds row (event_id = refund_id) that points at a line.
-- Inputs: fl_refund_fit (sql/flags/refund_fit.sql).
with

candidates as (
    select *
    from fl_refund_fit
    where source = 'refund' and (ident or exact or lines_in_order = 1)
),

final as (
    select *
    from candidates
    qualify row_number() over (
        partition by event_id order by ident desc, exact desc, fit, k, line_no
    ) = 1
)

select * from final
