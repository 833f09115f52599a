-- The notes: what every phrase detection read says, and the refunds explained otherwise (see
-- sql/schema/35_detection.sql). A phrase that says something other than "units of this order
-- are missing" never raises a flag: a gift (text_gift), an agreed swap (text_substitution),
-- damage (text_damage), a checkout wish or warning (text_checkout), a make-up no earlier order
-- matches (text_other_order, also the units of a make-up larger than every earlier line that
-- held its item); a make-up traced to an earlier order (text_makeup) flags that order, not this one.
-- Grain: one row per text phrase × rule (a phrase naming items on this order and on an earlier
-- one gives two rows), plus one per refund explained otherwise.
-- Inputs: fl_text_match, sig_refund_amount, flags. Params: $as_of, $run_id, $ev_codes, $ev_texts.
with

phrases as (
    select
        m.order_id,
        m.source,
        m.refund_id,
        case m.relation
            when 'this_order' then 'text_words'
            when 'make_up' then 'text_makeup'
            when 'untraced' then 'text_other_order'
            when 'gift' then 'text_gift'
            when 'damage' then 'text_damage'
            when 'checkout' then 'text_checkout'
            when 'substitution' then 'text_substitution'
        end                                                                       as rule,
        m.relation                                                                as sort,
        m.kind,
        fl_say(m.text)                                                            as quote,
        case when bool_and(m.target_qty is not null) then sum(m.target_qty) end   as missing_qty,
        coalesce(list_sort(list_distinct(list(m.target_order_id) filter (where m.relation = 'make_up'))),
                 []::varchar[])                                                   as related_order_ids,
        bool_or(f.order_id is not null)                                           as flagged
    from fl_text_match m
    left join flags f
      on f.order_id = case when m.relation = 'make_up' then m.target_order_id
                           when m.relation = 'this_order' then m.order_id end
    group by m.order_id, m.source, m.refund_id, m.text, m.span_seq, m.relation, m.kind
),

-- the units of a make-up that no earlier line holding its item could take: context
unplaced as (
    select
        order_id,
        source,
        refund_id,
        'text_other_order'                                                        as rule,
        'untraced'                                                                as sort,
        kind,
        fl_say(text)                                                              as quote,
        sum(unplaced_qty)                                                         as missing_qty,
        []::varchar[]                                                             as related_order_ids,
        false                                                                     as flagged
    from (
        select distinct order_id, source, refund_id, kind, text, span_seq, item_no, unplaced_qty
        from fl_text_match
        where relation = 'make_up' and unplaced_qty > 0
    )
    group by order_id, source, refund_id, kind, text, span_seq
),

refunds_explained as (
    select
        order_id,
        case when refund_id is null then '退款金额' else '退款' end               as source,
        refund_id,
        'refund_explained'                                                        as rule,
        'refund_explained'                                                        as sort,
        kind,
        -- the refund and what explains it, said in English ($ev_codes / $ev_texts: pipeline/explain.py)
        fl_render(facts || [fl_fact0('row', 'refund_amount.explained_by.' || explained_by)],
                  map($ev_codes, $ev_texts))                                      as quote,
        missing_qty,
        []::varchar[]                                                             as related_order_ids,
        false                                                                     as flagged
    from sig_refund_amount
    where explained_by is not null
),

final as (
    select *, $as_of::timestamp as as_of, $run_id::varchar as run_id from phrases
    union all
    select *, $as_of::timestamp, $run_id::varchar from unplaced
    union all
    select *, $as_of::timestamp, $run_id::varchar from refunds_explained
)

select * from final
