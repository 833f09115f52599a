-- The regular expressions the text models read phrases with, built from the policy's lists
-- (policy_terms: [words] triggers, [phrases] sorts, detection.negations). Terms are escaped
-- (fl_re_escape) and the longer of two overlapping terms is tried first (补发 before 补).
-- Grain: one row.
-- Columns:
--   split_re     (not_trigger)|(trigger or break): marks where a part of a phrase begins; a
--                not_trigger term is tried first, so 补货 or 多少 never starts a part
--   lead_re      ^(trigger or break): the word a part begins with
--   neg_re       a negation and at most $negation_window characters before the end of a text
--   count_re     a count: a number (Arabic up to 3 digits: group 2; Chinese: group 5) and a
--                measure word
--   times_re     a count written *2 or x2 (group 2)
--   num_re       a number alone (各补发一)
--   size_re      a number and a size or model mark (5号, 26cm): never a count
--   size_tok_re  such a size anywhere (it names an item: 5号 batteries)
--   lead_count_re, lead_measure_re: a count, a measure word, at the start
--   not_item_re  another-order or filler words (dropped from an item's name)
--   gift_re, damage_re, other_re, filler_re, received_re, descriptive_re, packing_re, swap_re:
--                any term of that list
--   swap_lead_re ^(a [phrases] substitution term): a clause that begins with one
-- Inputs: policy_terms. Params: $negation_window.
with

terms as (
    select list, kind, term, fl_re_escape(term) as re, length(term) as len
    from policy_terms
    where list in ('words', 'phrases') or (list = 'detection' and kind = 'negations')
),

alts as (
    select
        string_agg(re, '|' order by len desc, re) filter (where list = 'words')                     as triggers,
        string_agg(re, '|' order by len desc, re) filter (where list = 'words'
                                                           or (list = 'phrases' and kind = 'breaks')) as leads,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'not_trigger') as not_triggers,
        string_agg(re, '|' order by len desc, re) filter (where list = 'detection')                  as negations,
        string_agg(re, '' order by len desc, re) filter (where list = 'phrases' and kind = 'measure_words' and len = 1)
                                                                                                     as measures,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'not_counts') as sizes,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'gift')     as gifts,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'damage')   as damages,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'other_order') as others,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'filler')   as fillers,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'received') as received,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'descriptive') as descriptive,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'packing')  as packing,
        string_agg(re, '|' order by len desc, re) filter (where list = 'phrases' and kind = 'substitution') as swaps
    from terms
),

-- a pattern that never matches stands in for an empty list
filled as (
    select
        coalesce(triggers, '\x{10FFFF}')       as triggers,
        coalesce(leads, '\x{10FFFF}')          as leads,
        coalesce(not_triggers, '\x{10FFFE}')   as not_triggers,
        coalesce(negations, '\x{10FFFF}')      as negations,
        coalesce(measures, '个')               as measures,
        coalesce(sizes, '\x{10FFFF}')          as sizes,
        coalesce(gifts, '\x{10FFFF}')          as gifts,
        coalesce(damages, '\x{10FFFF}')        as damages,
        coalesce(others, '\x{10FFFF}')         as others,
        coalesce(fillers, '\x{10FFFF}')        as fillers,
        coalesce(received, '\x{10FFFF}')       as received,
        coalesce(descriptive, '\x{10FFFF}')    as descriptive,
        coalesce(packing, '\x{10FFFF}')        as packing,
        coalesce(swaps, '\x{10FFFF}')          as swaps
    from alts
),

final as (
    select
        '(' || not_triggers || ')|(' || leads || ')'                                   as split_re,
        '^(' || leads || ')'                                                           as lead_re,
        '(' || negations || ')[^，,。.!！?？；;、\s]{0,' || $negation_window::bigint || '}$' as neg_re,
        -- an Arabic number (group 2) that is not the tail of a code or a decimal (A380个, 5.5个), or
        -- a Chinese one (group 5, also right after a code: CAR一个)
        '(^|[^0-9A-Za-z.\-])([0-9]{1,3})\s*([' || measures || '])|()([一二两三四五六七八九十]{1,3})\s*(['
            || measures || '])'                                                        as count_re,
        -- 惯性工程车*1, x2: the number in group 2; not the X of a code (ZX9555)
        '(^|[^0-9A-Za-z])[*xX×]\s*([0-9]{1,3})([^0-9]|$)'                          as times_re,
        '^([0-9]{1,3}|[一二两三四五六七八九十]{1,3})$'                                  as num_re,
        '^[0-9]{1,3}\s*(' || sizes || ')'                                              as size_re,
        '[0-9]{1,3}(' || sizes || ')'                                                  as size_tok_re,
        gifts                                                                          as gift_re,
        damages                                                                        as damage_re,
        others                                                                         as other_re,
        fillers                                                                        as filler_re,
        '^(' || received || ')'                                                        as received_re,
        '[' || measures || ']'                                                         as measure_re,
        '^[' || measures || ']'                                                        as lead_measure_re,
        '^(?:(^|[^0-9A-Za-z.\-])([0-9]{1,3})\s*([' || measures || '])|()([一二两三四五六七八九十]{1,3})\s*(['
            || measures || ']))'                                                       as lead_count_re,
        '(' || others || ')|(' || fillers || ')'                                       as not_item_re,
        descriptive                                                                    as descriptive_re,
        packing                                                                        as packing_re,
        swaps                                                                          as swap_re,
        '^(' || swaps || ')'                                                           as swap_lead_re
    from filled
)

select * from final
