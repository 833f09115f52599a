-- Decisions that decide nothing: their order is not flagged by this run (SPEC section 3: "a
-- decision for an order that is not flagged goes to rejects"). pipeline/review.py moves them to
-- `rejects` (with their file and line) and out of `decisions`, and moves their count from
-- loaded to rejected in their load's load_manifest row, in the run's transaction.
-- Grain: one row per decisions row whose order is not in fl_kinds.
-- Inputs: decisions, fl_kinds. Params: $as_of.
with

unflagged as (
    select d.*
    from decisions d
    anti join fl_kinds k using (order_id)
),

final as (
    select
        load_id,
        source_file,
        line,
        order_id,
        'decision ' || coalesce(decision_raw, decision) || ' for order ' || order_id
            || ', which is not flagged (as of ' || fl_ts($as_of::timestamp) || ')'    as reason
    from unflagged
)

select * from final
