-- What each phrase says: a trigger part (补发, 少发, 发错 ...; fl_text_parts) with the items it
-- names, sorted by meaning.
-- The items of a trigger: its own (补发一个平毛电动狗), then the parts after it that carry a count
-- (补发2电动鱼 一个平毛狗; the first part after a 补发 with nothing else needs none), up to the next trigger or
-- break word (送, 加, a courier ...) or a gift word; when the trigger names nothing itself
-- (6608补发一个, 平博士惯性泡泡枪 1把 补发, 音乐小吉他 粉色拉线车 各补发一) the parts before the
-- first trigger of the text. A count alone (3个) belongs to the item before it; the trigger's own
-- count (补发一个) to the item(s) before it (each of them after 各) (a word before a trigger may
-- name nothing: 客户说少了2个).
-- Sorts (one per phrase, each a rule id in flags.rules or notes.rule):
--   gift        a gift word with the trigger (补发赠品): a packing error to count, nothing owed
--   substitution a short / re-ship phrase with an agreed swap in its clause ([phrases]
--               substitution: 少发一个机器人换成2个青蛙泡泡枪, or the next clause beginning with one):
--               the buyer took other goods instead, nothing is missing
--   damage      a short / re-ship phrase on an order whose texts speak of damage (坏, 破, 不亮,
--               not negated): the goods are replaced, nothing was missing
--   checkout    a 买家留言 saying short / wrong / empty / not received: written at checkout, a
--               warning or a wish, never a report about this order's parcel
--   make_up     a re-shipment for an earlier order: a 买家留言 asking to 补 an item, a phrase
--               naming another order (上次, 之前), or a 订单备注 re-shipment on an order whose
--               买家留言 asks for one (sql/flags/text_match.sql traces it to the order)
--   this_order  units of this order's goods (a 订单备注 naming an item not on the order is
--               traced like a make-up: may_trace)
-- A text is a packing instruction (packing) when a part of it outside the items of its trigger
-- phrases holds a [phrases] packing word (a courier, a colour choice, extra goods: 发申通, 都发粉色的吧,
-- 加3个拉线飞机): written before this order's parcel left, so a 订单备注 of that kind re-ships for an
-- earlier order (sql/flags/text_match.sql).
-- Grain: one row per trigger part (span) × item it names (item_no 0: the span names no item).
-- Columns besides the sort: reship (the trigger is a 补发 word: [words] reship), packing; only
-- those later steps read (no span text, no at_checkout, no looked_back: nothing read them, and the
-- ordered list of each span's parts cost a sort).
-- Inputs: fl_text_parts, fl_texts. Params: $re_damage_re, $re_neg_re, $re_packing_re, $re_swap_re,
-- $re_swap_lead_re (sql/flags/phrase_patterns.sql).
with

texts as (
    select * from fl_texts
),

flagged_parts as (
    select
        p.text_id,
        p.seq,
        coalesce(p.lead_kind in ('short', 'wrong', 'empty', 'not_received', 'reship')
                 and not p.negated and not p.excluded, false)                     as trigger_word,
        coalesce(p.lead_kind = 'break', false)                                    as break_word,
        p.gift,
        p.item = ''                                                               as no_item
    from fl_text_parts p
),

-- the word that last started something before each part: T a trigger, B a break (the windows
-- sort these few columns only; the parts' own columns are joined back in `spanned`)
preceded as (
    select
        *,
        last_value(case when trigger_word then 'T' when break_word then 'B' end ignore nulls) over (
            partition by text_id order by seq rows between unbounded preceding and 1 preceding) as before_kind
    from flagged_parts
),

parts as (
    select
        *,
        -- a trigger that names nothing right after another (上次少发的X，补发2个; 赠品漏发了，补发一个)
        -- says more about the same items: it continues that phrase (its count is theirs)
        trigger_word and not (no_item and coalesce(before_kind = 'T', false))    as is_trigger,
        -- a gift word after a trigger starts another instruction (补发… 小礼物一份)
        (trigger_word and not (no_item and coalesce(before_kind = 'T', false)))
        or break_word
        or (gift and before_kind is not null)                                     as starts_span
    from preceded
),

spanned as materialized (
    select
        p.*,
        n.trigger_word, n.break_word, n.before_kind, n.is_trigger, n.starts_span, n.span_no
    from fl_text_parts p
    join (
        select
            text_id, seq, trigger_word, break_word, before_kind, is_trigger, starts_span,
            sum(starts_span::int) over (partition by text_id order by seq rows unbounded preceding) as span_no
        from parts
    ) n using (text_id, seq)
),

triggers as materialized (
    select
        s.*,
        s.item = ''                                                               as bare,
        -- the parts before the first trigger of the text, when the trigger names nothing
        s.item = '' and s.span_no = 1 and exists (
            select 1 from spanned b where b.text_id = s.text_id and b.span_no = 0 and b.item <> '')
                                                                                  as looks_back
    from spanned s
    where s.is_trigger
),

forward as (
    select
        t.text_id, t.seq as t_seq, p.seq, p.item, p.qty, p.qty_only, p.codes, p.han, p.gift, p.other_order,
        p.part,
        -- a part continues the list when it carries a count, or is the first after a trigger
        -- that says nothing else (补发  3633水枪2个 …; not 少发一个 待处理)
        p.qty is not null
        or (t.bare and t.qty is null and not t.looks_back
            and row_number() over (partition by t.text_id, t.seq order by p.seq) = 1)  as continues
    from triggers t
    join spanned p on p.text_id = t.text_id and p.span_no = t.span_no and p.seq > t.seq
),

forward_kept as (
    select *
    from (
        select *, min(seq) filter (where not continues) over (partition by text_id, t_seq) as stop_seq
        from forward
    )
    where stop_seq is null or seq < stop_seq
),

back as (
    select t.text_id, t.seq as t_seq, p.seq, p.item, p.qty, p.qty_only, p.codes, p.han, p.gift, p.other_order, p.part
    from triggers t
    join spanned p on p.text_id = t.text_id and p.span_no = 0
    where t.looks_back
),

-- every part of a span: the trigger itself, then what it names
span_parts as materialized (
    select text_id, seq as t_seq, seq, item, qty, qty_only, codes, han, gift, other_order, part, 'trigger' as role
    from triggers
    union all
    select text_id, t_seq, seq, item, qty, qty_only, codes, han, gift, other_order, part, 'after'
    from forward_kept
    union all
    select text_id, t_seq, seq, item, qty, qty_only, codes, han, gift, other_order, part, 'before'
    from back
),

-- items: a part naming something opens one; a count alone joins the item before it
indexed as materialized (
    select
        *,
        sum((item <> '')::int) over (partition by text_id, t_seq order by seq rows unbounded preceding) as item_no
    from span_parts
),

span_info as materialized (
    select
        text_id,
        t_seq,
        bool_or(gift) filter (where role in ('trigger', 'before'))                as gift,
        bool_or(other_order)                                                      as other_order,
        count(distinct item_no) filter (where item_no > 0)                        as n_items
    from indexed
    group by text_id, t_seq
),

named as (
    select
        text_id,
        t_seq,
        item_no,
        max(item) filter (where item <> '')                                       as item,
        min(codes) filter (where item <> '')                                      as codes,
        max(han) filter (where item <> '')                                        as han,
        coalesce(max(qty) filter (where item <> ''), max(qty) filter (where qty_only and role <> 'trigger'))
                                                                                  as qty
    from indexed
    where item_no > 0
    group by text_id, t_seq, item_no
),

-- the trigger's own count (补发一个) goes to the items it names before it (each after 各), or
-- stands for an item the phrase does not name
items as (
    select
        n.text_id, n.t_seq, n.item_no, n.item, n.codes, n.han,
        coalesce(n.qty, case when t.bare and (t.each or i.n_items = 1) then t.qty end) as qty
    from named n
    join triggers t on t.text_id = n.text_id and t.seq = n.t_seq
    join span_info i on i.text_id = n.text_id and i.t_seq = n.t_seq
    union all
    select t.text_id, t.seq, 0, '', [], '', t.qty
    from triggers t
    join span_info i on i.text_id = t.text_id and i.t_seq = t.seq
    where i.n_items = 0
),

-- damage said anywhere on the order, not after a negation (不要压坏 is a wish)
damage_orders as (
    select distinct p.order_id
    from fl_text_parts p
    where p.damage
      and not regexp_matches(p.before || substr(p.part, 1, strpos(p.part, regexp_extract(p.part, $re_damage_re)) - 1),
                             $re_neg_re)
),

-- a text that says how to pack this parcel: a [phrases] packing word in a part that is no item of
-- a trigger phrase (nor a trigger itself)
packing_texts as (
    select distinct p.text_id
    from spanned p
    where not p.trigger_word
      and regexp_matches(p.part, $re_packing_re)
      and not exists (select 1 from span_parts sp where sp.text_id = p.text_id and sp.seq = p.seq)
),

-- the clauses of a text, whole, and whether the next one begins with a swap (换成 …): a clause is
-- what stands before its last part and that part (fl_text_parts.before || part: the clause up to
-- the end of that part, the markers out), the same text as its parts joined in order, without
-- an ordered aggregate
clauses as (
    select
        text_id,
        clause_no,
        regexp_matches(whole, $re_swap_re)                                        as swap,
        coalesce(lead(regexp_matches(whole, $re_swap_lead_re))
                 over (partition by text_id order by clause_no), false)           as next_swap
    from (
        select text_id, clause_no, arg_max(before || part, part_no) as whole
        from fl_text_parts
        group by text_id, clause_no
    )
),

-- a 买家留言 asking to 补 something: the seller's 补发 on that order is the same make-up
checkout_requests as (
    select distinct x.order_id
    from triggers t
    join texts x using (text_id)
    where x.at_checkout and t.lead_kind = 'reship'
),

sorted as (
    select
        x.text_id,
        x.order_id,
        x.refund_id,
        x.source,
        x.by_buyer,
        x.buyer,
        x.paid_at,
        x.text,
        t.seq                                                                     as span_seq,
        t.lead                                                                    as trigger,
        case when t.lead_kind = 'reship' then 'short' else t.lead_kind end        as kind,
        t.received,
        case
            when si.gift then 'gift'
            when not x.at_checkout and t.lead_kind in ('short', 'reship') and (cl.swap or cl.next_swap)
                then 'substitution'
            when t.lead_kind in ('short', 'reship') and d.order_id is not null then 'damage'
            when x.at_checkout and t.lead_kind = 'reship' then 'make_up'
            when x.at_checkout then 'checkout'
            when x.refund_id is not null then 'this_order'
            when t.lead_kind in ('short', 'reship') and si.other_order then 'make_up'
            when t.lead_kind = 'reship' and c.order_id is not null then 'make_up'
            else 'this_order'
        end                                                                       as sort,
        x.refund_id is null and x.source = '订单备注' and t.lead_kind in ('short', 'reship') as may_trace,
        t.lead_kind = 'reship'                                                    as reship,
        pk.text_id is not null                                                    as packing
    from triggers t
    join texts x using (text_id)
    join span_info si on si.text_id = t.text_id and si.t_seq = t.seq
    join clauses cl on cl.text_id = t.text_id and cl.clause_no = t.clause_no
    left join damage_orders d on d.order_id = x.order_id
    left join checkout_requests c on c.order_id = x.order_id
    left join packing_texts pk on pk.text_id = t.text_id
),

final as (
    select
        s.*,
        i.item_no,
        i.item,
        i.codes,
        i.han,
        i.qty
    from sorted s
    join items i on i.text_id = s.text_id and i.t_seq = s.span_seq
)

select * from final
