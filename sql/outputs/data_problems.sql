-- Data problems: rows that loaded (they are the platform's record) but do not add up, listed so
-- that a person can look at them. None of them raises what is owed: detection takes a refund
-- for at most the goods paid of its order (sql/signals/refund_reason.sql), and a larger refund
-- only lowers the goods still to refund (sql/liabilities/liabilities.sql); tests/test_bad_inputs.py
-- checks it.
-- Grain: one row per problem.
-- Inputs: refunds, orders.
-- Problems:
--   refund_exceeds_paid   a refund larger than what was paid for its order (the order's paid
--                         amount before refunds, else the refund export's 买家实际支付金额)
--   refunds_exceed_paid   an order's successful refunds add up to more than was paid, though
--                         none is larger on its own
-- Columns: problem, order_id, refund_id (NULL for a problem of the whole order), source_file and
-- line (of the refund, or the order's newest refund), detail (readable, quoting the amounts).
with

paid as (
    select
        r.refund_id,
        r.order_id,
        r.refund_amount,
        r.status,
        r.source_file,
        r.line,
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

final as (
    select * from single
    union all
    select * from total
)

select * from final
