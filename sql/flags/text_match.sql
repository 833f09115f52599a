-- Which order and line each item of a phrase (fl_text_spans) is about.
-- An item matches a line by a code (a model or SKU code the text names, 6608 or 398-13, found
-- in the line's 商家编码, attributes or title; a size such as 5号 in its title) or by its name
-- (in the line's title and attributes: a name of one or two characters whole, a longer one by
-- its last character, the thing itself, and half of its character pairs). The best line of an
-- order: a code first, then the most of the name, then a line holding the units the phrase
-- gives.
--   this_order  the item is on this order's line (or names no item): units of this order missing
--   make_up     a re-shipment for an earlier order (a 买家留言 asking to 补, 上次 …, or a 订单备注
--               naming an item that is not on this order): traced to the buyer's latest earlier
--               order, paid before this one and shipped, that holds the item, among the buyer's
--               latest $makeup_lookback such orders (policy detection.makeup_lookback_orders: a
--               补发 is for a recent parcel; the search costs at most that many orders per item,
--               however many orders a buyer has); this order's parcel is its re-shipment
--   untraced    a make-up no earlier order matches (or that names no item): context, not a flag
--   gift, substitution, damage, checkout: as sorted (no order to trace)
-- A 订单备注 补发 is one act (moved_by says why its items are make-ups although this order holds
-- some of them):
--   packing     the memo says how to pack this parcel (fl_text_spans.packing: 发申通, 都发粉色的吧,
--               加3个拉线飞机): it was written before the parcel left, so every item it re-ships is
--               a make-up for an earlier order, even one this order holds too
--   one_act     one of its 补发 items is not on this order: then none of them is this order's
--               (补发6213透明海豚泡泡枪一个  2385挖机一个 with only the 2385 here)
-- A make-up that gives more units than the latest earlier order's line holds is split over the
-- buyer's earlier orders holding the item (of those $makeup_lookback), latest first (each taking
-- at most its line); what no earlier line holds is unplaced_qty (said in the evidence and the
-- notes, never guessed).
-- Where the words cannot decide (a 订单备注 补发 of an item this order holds, with no packing
-- instruction, while an earlier order of the buyer holds it too), the item stays this order's
-- (undetermined: it goes to review) and alt_* name the other reading, the earlier order.
-- Grain: one row per item of a phrase (text × span × item_no), as fl_text_spans; a make-up split
--   over several earlier orders gives one row per order.
-- Columns: fl_text_spans' columns, relation, target_order_id (the order the units are missing
--   from), target_line_no, matched_by (code or name), target_qty (the units this row puts on its
--   target: the phrase's count, or the share of a split make-up), unplaced_qty, split_order_ids
--   (the other orders a split make-up went to), moved_by (packing, one_act or NULL), alt_order_id,
--   alt_line_no, alt_paid_at, alt_sku, alt_title (the other reading of an undecided item).
-- Inputs: fl_text_spans, orders, order_lines. Params: $as_of, $makeup_lookback.
with

spans as materialized (
    select * from fl_text_spans
),

items as materialized (
    select * from spans where sort in ('this_order', 'make_up') and item_no > 0
),

-- lines an item may be on: this order's, and those of the buyer's earlier orders when the
-- item may be a make-up
own as (
    select i.text_id, i.span_seq, i.item_no, i.order_id as cand_id, i.paid_at as cand_paid_at, true as is_own
    from items i
),

to_trace as (
    select i.*
    from items i
    where i.kind = 'short' and (i.sort = 'make_up' or i.may_trace)
      and i.buyer is not null and i.paid_at is not null
),

buyers as (
    select distinct buyer from to_trace
),

-- the buyer's shipped orders and the items to trace, in paid time (at one paid time the items
-- before the orders, the orders by id): an order's seq numbers it among the buyer's orders, an
-- item's `before` counts the buyer's orders paid before it (those numbered 1 to `before`)
in_time as materialized (
    select
        *,
        sum(is_order) over (partition by buyer order by paid_at, is_order, order_id
                            rows between unbounded preceding and current row)::bigint as seq
    from (
        select text_id, span_seq, item_no, order_id, buyer, paid_at, 0 as is_order from to_trace
        union all
        select null, null, null, o.order_id, o.buyer, o.paid_at, 1
        from orders o
        semi join buyers b using (buyer)
        where o.paid_at <= $as_of
          and o.status in ('shipped', 'completed')
          and (o.shipped_at is null or o.shipped_at <= $as_of)
    )
),

