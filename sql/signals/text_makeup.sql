-- Signal text_makeup: a make-up traced to the order that was short. A re-shipment phrase on a
-- later order of the same buyer (a 买家留言 asking to 补 an item, a phrase naming 上次 / 之前, or a
-- 订单备注 补发 of an item that is not on that later order: sql/flags/text_match.sql) whose item
-- the buyer's latest earlier order holds: units of that earlier order were missing, and the
-- later order's parcel is their re-shipment. Supporting evidence, like all words: never a
-- merchant admission on its own.
-- Grain: one row per earlier (flagged) order × line the make-up names.
-- The units: the largest count any phrase gives for that line (a 买家留言 and the seller's 订单备注
-- on one order usually say the same make-up twice); no count, no units.
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
        i.qty,
        i.paid_at                                                                 as later_paid_at,
        i.span_seq,
        i.item_no
    from items i
),

per_line as (
    select
        p.target_order_id                                                         as order_id,
        p.target_line_no                                                          as line_no,
        case when bool_and(p.qty is not null) then max(p.qty) end                 as units,
        bool_or(p.by_buyer)                                                       as by_buyer,
        string_agg(distinct p.source || ' ' || fl_say(p.text), '; '
                   order by p.source || ' ' || fl_say(p.text))                    as quotes,
        -- the first later order re-shipped them
        arg_min(p.later_id, struct_pack(t := p.later_paid_at, id := p.later_id)) as later_id
    from per_phrase p
    group by p.target_order_id, p.target_line_no
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
        'make-up on the buyer''s later order ' || t.later_id || ' (paid ' || fl_ts(t.later_paid_at) || '): '
            || t.quotes || ' -> ' || coalesce(fl_cap(t.units, ln.quantity)::varchar, '?') || ' × line ' || t.line_no
            || ' ' || fl_quote(left(ln.title, 20)) || coalesce(' (SKU ' || ln.sku || ')', '')
            || ' of this order (' || ln.quantity || ' ordered); '
            || case
                 when not t.later_shipped then 'the later order is not shipped yet at ' || fl_ts($as_of::timestamp)
                 when t.ship_time_known then 're-shipped with it at ' || fl_ts(t.reshipped_at)
                 when t.reshipped_at is not null then 're-shipped with it, late: it was paid only after this order''s ship-by '
                      || fl_ts(t.ship_by)
                 else 're-shipped with it at a time the exports do not give'
               end                                                                as evidence
    from timed t
    join fl_lines ln on ln.order_id = t.order_id and ln.line_no = t.line_no
)

select * from final
