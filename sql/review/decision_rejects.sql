-- Decisions that decide nothing: their order is not flagged by this run (SPEC section 3: "a
-- decision for an order that is not flagged goes to rejects"). pipeline/review.py moves them to
-- `rejects` (with their file and line) and out of `decisions`, and moves their count from
-- loaded to rejected in their load's load_manifest row, in the run's transaction.
-- A decision whose order row is not loaded is not rejected: it waits for the order (awaiting
-- data, sql/outputs/awaiting.sql), and is applied, or rejected, by the run that has the order.
-- Grain: one row per decisions row whose order is loaded and not in fl_kinds.
-- Inputs: decisions, fl_kinds, orders. Params: $as_of.
with

unflagged as (
    select d.*
    from decisions d
    semi join orders o using (order_id)
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