buyer_orders as (
    select order_id, buyer, paid_at, seq from in_time where is_order = 1
),

trace_from as (
    select text_id, span_seq, item_no, order_id, buyer, seq as before
    from in_time
    where is_order = 0 and seq > 0
),

-- the buyer's latest $makeup_lookback orders paid before the item's order
earlier as (
    select t.text_id, t.span_seq, t.item_no, e.order_id as cand_id, e.paid_at as cand_paid_at, false as is_own
    from (
        select *, unnest(range(greatest(before - $makeup_lookback::bigint, 0) + 1, before + 1)) as seq
        from trace_from
    ) t
    join buyer_orders e on e.buyer = t.buyer and e.seq = t.seq
    where e.order_id <> t.order_id
),

candidates as (
    select * from own
    union all
    select * from earlier
),

cand_lines as (
    select
        l.order_id, l.line_no, l.sku, l.title, l.quantity,
        upper(coalesce(l.sku, '') || ' ' || coalesce(l.attributes, '') || ' ' || coalesce(l.title, '')) as hay_code,
        coalesce(l.sku, '') || ' ' || coalesce(l.attributes, '')                  as hay_sku,
        coalesce(l.title, '') || ' ' || coalesce(l.attributes, '')                as hay_name
    from order_lines l
    semi join (select distinct cand_id as order_id from candidates) c using (order_id)
),

-- an item against a line: a code in the 商家编码, attributes or title (a long number also by its
-- first digits in the 商家编码 or attributes: 3622A -> 3622实色水枪); the pairs and runs of three
-- characters of its name in the title and attributes, and its last character. A line holding
-- neither a code nor the name's last character cannot match and is not scored.
scorable as (
    select
        i.text_id, i.span_seq, i.item_no, c.cand_id, c.cand_paid_at, c.is_own,
        l.line_no, l.quantity, l.sku, l.title, i.qty,
        i.codes, i.han, l.hay_code, l.hay_sku, l.hay_name
    from candidates c
    join items i using (text_id, span_seq, item_no)
    join cand_lines l on l.order_id = c.cand_id
),

scored as (
    select
        *,
        len(list_filter(codes, lambda x: contains(hay_code, upper(x))
            or (regexp_matches(x, '^[0-9]{4,}[A-Za-z]') and contains(hay_sku, regexp_extract(x, '^[0-9]{4,}'))))) > 0
                                                                                  as code_hit,
        len(list_filter(fl_bigrams(han), lambda b: contains(hay_name, b)))        as pair_hits,
        len(fl_bigrams(han))                                                      as pairs,
        len(list_filter(fl_trigrams(han), lambda b: contains(hay_name, b)))       as run_hits
    from scorable
    where len(codes) > 0 or (han <> '' and contains(hay_name, right(han, 1)))
),

-- a name of one or two characters must be there whole; a longer one by its last character (the
-- thing itself: 狗, 鱼, 车) and at least half of its character pairs
matched as (
    select
        *,
        case when code_hit then 'code' else 'name' end                            as matched_by
    from scored
    where code_hit
       or (han <> '' and contains(hay_name, right(han, 1))
           and ((pairs <= 1 and pair_hits = pairs and pairs > 0) or (pairs >= 2 and pair_hits * 2 >= pairs)))
    -- the best line of each candidate order (of lines alike, one that holds the units said)
    qualify row_number() over (
        partition by text_id, span_seq, item_no, cand_id
        order by code_hit desc, run_hits desc, pair_hits::double / greatest(pairs, 1) desc,
                 (qty is null or quantity >= qty) desc, line_no
    ) = 1
),

own_match as (
    select * from matched where is_own
),

-- the earlier orders holding the item, latest first, with the units the later ones hold
earlier_held as materialized (
    select
        *,
        row_number() over w                                                       as rank,
        coalesce(sum(quantity) over (w rows between unbounded preceding and 1 preceding), 0) as held_before,
        sum(quantity) over (partition by text_id, span_seq, item_no)              as held_all
    from matched
    where not is_own
    window w as (partition by text_id, span_seq, item_no order by cand_paid_at desc, code_hit desc, cand_id desc)
),

