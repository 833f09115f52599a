-- Order lines as the signals see them: the typed line plus its paid amount (postage excluded).
-- Grain: one row per order_lines row (order_id, line_no) of an order in scope (fl_scope).
-- Inputs: order_lines, orders, fl_scope; the paid amounts from the line_amounts_of macro
-- (sql/staging/line_amounts.sql) over the orders in scope only.
with

scope_lines as (
    select l.* from order_lines l semi join fl_scope s using (order_id)
),

scope_orders as (
    select o.* from orders o semi join fl_scope s using (order_id)
),

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
        a.line_paid,
        a.lines_in_order
    from scope_lines l
    join line_amounts_of('scope_lines', 'scope_orders') a using (order_id, line_no)
),

final as (
    select
        *,
        coalesce(status = 'closed', false)     as closed
    from lines
)

select * from final
