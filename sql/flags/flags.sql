-- The flags: one row per flagged order, its kind (fl_kinds), responsibility
-- (fl_responsibility), the rules that fired for that kind, the evidence quoting the source
-- values, and the goods concerned (SPEC section 2 "Money"):
--   missing_qty / affected_amount from the most direct evidence: the shipments file or the
--   order's status, else the refunds (a refund's amount fit before its reason; several refunds
--   on different lines add up, several on one line count once), else the parcel weight, else
--   the words; short: k × per-unit paid = round(line_paid × k / quantity, 2); wrong: the
--   refunded units of the line; empty, not received, unshipped: all the goods of the order.
--   refunded_amount: money already refunded by the refunds (or refund amounts) it rests on.
-- A review decision (fl_decided, sql/review/decided.sql) overrides the responsibility and, with
-- its missing_qty, the units (the goods concerned follow: the line's paid price per unit, else
-- the detected average per unit); the rule review_decision and the decision (file, line, author,
-- time) join the rules and the evidence, and `decision` records it.
-- Rows that do not add up (SPEC section 8) are never evidence for money: a refund of fl_untrusted
-- raised no signal (only sql/signals/data_problem.sql, which carries no units, amount or
-- responsibility), a decision whose missing_qty is above the units ordered was not applied
-- (sql/review/decided.sql). An order with either (seen by $as_of) is held for a person:
-- responsibility undetermined (its liability disputed, the order in review.csv) with the problem
-- leading the evidence, until a review decision settles it; hold = 'data_problem'.
-- hold (NULL: nothing holds the flag) says why no money may move for the order yet:
--   order_not_loaded  the order's own row is not in `orders` (a refund or a parcel came first):
--                     awaiting data, until the order export holding it is loaded
--   lines_not_loaded  a short or wrong flag on an order whose lines (宝贝报表) are not loaded:
--                     the units' paid value, the penalty's base, cannot be computed honestly
--   data_problem      as above (after the awaiting ones: data still to come comes first)
-- The evidence is kept as facts (evidence_facts: a list of fact code + arguments, sql/flags/macros.sql
-- fl_fact) and said in English in `evidence` (the catalogue's templates, $ev_codes / $ev_texts:
-- pipeline/explain.py); the outputs say it in the reader's language from the same facts.
-- Grain: one row per flagged order. Inputs: fl_kinds, fl_responsibility, fl_evidence,
-- fl_orders, fl_lines, fl_decided, fl_untrusted, fl_problems, refunds.
-- Params: $as_of, $run_id, $ev_codes, $ev_texts.
with

kind_rows as not materialized (
    select
        e.*,
        case
            when e.rule in ('ship_shortfall', 'ship_reship', 'ship_wrong_sku',
                            'unshipped_deadline', 'closed_out_of_stock') then 1
            when e.rule = 'refund_amount' then 2
            when e.rule = 'refund_reason' then 3
            when e.rule = 'aftersale_reship' then 4
            when e.rule = 'parcel_weight' then 5
            when e.rule in ('text_words', 'text_makeup') then 6
            else 9
        end                                                       as value_rank
    from fl_evidence e
    join fl_kinds k using (order_id, kind)
),

-- the evidence class that values the goods concerned
value_class as (
    select order_id, min(value_rank) as value_rank
    from kind_rows
    where missing_qty is not null or affected_amount is not null
    group by order_id
),

-- per line (or per refund when no line is known) the best row of that class
value_rows as (
    select r.*
    from kind_rows r
    join value_class v using (order_id)
    where r.value_rank = v.value_rank or (v.value_rank in (2, 3) and r.value_rank in (2, 3))
    qualify row_number() over (
        partition by r.order_id, coalesce(r.line_no::varchar, r.refund_id, r.rule)
        order by r.value_rank, r.missing_qty desc nulls last, r.confidence desc
    ) = 1
),

