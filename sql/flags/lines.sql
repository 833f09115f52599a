-- Order lines as the signals see them: the typed line plus its paid amount (postage excluded).
-- Grain: one row per order_lines row (order_id, line_no).
-- Inputs: order_lines, line_amounts.
with

lines as (
    select
        l.order_id,
        l.line_no,
        l.line_id,
        l.sku,
        l.title,
        l.price,
        l.quantity,
        l.status,
        l.status_raw,
        l.refund_status,
        l.refund_amount,
        a.line_paid
    from order_lines l
    join line_amounts a using (order_id, line_no)
),

final as (
    select
        *,
        count(*) over (partition by order_id) as lines_in_order,
        coalesce(status = 'closed', false)     as closed
    from lines
)

select * from final
