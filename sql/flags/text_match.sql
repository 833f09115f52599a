-- Which order and line each item of a phrase (fl_text_spans) is about.
-- An item matches a line by a code (a model or SKU code the text names, 6608 or 398-13, found
-- in the line's 商家编码, attributes or title; a size such as 5号 in its title) or by its name
-- (in the line's title and attributes: a name of one or two characters whole, a longer one by
-- its last character, the thing itself, and half of its character pairs). The best line of an
-- order: a code first, then the most of the name.
--   this_order  the item is on this order's line (or names no item): units of this order missing
--   make_up     a re-shipment for an earlier order (a 买家留言 asking to 补, 上次 …, or a 订单备注
--               naming an item that is not on this order): traced to the buyer's latest earlier
--               order, paid before this one and shipped, that holds the item; this order's
--               parcel is its re-shipment
--   untraced    a make-up no earlier order matches (or that names no item): context, not a flag
--   gift, damage, checkout: as sorted (no order to trace)
-- Grain: one row per item of a phrase (text × span × item_no), as fl_text_spans.
-- Columns: fl_text_spans' columns, relation, target_order_id (the order the units are missing
--   from), target_line_no, matched_by (code or name).
-- Inputs: fl_text_spans, orders, order_lines. Params: $as_of.
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

buyer_orders as (
    select o.order_id, o.buyer, o.paid_at
    from orders o
    semi join buyers b using (buyer)
    where o.paid_at <= $as_of
      and o.status in ('shipped', 'completed')
      and (o.shipped_at is null or o.shipped_at <= $as_of)
),

earlier as (
    select t.text_id, t.span_seq, t.item_no, e.order_id as cand_id, e.paid_at as cand_paid_at, false as is_own
    from to_trace t
    join buyer_orders e on e.buyer = t.buyer and e.paid_at < t.paid_at and e.order_id <> t.order_id
),

candidates as (
    select * from own
    union all
    select * from earlier
),

cand_lines as (
    select l.order_id, l.line_no, l.sku, l.title, l.attributes, l.quantity
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
        l.line_no, l.quantity,
        i.codes, i.han,
        upper(coalesce(l.sku, '') || ' ' || coalesce(l.attributes, '') || ' ' || coalesce(l.title, '')) as hay_code,
        coalesce(l.sku, '') || ' ' || coalesce(l.attributes, '')                  as hay_sku,
        coalesce(l.title, '') || ' ' || coalesce(l.attributes, '')                as hay_name
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
    -- the best line of each candidate order
    qualify row_number() over (
        partition by text_id, span_seq, item_no, cand_id
        order by code_hit desc, run_hits desc, pair_hits::double / greatest(pairs, 1) desc, line_no
    ) = 1
),

own_match as (
    select * from matched where is_own
),

-- the latest earlier order holding the item
traced as (
    select *
    from matched
    where not is_own
    qualify row_number() over (
        partition by text_id, span_seq, item_no
        order by cand_paid_at desc, code_hit desc, cand_id desc
    ) = 1
),

-- this order's line, unless only its name matched there while an earlier order holds its code,
-- or the phrase gives more units than the line holds
placed as (
    select
        s.*,
        om.cand_id as own_id, om.line_no as own_line, om.matched_by as own_by,
        tr.cand_id as tr_id, tr.line_no as tr_line, tr.matched_by as tr_by,
        s.sort = 'this_order'
        and (s.item_no = 0 or not s.may_trace
             or (om.cand_id is not null and (om.code_hit or not coalesce(tr.code_hit, false))
                 -- more units than the line holds cannot be missing from it (补发电动爬娃2个, 1 ordered)
                 and (s.qty is null or s.qty <= om.quantity)))                    as on_this_order
    from spans s
    left join own_match om using (text_id, span_seq, item_no)
    left join traced tr using (text_id, span_seq, item_no)
),

final as (
    select
        * exclude (own_id, own_line, own_by, tr_id, tr_line, tr_by, on_this_order),
        case
            when sort not in ('this_order', 'make_up') then sort
            when on_this_order then 'this_order'
            when tr_id is not null then 'make_up'
            else 'untraced'
        end                                                                       as relation,
        case when on_this_order then order_id when sort in ('this_order', 'make_up') then tr_id end
                                                                                  as target_order_id,
        case when on_this_order then own_line when sort in ('this_order', 'make_up') then tr_line end
                                                                                  as target_line_no,
        case when on_this_order then own_by when sort in ('this_order', 'make_up') then tr_by end
                                                                                  as matched_by
    from placed
)

select * from final
