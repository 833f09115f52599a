-- The review queue (SPEC section 5): every flagged order the data cannot decide (responsibility
-- undetermined, liability status disputed) and no person has decided yet, with what a reviewer
-- needs beside the flag: the order's lines and amounts as readable text. An order whose rows do
-- not add up is here too (hold data_problem: the problem leads its evidence); an order awaiting
-- data (hold order_not_loaded or lines_not_loaded) is not: there is nothing to decide until
-- its rows arrive (sql/outputs/awaiting.sql lists it).
-- Grain: one row per flagged order awaiting a decision.
-- Columns (stable; pipeline/review.py writes them to review.csv, the report and the workbook
-- read them): order_id, shop, buyer, kind, rules (text, rule ids joined by ', '), evidence,
-- missing_qty, affected_amount, lines (each line: no., title, SKU, price × quantity, paid, its
-- status when closed), paid_at, deadline (ship-by), confidence, complaint.
-- Inputs: flags, orders, order_lines (line amounts by the line_amounts_of macro).
with

queue as (
    select *
    from flags
    where responsibility = 'undetermined' and decision is null
      and (hold is null or hold = 'data_problem')
),

queue_lines as (
    select l.* from order_lines l semi join queue q using (order_id)
),

queue_orders as (
    select o.* from orders o semi join queue q using (order_id)
),

lines as (
    select
        l.order_id,
        string_agg(
            l.line_no || '. ' || coalesce(left(l.title, 30), '?')
                || coalesce(' (' || l.sku || ')', '')
                || ' ' || coalesce(l.price::varchar, '?') || ' × ' || coalesce(l.quantity::varchar, '?')
                || coalesce(', paid ' || a.line_paid::varchar, '')
                || case when l.status = 'closed' then ', ' || coalesce(l.status_raw, 'closed') else '' end,
            '; ' order by l.line_no)                                              as lines
    from queue_lines l
    left join line_amounts_of('queue_lines', 'queue_orders') a using (order_id, line_no)
    group by l.order_id
),

final as (
    select
        q.order_id,
        q.shop,
        q.buyer,
        q.kind,
        array_to_string(q.rules, ', ')                                            as rules,
        q.evidence,
        q.missing_qty,
        q.affected_amount,
        l.lines,
        q.paid_at,
        q.ship_by                                                                 as deadline,
        q.confidence,
        q.complaint
    from queue q
    left join lines l using (order_id)
    order by q.paid_at nulls last, q.order_id
)

select * from final
