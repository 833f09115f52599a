-- Data problems: rows that loaded (they are the platform's record, or a person's decision) but
-- do not add up, listed so that a person can look at them. A row that does not add up is never
-- evidence for money (SPEC section 8): detection reads none of these refunds (no signal fires
-- from them: sql/flags/clock.sql, sql/flags/texts.sql) and applies none of these decisions
-- (sql/review/decided.sql); their order goes to review instead (sql/signals/data_problem.sql,
-- sql/flags/flags.sql: responsibility undetermined, liability disputed, listed in review.csv with
-- the problem in its evidence) and the ledger neither pays nor reverses it until a person decides
-- (liabilities.hold = 'data_problem', sql/liabilities/payout_due.sql).
-- Grain: one row per problem.
-- Inputs: refunds, orders, order_lines, decisions.
-- Problems:
--   refund_exceeds_paid       a refund larger than what was paid for its order (the order's
--                             paid amount before refunds, else the refund export's 买家实际支付金额)
--   refunds_exceed_paid       an order's successful refunds add up to more than was paid, though
--                             none is larger on its own (each of those refunds is held back)
--   refund_exceeds_line_paid  a refund larger than what the line it names (by 子订单编号, else by
--                             商家编码: all the order's lines of that code) was paid: the item
--                             export's own per-line paid amount (on a single-line order it includes
--                             the postage), plus the line's own refunded amount (in case the export
--                             nets it), plus the order's postage (a refund may return it): a
--                             generous ceiling. Only lines with their own paid amount are checked: a
--                             share split from the order is an estimate.
--   refund_line_not_on_order  a refund names a sub-order (子订单编号) none of its order's lines
--                             has, while the lines carry sub-order ids; or, with no sub-order id,
--                             a 商家编码 none of the order's lines has, while every line has one
--   decision_units_exceed_ordered  a review decision's missing_qty is larger than the units
--                             ordered on the order's lines: the decision decides nothing
-- The line and unit checks need the order and its lines: a refund or decision whose order (or
-- order lines) is not loaded yet is awaiting data there (sql/outputs/awaiting.sql), not a
-- problem here; a refund larger than the paid amount its own export states is one all the same.
-- Columns: problem, order_id, refund_id (NULL for a problem of the whole order or of a
-- decision), source_file and line (of the refund, the order's newest refund, or the decision),
-- detail (readable, quoting the amounts, in English), facts (the same as facts a reader's language
-- renders: sql/flags/macros.sql fl_fact, pipeline/explain.py).
with

paid as materialized (
    select
        r.refund_id,
        r.order_id,
        r.line_id,
        r.sku,
        r.refund_amount,
        r.status,
        r.source_file,
        r.line,
        o.postage,
        o.order_id is not null                                     as order_loaded,
        coalesce(o.paid_gross, o.paid_amount, r.order_paid_amount) as paid,
        case when o.order_id is not null then 'the order''s paid amount' else 'the refund export''s 买家实际支付金额' end
                                                                   as paid_from,
        o.order_id is not null                                     as paid_from_order
    from refunds r
    left join orders o using (order_id)
),

single as (
    select
        'refund_exceeds_paid'                                      as problem,
        order_id,
        refund_id,
        source_file,
        line,
        '退款 ' || refund_id || ' of ' || refund_amount::varchar || ' yuan is larger than ' || paid_from
            || ' ' || paid::varchar || ' yuan'                      as detail,
        [fl_fact('row', case when paid_from_order then 'problem.refund_exceeds_paid'
                             else 'problem.refund_exceeds_export_paid' end,
                 ['refund_id', 'amount', 'paid'], [refund_id, refund_amount::varchar, paid::varchar])] as facts
    from paid
    where refund_amount > paid
),

summed as (
    select
        order_id,
        sum(refund_amount)                                         as refunded,
        any_value(paid)                                            as paid,
        count(*)                                                   as refunds,
        arg_max(source_file, line)                                 as source_file,
        max(line)                                                  as line
    from paid
    where status = 'success'
    group by order_id
    having sum(refund_amount) > any_value(paid) and bool_and(refund_amount <= paid)
),

total as (
    select
        'refunds_exceed_paid'                                      as problem,
        order_id,
        null::varchar                                              as refund_id,
        source_file,
        line,
        refunds::varchar || ' successful refunds add up to ' || refunded::varchar
            || ' yuan, more than the ' || paid::varchar || ' yuan paid'  as detail,
        [fl_fact('row', 'problem.refunds_exceed_paid', ['n', 'refunded', 'paid'],
                 [refunds::varchar, refunded::varchar, paid::varchar])]  as facts
    from summed
),

-- the refunds that name a line (sub-order, else SKU) of a loaded order not already too large
-- for the whole order, and the lines of their orders
naming as materialized (
    select *
    from paid
    where order_loaded and (line_id is not null or sku is not null)
      and not coalesce(refund_amount > paid, false)
),

line_facts as (
    select l.order_id, l.line_no, l.line_id, l.sku, l.paid_amount, l.refund_amount as line_refund
    from order_lines l
    semi join naming n using (order_id)
),

line_stats as (
    select order_id, count(*) as order_lines, count(line_id) as lines_with_id, count(sku) as lines_with_sku
    from line_facts
    group by order_id
),

-- each refund × the lines it names
named as materialized (
    select n.refund_id, n.order_id, n.line_id as ref_line_id, n.sku as ref_sku, n.refund_amount, n.postage,
           n.source_file, n.line, f.line_no, f.paid_amount, f.line_refund
    from naming n
    join line_facts f on f.order_id = n.order_id and f.line_id = n.line_id
    union all
    select n.refund_id, n.order_id, n.line_id, n.sku, n.refund_amount, n.postage,
           n.source_file, n.line, f.line_no, f.paid_amount, f.line_refund
    from naming n
    join line_facts f on f.order_id = n.order_id and f.sku = n.sku
    where n.line_id is null
),

not_on_order as (
    select
        'refund_line_not_on_order'                                 as problem,
        n.order_id,
        n.refund_id,
        n.source_file,
        n.line,
        '退款 ' || n.refund_id || ' names '
            || case when n.line_id is not null then '子订单编号 ' || n.line_id else '商家编码 ' || n.sku end
            || ', which none of the order''s ' || s.order_lines::varchar || ' line(s) has'  as detail,
        [fl_fact('row', case when n.line_id is not null then 'problem.refund_line_not_on_order'
                             else 'problem.refund_sku_not_on_order' end,
                 ['refund_id', 'line', 'lines'],
                 [n.refund_id, coalesce(n.line_id, n.sku), s.order_lines::varchar])]  as facts
    from naming n
    join line_stats s using (order_id)
    where not exists (select 1 from named x where x.refund_id = n.refund_id)
      and ((n.line_id is not null and s.lines_with_id > 0)
           or (n.line_id is null and s.lines_with_sku = s.order_lines))
),

-- the named lines of orders whose item export gives per-line paid amounts
over_line as (
    select
        'refund_exceeds_line_paid'                                 as problem,
        any_value(order_id)                                        as order_id,
        refund_id,
        any_value(source_file)                                     as source_file,
        any_value(line)                                            as line,
        '退款 ' || refund_id || ' of ' || any_value(refund_amount)::varchar || ' yuan is larger than what line '
            || string_agg(line_no::varchar, ', ' order by line_no) || ' ('
            || coalesce('子订单编号 ' || any_value(ref_line_id), '商家编码 ' || any_value(ref_sku))
            || ') was paid, ' || sum(paid_amount + coalesce(line_refund, 0))::varchar || ' yuan'
            || case when coalesce(any_value(postage), 0) > 0
                    then ' plus the postage ' || any_value(postage)::varchar || ' yuan' else '' end  as detail,
        fl_facts([
            fl_fact('row', case when any_value(ref_line_id) is not null then 'problem.refund_exceeds_line_paid'
                                else 'problem.refund_exceeds_sku_line_paid' end,
                    ['refund_id', 'amount', 'line_nos', 'line', 'paid'],
                    [refund_id, any_value(refund_amount)::varchar, string_agg(line_no::varchar, ', ' order by line_no),
                     coalesce(any_value(ref_line_id), any_value(ref_sku)),
                     sum(paid_amount + coalesce(line_refund, 0))::varchar]),
            case when coalesce(any_value(postage), 0) > 0
                 then fl_fact('none', 'problem.plus_postage', ['postage'], [any_value(postage)::varchar]) end])  as facts
    from named
    where order_id in (select order_id from line_facts where paid_amount is not null)
    group by refund_id
    having bool_and(paid_amount is not null)
       and any_value(refund_amount) > sum(paid_amount + coalesce(line_refund, 0)) + coalesce(any_value(postage), 0)
),

decision_units as (
    select
        'decision_units_exceed_ordered'                            as problem,
        d.order_id,
        null::varchar                                              as refund_id,
        d.source_file,
        d.line,
        'review decision ' || coalesce(d.decision_raw, d.decision) || ' gives ' || d.missing_qty::varchar
            || ' unit(s) missing, more than the ' || u.units::varchar || ' ordered'  as detail,
        [fl_fact('row', 'problem.decision_units_exceed_ordered', ['decision', 'qty', 'units'],
                 [coalesce(d.decision_raw, d.decision), d.missing_qty::varchar, u.units::varchar])]  as facts
    from decisions d
    join (
        select l.order_id, sum(l.quantity) as units
        from order_lines l
        semi join decisions d using (order_id)
        group by l.order_id
    ) u using (order_id)
    where d.missing_qty > u.units
),

final as (
    select * from single
    union all
    select * from total
    union all
    select * from over_line
    union all
    select * from not_on_order
    union all
    select * from decision_units
)

select * from final
