-- Signal text_words: the buyer's or the seller's own words say units of THIS order's goods were
-- missing (少发, 漏发, 补发 N 个 X with X on this order or not named), wrong (发错), an empty
-- parcel (空包) or not received (没收到). Supporting evidence only: text alone never makes the
-- merchant responsible. What the phrases say and which line they name is read by
-- sql/flags/text_parts.sql, text_spans.sql and text_match.sql; phrases that say something else
-- (a make-up for an earlier order: signals/text_makeup.sql; a gift, damage, a checkout wish, an
-- untraced make-up: the notes table) never flag this order. A word after a negation in its
-- clause (不要少发) does not count.
-- Grain: one row per order × kind × text source × line named (NULL: no line named).
-- The units: the count the phrase gives for each item (补发2电动鱼 一个平毛狗 -> 3), added up; a
-- count of what arrived (只收到两个) leaves the rest of the line missing; no count, no units
-- (missing_qty stays empty rather than guessed). The line: the one the item names, else the
-- only line. Wrong: those units of the line; empty and not received: all the goods.
-- A 订单备注 补发 of an item an earlier order of the buyer holds too (fl_text_match.alt_*) may be a
-- make-up for that order: the words cannot decide, so the flag stays here, undetermined (review),
-- and its evidence gives the other reading.
-- Inputs: fl_text_match, fl_orders, fl_lines.
with

items as (
    select m.*
    from fl_text_match m
    semi join fl_orders o using (order_id)
    where m.relation = 'this_order'
),

-- the line each item is about: named, else the only line of the order
placed as (
    select
        i.*,
        coalesce(i.target_line_no, case when o.line_count = 1 then 1 end)         as line_no
    from items i
    join fl_orders o using (order_id)
),

valued as (
    select
        p.*,
        l.sku,
        l.title                                                                   as line_title,
        l.quantity                                                                as line_qty,
        l.line_paid,
        case
            when p.received then case when l.quantity > p.qty then l.quantity - p.qty end
            when l.line_no is not null then fl_cap(p.qty, l.quantity)
            else p.qty
        end                                                                       as units
    from placed p
    left join fl_lines l on l.order_id = p.order_id and l.line_no = p.line_no
),

described as (
    select
        *,
        -- what the phrase says of each item, and the other reading, as facts (sql/flags/macros.sql)
        case when line_no is not null
             then fl_fact('item', case when sku is null then 'words.reading.line' else 'words.reading.line_sku' end,
                          ['units', 'line_no', 'title', 'sku'],
                          [coalesce(units::varchar, '?'), line_no::varchar, fl_quote(left(line_title, 20)), sku])
             when item <> '' then fl_fact('item', 'words.reading.item', ['units', 'item'],
                                          [coalesce(units::varchar, '?'), fl_say(item)])
             else fl_fact('item', 'words.reading.units', ['units'], [coalesce(units::varchar, '?')])
        end                                                                       as reading,
        case when alt_order_id is not null
             then fl_fact('row', case when alt_sku is null then 'words.other_reading' else 'words.other_reading.sku' end,
                          ['order_id', 'paid', 'line_no', 'title', 'sku'],
                          [alt_order_id, fl_ts(alt_paid_at), alt_line_no::varchar, fl_quote(left(alt_title, 20)), alt_sku])
        end                                                                       as other_reading
    from valued
),

grouped as (
    select
        d.order_id,
        d.kind,
        d.source,
        d.line_no,
        bool_or(d.by_buyer)                                                       as by_buyer,
        min(d.refund_id)                                                          as refund_id,
        any_value(d.sku)                                                          as sku,
        any_value(d.line_qty)                                                     as line_qty,
        any_value(d.line_paid)                                                    as line_paid,
        case when bool_and(d.units is not null) then sum(d.units) end             as units,
        min(d.text)                                                               as text,
        -- (sorted and made distinct after aggregating: an ordered DISTINCT aggregate sorts each group)
        case when count(d.trigger) > 0
             then array_to_string(list_sort(list_distinct(list(d.trigger))), ', ') end as triggers,
        -- sorted after aggregating (cheaper than an ordered aggregate over many small groups)
        list_transform(list_sort(list(struct_pack(r := coalesce(d.refund_id, ''), s := d.span_seq,
                                                  i := d.item_no, e := d.reading))), lambda x: x.e)
                                                                                  as readings,
        list(distinct d.other_reading order by d.other_reading) filter (where d.other_reading is not null)
                                                                                  as other_readings
    from described d
    group by d.order_id, d.kind, d.source, d.line_no
),

final as (
    select
        g.order_id,
        'text_words'                                                              as rule,
        g.kind,
        0.3::double                                                               as confidence,
        'text'                                                                    as basis,
        true                                                                      as is_primary,
        g.by_buyer                                                                as complaint,
        g.refund_id,
        case when g.kind in ('short', 'wrong') then g.line_no end                 as line_no,
        case when g.kind in ('short', 'wrong') then g.sku end                     as sku,
        case
            when g.kind in ('short', 'wrong') then
                case when g.line_no is not null then fl_cap(g.units, g.line_qty) else g.units end
            else o.unit_count
        end::bigint                                                               as missing_qty,
        case
            when g.kind in ('short', 'wrong') then
                case when g.line_no is not null and g.units is not null
                     then fl_share(g.line_paid, fl_cap(g.units, g.line_qty), g.line_qty) end
            else o.goods_paid
        end::decimal(18, 2)                                                       as affected_amount,
        0::decimal(18, 2)                                                         as refunded_amount,
        null::timestamp                                                           as reshipped_at,
        null::varchar                                                             as resp,
        null::varchar                                                             as resp_rule,
        [fl_fact('row', 'words.quote', ['source', 'text', 'triggers'], [g.source, fl_say(g.text), g.triggers])]
        || case when g.kind in ('short', 'wrong')
                then [fl_fact0('none', 'words.readings')] || fl_lead(g.readings, 'none') else [] end
        || [fl_fact0('none', 'close_paren')]
        || case when len(g.other_readings) > 0
                then g.other_readings || [fl_fact0('none', 'words.which_parcel')] else [] end
                                                                                  as facts
    from grouped g
    join fl_orders o using (order_id)
)

select * from final
