-- The review loop (SPEC section 5): the people's decisions that settle this run's flags.
-- A decision (table decisions: a filled review.csv, loaded like an export; the newest per order)
-- sets the order's responsibility (merchant, courier, buyer; no_fault: nobody, the liability is
-- excluded) and, when it gives missing_qty, the units: the goods concerned follow from the line
-- the flag names (or the order's only line) at its paid price per unit; with no such line they
-- stay as detected. The decision is quoted with its file (and sheet: the review sheet of the
-- workbook, liabilities.xlsx), line, author and time.
-- A decision for an order this run does not flag decides nothing: sql/review/decision_rejects.sql.
-- Not applied either, and kept in `decisions`:
--   - a decision for an order whose row is not loaded: it waits with the order's other rows
--     (awaiting data, sql/outputs/awaiting.sql) and applies when the order arrives;
--   - a decision that does not add up (its missing_qty above the units ordered: problem
--     decision_units_exceed_ordered of sql/outputs/data_problems.sql, materialized as
--     fl_problems): a data problem, never evidence; the order stays in review with the problem
--     in its evidence until a newer decision replaces it.
-- Grain: one row per flagged order (fl_kinds) with a decision that applies.
-- Inputs: decisions, fl_kinds, orders, fl_problems, load_manifest.
with

applied as (
    select d.*, m.sheet
    from decisions d
    semi join fl_kinds k using (order_id)
    semi join orders o using (order_id)
    left join load_manifest m using (load_id)
    where not exists (select 1 from fl_problems p
                      where p.order_id = d.order_id and p.problem = 'decision_units_exceed_ordered')
),

final as (
    select
        order_id,
        decision,
        decision                                                                  as responsibility,
        missing_qty,
        -- the decision as facts (sql/flags/macros.sql fl_fact; sentences: pipeline/explain.py)
        fl_facts([
            fl_fact('none', 'decision', ['decision'], [fl_quote(coalesce(decision_raw, decision))]),
            case when decided_by is not null then fl_fact('none', 'decision.by', ['who'], [fl_say(decided_by)]) end,
            case when decided_at is not null then fl_fact('none', 'decision.at', ['at'], [fl_ts(decided_at)]) end,
            case when missing_qty is not null then fl_fact('item', 'decision.missing', ['n'], [missing_qty::varchar]) end,
            case when sheet is null
                 then fl_fact('none', 'decision.source', ['file', 'line'], [source_file, line::varchar])
                 else fl_fact('none', 'decision.source_sheet', ['file', 'sheet', 'line'], [source_file, sheet, line::varchar]) end,
            case when note is not null then fl_fact('none', 'decision.note', ['note'], [fl_say(note)]) end
        ])                                                                        as why
    from applied
)

select * from final
