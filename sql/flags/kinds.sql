-- The kind of fault each order is flagged for: of the kinds some primary evidence points to,
-- the one whose evidence together is strongest (confidences combined as 1 − Π(1 − c));
-- ties go to short, wrong, empty, not_received, unshipped in that order.
-- Grain: one row per flagged order. Inputs: fl_evidence.
with

per_kind as (
    select
        order_id,
        kind,
        bool_or(is_primary)                                       as has_primary,
        -- added in one order (by value), so that equal sets of confidences give equal scores
        -- however DuckDB's threads hand the rows over (ties then go by the kinds' order)
        1 - exp(sum(ln(1 - least(confidence, 0.99)) order by confidence)) as score
    from fl_evidence
    group by order_id, kind
),

final as (
    select order_id, kind, score
    from per_kind
    where has_primary
    qualify row_number() over (
        partition by order_id
        order by score desc,
                 list_position(['short', 'wrong', 'empty', 'not_received', 'unshipped'], kind)
    ) = 1
)

select * from final