-- the latest earlier order holding the item
traced as (
    select * from earlier_held where rank = 1
),

-- this order's line, unless only its name matched there while an earlier order holds its code,
-- or the phrase gives more units than the line holds
item_here as (
    select
        s.*,
        om.cand_id as own_id, om.line_no as own_line, om.matched_by as own_by,
        tr.cand_id as tr_id, tr.line_no as tr_line, tr.matched_by as tr_by, tr.cand_paid_at as tr_paid_at,
        tr.sku as tr_sku, tr.title as tr_title,
        s.item_no = 0 or not s.may_trace
        or (om.cand_id is not null and (om.code_hit or not coalesce(tr.code_hit, false))
            -- more units than the line holds cannot be missing from it (补发电动爬娃2个, 1 ordered)
            and (s.qty is null or s.qty <= om.quantity))                          as here
    from spans s
    left join own_match om using (text_id, span_seq, item_no)
    left join traced tr using (text_id, span_seq, item_no)
),

-- a 订单备注 补发 is one act: one item not on this order makes all of them make-ups
acts as (
    select text_id, bool_or(not here) as some_elsewhere
    from item_here
    where sort = 'this_order' and may_trace and reship and item_no > 0
    group by text_id
),

placed as (
    select
        h.*,
        case when h.sort = 'this_order' and h.may_trace and h.reship and h.here then
             case when h.packing then 'packing' when a.some_elsewhere then 'one_act' end
        end                                                                       as moved_by
    from item_here h
    left join acts a using (text_id)
),

related as (
    select
        *,
        case
            when sort not in ('this_order', 'make_up') then sort
            when sort = 'this_order' and here and moved_by is null then 'this_order'
            when tr_id is not null then 'make_up'
            else 'untraced'  -- also a moved item that names nothing (补发两个  发申通): nothing to trace
        end                                                                       as relation
    from placed
),

-- a make-up's earlier orders: the latest, then older ones while the phrase gives more units than
-- the later ones' lines hold
make_ups as (
    select
        r.text_id, r.span_seq, r.item_no,
        e.cand_id, e.line_no, e.matched_by,
        case when r.qty is not null then least(e.quantity, r.qty - e.held_before) end as units,
        case when r.qty is not null then greatest(r.qty - e.held_all, 0) end     as unplaced_qty
    from related r
    join earlier_held e using (text_id, span_seq, item_no)
    where r.relation = 'make_up'
      and (e.rank = 1 or (r.qty is not null and e.held_before < r.qty))
),

-- the orders each make-up went to
split_ids as (
    select text_id, span_seq, item_no, list(cand_id) as ids
    from make_ups
    group by text_id, span_seq, item_no
),

final as (
    select
        r.* exclude (own_id, own_line, own_by, tr_id, tr_line, tr_by, tr_paid_at, tr_sku, tr_title, here),
        case when r.relation = 'this_order' then r.order_id else m.cand_id end    as target_order_id,
        case when r.relation = 'this_order' then r.own_line else m.line_no end    as target_line_no,
        case when r.relation = 'this_order' then r.own_by else m.matched_by end   as matched_by,
        case when r.relation = 'make_up' then m.units else r.qty end              as target_qty,
        m.unplaced_qty,
        case when r.relation = 'make_up' then list_sort(list_filter(si.ids, lambda x: x <> m.cand_id))
             else []::varchar[] end                                               as split_order_ids,
        -- the other reading of a 补发 of an item held here and on an earlier order
        case when r.relation = 'this_order' and r.may_trace and r.reship then r.tr_id end as alt_order_id,
        case when r.relation = 'this_order' and r.may_trace and r.reship and r.tr_id is not null then r.tr_line end
                                                                                  as alt_line_no,
        case when r.relation = 'this_order' and r.may_trace and r.reship and r.tr_id is not null then r.tr_paid_at end
                                                                                  as alt_paid_at,
        case when r.relation = 'this_order' and r.may_trace and r.reship and r.tr_id is not null then r.tr_sku end
                                                                                  as alt_sku,
        case when r.relation = 'this_order' and r.may_trace and r.reship and r.tr_id is not null then r.tr_title end
                                                                                  as alt_title
    from related r
    left join make_ups m using (text_id, span_seq, item_no)
    left join split_ids si using (text_id, span_seq, item_no)
)

select * from final
