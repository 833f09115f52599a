-- The refunds detection does not read: those that do not add up (sql/outputs/data_problems.sql,
-- materialized for the run as fl_problems). A row that does not add up is a data problem, never
-- evidence for money (SPEC section 8): the run's view of the refunds (fl_refunds_at,
-- sql/flags/clock.sql) and of their texts (sql/flags/texts.sql) leaves these out, so no signal
-- fires from them; sql/signals/data_problem.sql sends their orders to review instead.
-- Grain: one row per refund_id held back.
-- Which: every refund a problem names (refund_exceeds_paid, refund_exceeds_line_paid,
-- refund_line_not_on_order) and, for refunds_exceed_paid (the order's successful refunds add up
-- to more than was paid; which one is wrong the data cannot say), every successful refund of the
-- order.
-- Inputs: fl_problems, refunds.
with

named as (
    select refund_id, order_id, problem, detail, facts
    from fl_problems
    where refund_id is not null
),

summed as (
    select r.refund_id, r.order_id, p.problem, p.detail, p.facts
    from fl_problems p
    join refunds r on r.order_id = p.order_id and r.status = 'success'
    where p.problem = 'refunds_exceed_paid'
),

final as (
    select
        refund_id,
        any_value(order_id)                                             as order_id,
        list_sort(list_distinct(list(problem)))                         as problems,
        string_agg(distinct detail, '; ')                               as detail,
        -- the same as facts (sql/flags/macros.sql fl_fact), one problem after another
        flatten(list(facts order by detail))                            as facts
    from (select * from named union all select * from summed)
    group by refund_id
)

select * from final
