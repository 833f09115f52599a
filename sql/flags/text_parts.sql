-- The texts (fl_texts) cut into parts: a part begins where a trigger word (补发, 少发, 发错 ...)
-- or a break word (送, 加, a courier ...) begins, or after 和 / 及 / 跟, and a clause ends at
-- punctuation or white space. Each part is read for its count and the item it names:
--   一个平毛电动狗 -> 1 × 平毛电动狗;  517-15电子琴一个 -> 1 × 517-15电子琴;  2电动鱼 -> 2 × 电动鱼;
--   惯性工程车*1 -> 1;  两板5号电池 -> 2 × 5号电池 (5号 is a size, 板 a measure word);  3个 -> a
--   count alone, for the item before it;  补发个X -> 1 (not 台灯补发两个 or 补发台灯两个: a name may
--   begin with a measure word).
-- A number counts only before a measure word ([phrases] measure_words), or, one or two Arabic
-- digits, right before the item's name and not before a size mark ([phrases] not_counts): so
-- 2020电动挖掘机一个 is one 2020 digger and 补发2版5号电池 two cards (版) of No. 5 batteries.
-- Grain: one row per text (fl_texts) × clause × part.
-- Columns: text_id, order_id, clause_no, part_no, seq (order in the text), part (as written),
--   before (what stands before it in its clause), lead (the trigger or break word it begins with), lead_kind (short, wrong, empty,
--   not_received, reship, break, or NULL), negated (a negation stands before the trigger in its
--   clause: 不要少发), excluded (begins with a [phrases] not_trigger word), received (the count is
--   what arrived: 只收到两个), each (各补发一: the count is for each item before), qty,
--   qty_only (nothing but a count), item (the item's words, filler dropped), codes (model or
--   SKU codes: 517-15, A380; sizes: 5号), han (the item's name: its Han characters less sizes and
--   [phrases] descriptive words), gift, damage, other_order (the
--   part holds a word of those [phrases] lists).
-- Inputs: fl_texts, policy_terms. Params: the patterns of sql/flags/phrase_patterns.sql as
-- $re_<name> (constants).
with

-- \x03 before every trigger or break word (a not_trigger word is wrapped in \x01 … \x02 by the
-- same pass, and the wrappers are dropped), \x04 for 和 / 及 / 跟
marked as (
    select
        t.text_id,
        t.order_id,
        regexp_replace(
            regexp_replace(
                replace(regexp_replace(t.text, $re_split_re, chr(1) || '\1' || chr(2) || '\2', 'g'),
                        chr(1) || chr(2), chr(3)),
                '[\x{01}\x{02}]', '', 'g'),
            '以及|和|及|跟', chr(4), 'g')                                  as marked
    from fl_texts t
),

clauses as (
    select text_id, order_id, c.s as clause, c.i as clause_no
    from (
        select text_id, order_id,
               unnest(list_transform(string_split_regex(marked, '[\s，,。！!？?；;、~～…]+'),
                                     lambda x, i: struct_pack(s := x, i := i))) as c
        from marked
    )
    where c.s <> ''
),

-- each part with the characters of the parts before it in its clause (offset)
split_parts as (
    select text_id, order_id, clause_no, clause, x.s as part, x.i as part_no, x.o as offset_chars
    from (
        select text_id, order_id, clause_no, clause,
               unnest(list_transform(pieces, lambda s, i: struct_pack(
                   s := s, i := i,
                   o := coalesce(list_sum(list_transform(pieces[1:i - 1], lambda y: length(y))), 0)))) as x
        from (select *, string_split_regex(clause, '[\x{03}\x{04}]') as pieces from clauses)
    )
),

parts as (
    select
        s.text_id, s.order_id, s.clause_no, s.part, s.part_no,
        -- what stands before the part in its clause (for a negation: 不要 | 少发): the clause up to
        -- the part, the one marker character before each part taken out
        replace(replace(left(s.clause, (s.offset_chars + s.part_no - 1)::bigint), chr(3), ''), chr(4), '')
                                                                                  as before,
        regexp_extract(s.part, $re_lead_re, 1)                                    as lead
    from split_parts s
    where trim(s.part) <> ''
),

lead_kinds as (
    select term, arg_min(kind, prio) as kind
    from (
        select distinct term, case when list = 'words' then kind else 'break' end as kind,
               case when list = 'words' then 1 else 2 end as prio
        from policy_terms
        where list = 'words' or (list = 'phrases' and kind = 'breaks')
    )
    group by term
),