valued as (
    select
        v.order_id,
        -- short / wrong: lines (or refunds) add up; other kinds: rows about one line each add
        -- up (e.g. one 缺货 refund per line), a row about the whole order stands alone
        case when any_value(v.kind) in ('short', 'wrong') then sum(v.missing_qty)
             else greatest(sum(v.missing_qty) filter (where v.line_no is not null),
                           max(v.missing_qty) filter (where v.line_no is null)) end
                                                                  as missing_qty,
        case when any_value(v.kind) in ('short', 'wrong') then sum(v.affected_amount)
             else greatest(sum(v.affected_amount) filter (where v.line_no is not null),
                           max(v.affected_amount) filter (where v.line_no is null)) end
                                                                  as affected_amount,
        case when count(distinct coalesce(v.line_no, -1)) = 1 then min(v.line_no) end as line_no,
        case when count(distinct coalesce(v.sku, '')) = 1 then min(v.sku) end         as sku
    from value_rows v
    group by v.order_id
),

-- the line the evidence names when none of it values the goods (补发小熊公仔: the line, no count)
named_line as (
    select order_id, min(line_no) as line_no, min(sku) as sku
    from kind_rows
    where line_no is not null
    group by order_id
    having count(distinct line_no) = 1
),

refunded as (
    select order_id, sum(amount) as refunded_amount
    from (
        select order_id, coalesce(refund_id, rule) as what, max(refunded_amount) as amount
        from kind_rows
        group by all
    )
    group by order_id
),

-- the evidence text orders only rows alike in the keys before it: rendered for those alone
-- (counted over all the order's evidence: a superset of the rows alike within its kind)
tied as (
    select order_id as tied_order_id, is_primary as tied_primary, confidence as tied_confidence,
           rule as tied_rule
    from fl_evidence
    group by all
    having count(*) > 1
),

-- and the facts order only rows alike in the text too: carried among the sort keys for those
-- alone (for every row alike in the keys, they cost 0.3-0.5 of the 1.3-1.55 CPU s of
-- aggregating the facts at 1M orders: moving nested values is what costs here). Read from
-- fl_evidence's rows alike in the keys, not from kind_texts: a second read of kind_texts joins
-- every row's facts to its kind again (the flags insert 3.59-3.64 CPU s at 1M, against 3.21-3.25
-- before this CTE existed and 3.34-3.58 as it is)
tied_texts as (
    select order_id as tt_order_id, is_primary as tt_primary, confidence as tt_confidence,
           rule as tt_rule, fl_render(facts, map($ev_codes, $ev_texts)) as tt_text
    from fl_evidence
    semi join tied
      on tied_order_id = order_id and tied_primary is not distinct from is_primary
     and tied_confidence is not distinct from confidence and tied_rule is not distinct from rule
    group by all
    having count(*) > 1
),

-- each row of the flag's kind with its text where the text orders it
kind_texts as not materialized (
    select
        r.*,
        case when tied_order_id is not null then fl_render(r.facts, map($ev_codes, $ev_texts)) end as tie_text
    from kind_rows r
    left join tied
      on tied_order_id = r.order_id and tied_primary is not distinct from r.is_primary
     and tied_confidence is not distinct from r.confidence and tied_rule is not distinct from r.rule
),

