-- Data problems: rows that loaded (they are the platform's record, or a person's decision) but
-- do not add up, listed so that a person can look at them. A row that does not add up is never
-- evidence for money (SPEC section 8): detection reads none of these refunds (no signal fires
-- from them: sql/flags/clock.sql, sql/flags/texts.sql) and applies none of these decisions
-- (sql/review/decided.sql); their order goes to review instead (sql/signals/data_problem.sql,
-- sql/flags/flags.sql: responsibility undetermined, liability disputed, listed in review.csv with
-- the problem in its evidence) and the ledger neither pays nor reverses it until a person decides
-- (liabilities.hold = 'data_problem', sql/liabilities/payout_due.sql).
-- Grain: one row per problem.
-- Inputs: refunds, orders, order_lines (paid amounts by the line_amounts_of macro, on the orders
-- a refund names a line of only), decisions.
-- Problems:
--   refund_exceeds_paid       a refund larger than what was paid for its order (the order's
--                             paid amount before refunds, else the refund export's 买家实际支付金额)
--   refunds_exceed_paid       an order's successful refunds add up to more than was paid, though
--                             none is larger on its own (each of those refunds is held back)
--   refund_exceeds_line_paid  a refund larger than what the line it names (by 子订单编号, else by
--                             商家编码) was paid: the item export's own per-line paid amount, plus
--                             the line's own refunded amount (in case the export nets it), plus the
--                             order's postage (a refund may return it). Only lines with their own
--                             paid amount are checked: a share split from the order is an estimate.
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
-- detail (readable, quoting the amounts).
with

paid as (
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
                                                                   as paid_from
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
            || ' ' || paid::varchar || ' yuan'                      as detail
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
            || ' yuan, more than the ' || paid::varchar || ' yuan paid'  as detail
    from summed
),

-- the refunds that name a line (sub-order, else SKU) of a loaded order not already too large
-- for the whole order, and the lines of their orders
naming as (
    select *
    from paid
    where order_loaded and (line_id is not null or sku is not null)
      and not coalesce(refund_amount > paid, false)
),

named_lines as (
    select l.* from order_lines l semi join naming n using (order_id)
),

named_orders as (
    select o.* from orders o semi join naming n using (order_id)
),

line_facts as (
    select
        l.order_id, l.line_no, l.line_id, l.sku, l.quantity, l.refund_amount as line_refund,
        l.paid_amount is not null                                  as own_paid,
        a.line_paid
    from named_lines l
    join line_amounts_of('named_lines', 'named_orders') a using (order_id, line_no)
),

matched as (
    select
        n.refund_id,
        any_value(n.order_id)                                      as order_id,
        any_value(n.line_id)                                       as ref_line_id,
        any_value(n.sku)                                           as ref_sku,
        any_value(n.refund_amount)                                 as refund_amount,
        any_value(n.postage)                                       as postage,
        any_value(n.source_file)                                   as source_file,
        any_value(n.line)                                          as line,
        count(f.line_no)                                           as order_lines,
        count(f.line_id)                                           as lines_with_id,
        count(f.sku)                                               as lines_with_sku,
        count(*) filter (where n.line_id is not null and f.line_id = n.line_id)  as by_id,
        count(*) filter (where n.line_id is null and f.sku = n.sku)              as by_sku,
        bool_and(f.own_paid) filter (where (n.line_id is not null and f.line_id = n.line_id)
                                        or (n.line_id is null and f.sku = n.sku)) as all_own_paid,
        sum(f.line_paid + coalesce(f.line_refund, 0)) filter (
            where (n.line_id is not null and f.line_id = n.line_id)
               or (n.line_id is null and f.sku = n.sku))            as named_paid,
        string_agg(f.line_no::varchar, ', ' order by f.line_no) filter (
            where (n.line_id is not null and f.line_id = n.line_id)
               or (n.line_id is null and f.sku = n.sku))            as named_line_nos
    from naming n
    join line_facts f on f.order_id = n.order_id
    group by n.refund_id
),

not_on_order as (
    select
        'refund_line_not_on_order'                                 as problem,
        order_id,
        refund_id,
        source_file,
        line,
        '退款 ' || refund_id || ' names '
            || case when ref_line_id is not null then '子订单编号 ' || ref_line_id
                    else '商家编码 ' || ref_sku end
            || ', which none of the order''s ' || order_lines::varchar || ' line(s) has'  as detail
    from matched
    where (ref_line_id is not null and lines_with_id > 0 and by_id = 0)
       or (ref_line_id is null and lines_with_sku = order_lines and by_sku = 0)
),

over_line as (
    select
        'refund_exceeds_line_paid'                                 as problem,
        order_id,
        refund_id,
        source_file,
        line,
        '退款 ' || refund_id || ' of ' || refund_amount::varchar || ' yuan is larger than what line '
            || named_line_nos || ' (' || case when ref_line_id is not null then '子订单编号 ' || ref_line_id
                                              else '商家编码 ' || ref_sku end
            || ') was paid, ' || named_paid::varchar || ' yuan'
            || case when coalesce(postage, 0) > 0 then ' plus the postage ' || postage::varchar || ' yuan' else '' end
                                                                   as detail
    from matched
    where (by_id > 0 or by_sku > 0)
      and all_own_paid
      and refund_amount > named_paid + coalesce(postage, 0)
),

decision_units as (
    select
        'decision_units_exceed_ordered'                            as problem,
        d.order_id,
        null::varchar                                              as refund_id,
        d.source_file,
        d.line,
        'review decision ' || coalesce(d.decision_raw, d.decision) || ' gives ' || d.missing_qty::varchar
            || ' unit(s) missing, more than the ' || u.units::varchar || ' ordered'  as detail
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