not_triggers as (
    select term from policy_terms where list = 'phrases' and kind = 'not_trigger'
),

led as (
    select
        p.*,
        k.kind                                                                    as lead_kind,
        trim(substr(p.part, length(p.lead) + 1))                                  as rest,
        exists (select 1 from not_triggers x where starts_with(p.part, x.term))   as excluded
    from parts p
    left join lead_kinds k on k.term = p.lead and p.lead <> ''
),

counted as (
    select
        l.*,
        regexp_matches(l.before, $re_neg_re)                                      as negated,
        l.lead <> '' and regexp_matches(l.lead, $re_received_re)                  as received,
        l.lead <> '' and ends_with(l.before, '各')                                as each,
        regexp_extract(l.rest, $re_lead_count_re, ['pre', 'arabic', 'm1', 'none', 'chinese', 'm2']) as c_lead,
        -- 补发个X: a measure word right after the trigger counts one, unless the part gives a count
        -- (补发台灯两个); a part that begins with no trigger (台灯补发两个) names an item (台灯), no count
        l.lead <> '' and regexp_matches(l.rest, $re_lead_measure_re)
        and not regexp_matches(l.rest, $re_count_re)                              as n_implicit,
        regexp_extract(l.rest, $re_count_re, ['pre', 'arabic', 'm1', 'none', 'chinese', 'm2']) as c_any,
        nullif(regexp_extract(l.rest, $re_times_re, 2), '')                       as n_star,
        regexp_matches(l.rest, $re_num_re)                                        as n_alone,
        case when not regexp_matches(l.rest, $re_size_re)
             then nullif(regexp_extract(l.rest, '^([0-9]{1,2})\p{Han}', 1), '') end as n_bare
    from led l
),

numbers as (
    select
        * exclude (c_lead, c_any),
        coalesce(nullif(c_lead.arabic, ''), nullif(c_lead.chinese, ''))           as n_lead,
        coalesce(nullif(c_any.arabic, ''), nullif(c_any.chinese, ''))             as n_any
    from counted
),

read as (
    select
        *,
        case
            when n_lead is not null then fl_number(n_lead)
            when n_implicit then 1
            when n_any is not null then fl_number(n_any)
            when n_star is not null then n_star::bigint
            when n_alone then fl_number(rest)
            when n_bare is not null then n_bare::bigint
        end                                                                       as qty,
        case
            when n_lead is not null then regexp_replace(rest, $re_lead_count_re, '')
            when n_implicit then regexp_replace(rest, $re_lead_measure_re, '')
            when n_any is not null then regexp_replace(rest, $re_count_re, '\1\4')
            when n_star is not null then regexp_replace(rest, $re_times_re, '\1\3')
            when n_alone then ''
            when n_bare is not null then regexp_replace(rest, '^[0-9]{1,2}', '')
            else rest
        end                                                                       as item_raw
    from numbers
),

items as (
    select
        *,
        trim(regexp_replace(regexp_replace(item_raw, $re_not_item_re, '', 'g'),
                            '^[\s（(）)：:*]+|[\s（(：:*]+$', '', 'g'))               as item
    from read
),

final as (
    select
        text_id, order_id, clause_no, part_no,
        row_number() over (partition by text_id order by clause_no, part_no)      as seq,
        part, before, lead, lead_kind,
        coalesce(negated, false)                                                  as negated,
        coalesce(excluded, false)                                                 as excluded,
        coalesce(received, false)                                                 as received,
        coalesce(each, false)                                                     as each,
        qty,
        qty is not null and item = ''                                             as qty_only,
        item,
        list_filter(regexp_extract_all(item, '[0-9A-Za-z][0-9A-Za-z\-]*[0-9A-Za-z]'),
                    lambda c: length(c) >= 3
                              and not regexp_full_match(c, '(19|20)[0-9]{2}|1[3-9][0-9]{9}')
                              and not regexp_full_match(c, '[0-9]+(cm|CM|mm|MM|m|M|V|v|g|G|W|w)'))
        || regexp_extract_all(item, $re_size_tok_re)                              as codes,
        regexp_replace(regexp_replace(regexp_replace(item, $re_size_tok_re, '', 'g'), $re_descriptive_re, '', 'g'),
                       '[^\p{Han}]', '', 'g')                                     as han,
        regexp_matches(part, $re_gift_re)                                         as gift,
        regexp_matches(part, $re_damage_re)                                       as damage,
        regexp_matches(part, $re_other_re)                                        as other_order
    from items
)

select * from final