summed as (
    select
        order_id,
        -- lists sorted after aggregating (cheaper than ordered aggregates on many orders)
        list_sort(list_distinct(list(rule)))                      as rules,
        -- the evidence: primary first, then the most confident, then by rule and text (a data
        -- problem's rows are quoted apart, ahead of it: problem_texts)
        -- (the text orders only rows alike in the keys before it, the facts only rows alike in
        -- the text too: given for those alone; each row's facts, as quoted (a new row), are
        -- listed once and put in the order of the keys by list_grade_up, not sorted along with
        -- them)
        coalesce(flatten(list_select(
            list(fl_lead(facts, 'row')) filter (where rule <> 'data_problem'),
            list_grade_up(list(struct_pack(
                p := not is_primary, c := -confidence, r := rule, t := tie_text,
                e := case when tt_order_id is not null then facts end))
                filter (where rule <> 'data_problem')))), [])   as facts,
        max(reshipped_at)                                         as reshipped_at,
        list_sort(list_distinct(list(refund_id) filter (where refund_id is not null))) as refund_ids,
        case
            when bool_or(basis = 'explicit') then 'explicit'
            when bool_or(basis = 'amount') then 'amount'
            when bool_or(basis = 'weight') then 'weight'
            when bool_and(basis = 'problem') then 'problem'
            else 'text'
        end                                                       as basis
    from kind_texts
    left join tied_texts
      on tt_order_id = order_id and tt_primary is not distinct from is_primary
     and tt_confidence is not distinct from confidence and tt_rule is not distinct from rule
     and tt_text = tie_text
    group by order_id
),

complaints as (
    select order_id, bool_or(complaint) as complaint
    from fl_evidence
    group by order_id
),

-- what does not add up about each order, seen by the run's clock: refunds held back
-- (fl_untrusted) and a decision that gives more units missing than were ordered
problem_texts as (
    select order_id, flatten(list(facts order by source, detail)) as problem_facts
    from (
        select
            u.order_id,
            0                                                     as source,
            u.detail,
            fl_lead(any_value(u.facts), 'row')
                || [fl_fact0('none', 'problem.refunds_open')]
                || fl_lead(list(case when r.reason is null
                                     then fl_fact('item', 'problem.refund', ['refund_id'], [u.refund_id])
                                     else fl_fact('item', 'problem.refund_reason', ['refund_id', 'reason'],
                                                  [u.refund_id, fl_quote(r.reason)]) end
                                order by u.refund_id), 'none')
                || [fl_fact0('none', 'problem.not_evidence')]     as facts
        from fl_untrusted u
        join refunds r using (refund_id)
        where r.applied_at is null or r.applied_at <= $as_of
        group by u.order_id, u.detail
        union all
        select
            order_id,
            1,
            detail,
            fl_lead(facts, 'row') || [fl_fact0('none', 'problem.decision_not_applied')]
        from fl_problems
        where problem = 'decision_units_exceed_ordered'
    )
    group by order_id
),

decided as (
    select
        d.*,
        k.kind,
        v.missing_qty                                             as detected_qty,
        v.affected_amount                                         as detected_amount,
        ln.line_paid,
        ln.quantity                                               as line_qty
    from fl_decided d
    join fl_kinds k using (order_id)
    left join valued v using (order_id)
    left join fl_orders o using (order_id)
    left join fl_lines ln
      on ln.order_id = d.order_id
     and ln.line_no = coalesce(v.line_no, case when o.line_count = 1 then 1 end)
),

decided_amounts as (
    select
        order_id,
        decision,
        responsibility,
        why,
        coalesce(missing_qty, detected_qty)                       as missing_qty,
        case
            when missing_qty is null or kind not in ('short', 'wrong') then detected_amount
            when line_paid is not null then fl_share(line_paid, least(missing_qty, line_qty), line_qty)
            when detected_qty > 0 and detected_amount is not null
                then fl_share(detected_amount, missing_qty, detected_qty)
        end                                                       as affected_amount
    from decided
),

held as (
    select
        k.order_id,
        pt.problem_facts,
        pt.order_id is not null and dd.order_id is null           as problem_held,
        case
            when not coalesce(o.order_loaded, false) then 'order_not_loaded'
            when k.kind in ('short', 'wrong') and coalesce(o.line_count, 0) = 0 then 'lines_not_loaded'
            when pt.order_id is not null and dd.order_id is null then 'data_problem'
        end                                                       as hold
    from fl_kinds k
    left join fl_orders o using (order_id)
    left join problem_texts pt using (order_id)
    left join decided_amounts dd using (order_id)
),

-- the evidence as facts: the data problems, the signals' evidence (primary first, then the most
-- confident), then who is responsible and why, whether the buyer complained, what is awaited
flag_rows as (
    select
        k.order_id,
        o.shop,
        o.buyer,
        k.kind,
        case when h.problem_held then 'undetermined'
             else coalesce(dd.responsibility, r.responsibility) end  as responsibility,
        case when dd.order_id is not null then 0.99
             when h.problem_held then round(least(0.99, k.score), 3)
             else round(least(0.99, 1 - (1 - k.score) * (1 - r.resp_confidence)), 3) end::double as confidence,
        list_sort(list_distinct(
            s.rules
            || case when r.resp_rule is not null and not h.problem_held then [r.resp_rule] else [] end
            || case when h.problem_facts is not null then ['data_problem'] else [] end
            || case when dd.order_id is not null then ['review_decision'] else [] end))  as rules,
        -- (the lists joined by flatten: a chain of || copies the list built so far at each
        -- step; none of them is NULL)
        flatten([
        coalesce(h.problem_facts, []),
        s.facts,
        [fl_fact0('sentence', 'responsibility.'
                     || case when h.problem_held then 'undetermined'
                             else coalesce(dd.responsibility, r.responsibility) end)],
        case
             when dd.order_id is not null then
                 [fl_fact0('none', 'resp.because')] || dd.why
                 || [fl_fact0('none', 'resp.the_data.' || r.responsibility)]
                 || fl_lead(coalesce(r.resp_facts, []), 'item')
                 || [fl_fact0('none', 'close_paren')]
             when h.problem_held then
                 [fl_fact0('none', 'resp.rows_do_not_add_up')]
                 || case when r.responsibility <> 'undetermined'
                         then [fl_fact0('none', 'resp.data_alone.' || r.responsibility)]
                              || fl_lead(coalesce(r.resp_facts, []), 'item') || [fl_fact0('none', 'close_paren')]
                         else [] end
             when r.resp_facts is not null then [fl_fact0('none', 'resp.because')] || r.resp_facts
             else [fl_fact0('none', case s.basis when 'text' then 'resp.words_only'
                                                 when 'amount' then 'resp.amount_only'
                                                 else 'resp.no_record' end)]
           end,
        case when not coalesce(c.complaint, false) then [fl_fact0('sentence', 'no_complaint')] else [] end,
        case h.hold
             when 'order_not_loaded' then [fl_fact0('sentence', 'awaiting.order_not_loaded')]
             when 'lines_not_loaded' then [fl_fact0('sentence', 'awaiting.lines_not_loaded')]
             else [] end])
                                                                  as evidence_facts,
        coalesce(dd.missing_qty, v.missing_qty)::bigint           as missing_qty,
        case when dd.order_id is not null then dd.affected_amount else v.affected_amount end::decimal(18, 2)
                                                                  as affected_amount,
        o.paid_at,
        o.ship_by,
        s.reshipped_at,
        coalesce(f.refunded_amount, 0)::decimal(18, 2)            as refunded_amount,
        $as_of::timestamp                                         as as_of,
        $run_id::varchar                                          as run_id,
        s.basis,
        coalesce(c.complaint, false)                              as complaint,
        case when v.order_id is not null then v.line_no else nl.line_no end::integer as line_no,
        case when v.order_id is not null then v.sku else nl.sku end  as sku,
        coalesce(s.refund_ids, [])                                as refund_ids,
        dd.decision,
        h.hold
    from fl_kinds k
    join fl_responsibility r using (order_id)
    join summed s using (order_id)
    join held h using (order_id)
    left join fl_orders o using (order_id)
    left join valued v using (order_id)
    left join refunded f using (order_id)
    left join complaints c using (order_id)
    left join decided_amounts dd using (order_id)
    left join named_line nl using (order_id)
),

final as (
    select
        order_id,
        shop,
        buyer,
        kind,
        responsibility,
        confidence,
        rules,
        evidence_facts,
        fl_render(evidence_facts, map($ev_codes, $ev_texts))          as evidence,
        missing_qty,
        affected_amount,
        paid_at,
        ship_by,
        reshipped_at,
        refunded_amount,
        as_of,
        run_id,
        basis,
        complaint,
        line_no,
        sku,
        refund_ids,
        decision,
        hold
    from flag_rows
)

select * from final
