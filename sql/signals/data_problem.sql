-- Signal data_problem: a refund that does not add up (fl_untrusted: larger than what its order or
-- its line was paid, naming a line its order does not have, or one of refunds adding up to more
-- than was paid; sql/outputs/data_problems.sql) whose reason names a shipping fault. It is a data
-- problem, never evidence for money (SPEC section 8): no other signal reads it (fl_refunds_at
-- leaves it out), and this row carries no units, no amount, no refund and no responsibility. It
-- only puts the order in front of a person: sql/flags/flags.sql makes the responsibility of an
-- order with such a refund undetermined (liability disputed, the order in review.csv) with the
-- problem in the evidence, until a review decision settles it.
-- Grain: one row per held-back refund (applied by $as_of) × kind its reason counts as.
-- The evidence is facts (sql/flags/macros.sql fl_fact; their sentences: pipeline/explain.py).
-- Inputs: fl_untrusted, refunds, policy_terms (reasons). Params: $as_of.
with

held as (
    select r.*, u.detail, u.problems, u.facts as problem_facts
    from fl_untrusted u
    join refunds r using (refund_id)
    where (r.applied_at is null or r.applied_at <= $as_of)
      and r.reason is not null
),

kinds as (
    select h.*, t.kind
    from held h
    join policy_terms t on t.list = 'reasons' and t.norm = fl_norm(h.reason)
    qualify row_number() over (partition by h.refund_id, t.kind order by t.term) = 1
),

final as (
    select
        order_id,
        'data_problem'                                               as rule,
        kind,
        0.3::double                                                  as confidence,
        'problem'                                                    as basis,
        true                                                         as is_primary,
        true                                                         as complaint,
        refund_id,
        null::integer                                                as line_no,
        null::varchar                                                as sku,
        null::bigint                                                 as missing_qty,
        null::decimal(18, 2)                                         as affected_amount,
        0::decimal(18, 2)                                            as refunded_amount,
        null::timestamp                                              as reshipped_at,
        null::varchar                                                as resp,
        null::varchar                                                as resp_rule,
        -- the problems (sql/outputs/data_problems.sql facts), then the refund's reason and status
        problem_facts || [fl_fact('none', 'data_problem.refund', ['reason', 'status'],
                                  [fl_quote(reason), coalesce(status_raw, '状态未知')])]  as facts
    from kinds
)

select * from final
