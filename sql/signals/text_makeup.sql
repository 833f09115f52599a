-- Signal text_makeup: a make-up traced to the order that was short. A re-shipment phrase on a
-- later order of the same buyer (a 买家留言 asking to 补 an item, a phrase naming 上次 / 之前, or a
-- 订单备注 补发 of an item that is not on that later order: sql/flags/text_match.sql) whose item
-- the buyer's latest earlier order holds: units of that earlier order were missing, and the
-- later order's parcel is their re-shipment. Supporting evidence, like all words: never a
-- merchant admission on its own.
-- Grain: one row per earlier (flagged) order × line the make-up names.
-- The units: the largest count any phrase gives for that line (a 买家留言 and the seller's 订单备注
-- on one order usually say the same make-up twice); no count, no units. A make-up larger than
-- the line was split over the buyer's earlier orders holding the item (fl_text_match): each
-- takes at most its line, and the evidence names the others and the units no earlier line holds.
-- The evidence also says why a 订单备注 补发 of goods the later order holds too is a make-up
-- (moved_by: packing instructions for that parcel, or one act with goods it does not hold).
-- Re-shipped (reshipped_at): when the later order's parcel left: its ship time (订单 发货时间, else
-- its first parcel in the shipments file), else, when the later order was paid after this
-- order's ship-by, its payment time (its parcel cannot have left earlier, so the re-shipment
-- was late whatever the day); otherwise unknown. Only parcels shipped by $as_of count.
-- Inputs: fl_text_match, fl_orders, fl_lines, orders, fl_ship_orders. Params: $as_of.
with

items as (
    select m.*
    from fl_text_match m
    where m.relation = 'make_up'
),

-- the later order (the one holding the phrase): when its parcel left
later as (
    select
        o.order_id,
        o.paid_at,
        case when o.shipped_at <= $as_of then o.shipped_at end                    as shipped_at,
        s.first_shipped_at,
        coalesce(o.status in ('shipped', 'completed'), false)
            and coalesce(o.shipped_at, $as_of::timestamp) <= $as_of               as shipped
    from orders o
    semi join items i using (order_id)
    left join fl_ship_orders s using (order_id)
),

per_phrase as (
    select
        i.target_order_id,
        i.target_line_no,
        i.order_id                                                                as later_id,
        i.source,
        i.by_buyer,
        i.text,
        i.target_qty                                                              as units,
        i.qty,
        i.unplaced_qty,
        i.split_order_ids,
        i.moved_by,
        i.paid_at                                                                 as later_paid_at,
        i.span_seq,
        i.item_no
    from items i
),

per_line as (
    select
        p.target_order_id                                                         as order_id,
        p.target_line_no                                                          as line_no,
        case when bool_and(p.units is not null) then max(p.units) end             as units,
        max(p.qty)                                                                as said_qty,
        max(p.unplaced_qty)                                                       as unplaced_qty,
        list_sort(list_distinct(flatten(list(p.split_order_ids))))                as split_order_ids,
        bool_or(p.by_buyer)                                                       as by_buyer,
        -- the first later order re-shipped them
        arg_min(p.later_id, struct_pack(t := p.later_paid_at, id := p.later_id)) as later_id
    from per_phrase p
    group by p.target_order_id, p.target_line_no
),

-- the phrases quoted, as facts (sql/flags/macros.sql fl_fact): each once, and why a 订单备注
-- 补发 of goods the later order holds too is a make-up (moved_by)
quotes as (
    select
        order_id,
        line_no,
        fl_lead(list(fl_fact('row', 'makeup.quote' || coalesce('.' || moved_by, ''), ['source', 'text'], [source, said])
                     order by source, said, moved_by nulls first), 'none')         as quote_facts
    from (
        select distinct p.target_order_id as order_id, p.target_line_no as line_no, p.source,
                        fl_say(p.text) as said, p.moved_by
        from per_phrase p
    )
    group by order_id, line_no
),

timed as (
    select
        l.*,
        a.ship_by,
        b.paid_at                                                                 as later_paid_at,
        case
            when not b.shipped and b.first_shipped_at is null then null
            when coalesce(b.shipped_at, b.first_shipped_at) is not null then coalesce(b.shipped_at, b.first_shipped_at)
            when b.paid_at > a.ship_by then b.paid_at
        end                                                                       as reshipped_at,
        coalesce(b.shipped_at, b.first_shipped_at) is not null                    as ship_time_known,
        b.shipped or b.first_shipped_at is not null                               as later_shipped
    from per_line l
    join fl_orders a on a.order_id = l.order_id
    join later b on b.order_id = l.later_id
),

final as (
    select
        t.order_id,
        'text_makeup'                                                             as rule,
        'short'                                                                   as kind,
        0.35::double                                                              as confidence,
        'text'                                                                    as basis,
        true                                                                      as is_primary,
        t.by_buyer                                                                as complaint,
        null::varchar                                                             as refund_id,
        t.line_no,
        ln.sku,
        fl_cap(t.units, ln.quantity)::bigint                                       as missing_qty,
        case when t.units is not null
             then fl_share(ln.line_paid, fl_cap(t.units, ln.quantity), ln.quantity) end::decimal(18, 2)
                                                                                  as affected_amount,
        0::decimal(18, 2)                                                         as refunded_amount,
        t.reshipped_at,
        null::varchar                                                             as resp,
        null::varchar                                                             as resp_rule,
        [fl_fact('row', 'makeup.later', ['later_id', 'paid'], [t.later_id, fl_ts(t.later_paid_at)])]
        || q.quote_facts
        || fl_facts([
            fl_fact('none', 'makeup.target', ['units', 'line_no', 'title'],
                    [coalesce(fl_cap(t.units, ln.quantity)::varchar, '?'), t.line_no::varchar, fl_quote(left(ln.title, 20))]),
            case when ln.sku is not null then fl_fact('none', 'sku', ['sku'], [ln.sku]) end,
            fl_fact('none', 'makeup.of_this_order', ['qty'], [ln.quantity::varchar]),
            case when t.said_qty > coalesce(t.units, 0) and (len(t.split_order_ids) > 0 or t.unplaced_qty > 0)
                 then fl_fact('none', 'makeup.more_than_line', ['said'], [t.said_qty::varchar]) end,
            case when t.said_qty > coalesce(t.units, 0) and len(t.split_order_ids) > 0
                 then fl_fact('none', 'makeup.rest_on', ['orders'], [array_to_string(t.split_order_ids, ', ')]) end,
            case when t.said_qty > coalesce(t.units, 0) and t.unplaced_qty > 0
                 then fl_fact(case when len(t.split_order_ids) > 0 then 'item' else 'none' end,
                              'makeup.unplaced', ['n'], [t.unplaced_qty::varchar]) end,
            fl_fact0('none', 'close_paren'),
            case
                -- not the run's clock: the evidence changes only with the orders (evidence pages)
                when not t.later_shipped then fl_fact0('row', 'makeup.not_shipped')
                when t.ship_time_known then fl_fact('row', 'makeup.reshipped_at', ['at'], [fl_ts(t.reshipped_at)])
                when t.reshipped_at is not null then fl_fact('row', 'makeup.reshipped_late', ['ship_by'], [fl_ts(t.ship_by)])
                else fl_fact0('row', 'makeup.reshipped_unknown')
            end])                                                                 as facts
    from timed t
    join fl_lines ln on ln.order_id = t.order_id and ln.line_no = t.line_no
    join quotes q on q.order_id = t.order_id and q.line_no = t.line_no
)

select * from final
