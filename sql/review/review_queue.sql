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
-- The evidence and the lines are said in the reader's language: the templates $ev_codes /
-- $ev_texts (pipeline/explain.py) fill the order's lines (sql/flags/macros.sql fl_render); the
-- flag's evidence is the set's, said once for every file that shows it (temp _set_said,
-- pipeline/setdata.py say_evidence).
-- Inputs: flags, orders, order_lines (line amounts by the line_amounts_of macro), _set_said.
-- Params: $ev_codes, $ev_texts.
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
        fl_render(flatten(list(fl_facts([
            fl_fact('row', 'lines.line', ['line_no', 'title'], [l.line_no::varchar, coalesce(left(l.title, 30), '?')]),
            case when l.sku is not null then fl_fact('none', 'lines.sku', ['sku'], [l.sku]) end,
            fl_fact('none', 'price_qty', ['price', 'qty'],
                    [coalesce(l.price::varchar, '?'), coalesce(l.quantity::varchar, '?')]),
            case when a.line_paid is not null then fl_fact('item', 'line_paid', ['paid'], [a.line_paid::varchar]) end,
            case when l.status = 'closed' and l.status_raw is not null
                 then fl_fact('item', 'lines.status', ['status'], [l.status_raw])
                 when l.status = 'closed' then fl_fact0('item', 'lines.closed') end
        ]) order by l.line_no)), map($ev_codes, $ev_texts))                      as lines
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
        s.said                                                                    as evidence,
        q.missing_qty,
        q.affected_amount,
        l.lines,
        q.paid_at,
        q.ship_by                                                                 as deadline,
        q.confidence,
        q.complaint
    from queue q
    left join lines l using (order_id)
    left join _set_said s using (order_id)
    order by q.paid_at nulls last, q.order_id
)

select * from final
