-- What a daily run must recompute (issue 21): the orders whose flags, notes and buyer reviews
-- can differ from those the tables hold, computed at the clock `since` (detection_state), and
-- the buyers whose reviews can. Everything else keeps its rows (pipeline/incremental.py).
-- An order's detection reads its own rows, the rows of its buyer's other orders (make-ups
-- traced to an earlier order, a buyer's claims) and the parcel weights learnt from the whole
-- shop. So an order is recomputed when:
--   loaded     a load changed its rows (changed_orders: content, not provenance), or a decision
--              for it is newer than the detection (a decision is quoted with its file and line);
--   clock      one of its times lies between `since` and $as_of, both included: created, paid,
--              shipped, confirmed, its ship-by (paid + $window_hours, also from a refund's paid
--              time), a refund applied, finished or paid, a parcel shipped: every comparison
--              with the clock is about one of these, so with none of them in between every
--              comparison comes out as before;
--   quoting    its flag quotes the clock itself ("not shipped at" it: a deadline passed, a make-up
--              whose later order is not shipped yet), when the clock moved: its evidence holds
--              `since` as fl_ts writes it (a flag that does not quote it at `since` can come to
--              quote it only through a row or a time above);
--   weights    its light parcel (fl_light_parcels, learnt from every parcel of the shop now)
--              differs from the one the detection saw (state_light_parcels): new parcels move
--              what a SKU should weigh;
-- and then every order linked to one of those, as far as the links go: through a buyer whose
-- orders depend on each other, or a make-up traced before (notes.related_order_ids), both ways.
-- A buyer's orders depend on each other only through the words (a make-up on one order is
-- traced to an earlier order of the same buyer: sql/flags/text_match.sql) and the buyer's review
-- (sql/flags/buyer_reviews.sql: claims and orders over all of them). So the buyer links count for
-- the buyers who have words (an order or refund text holding a trigger or damage word, as
-- sql/flags/texts.sql reads them), a refund whose reason claims a short or empty parcel, or a
-- review already; a buyer with none of these has no claim, and each of its orders stands alone.
-- The buyer of an order: its own, a buyer on its refunds, the buyer its flag or a buyer review
-- gave it before.
-- Grain: one row per order to recompute (order_id set, buyer NULL) and per buyer whose review
-- is recomputed (buyer set, order_id NULL).
-- Inputs: detection_state, changed_orders, decisions, orders, refunds, shipments, flags, notes,
-- buyer_reviews (the detection kept), fl_light_parcels, state_light_parcels, policy_terms.
-- Params: $as_of, $window_hours.
with recursive

state as (
    select as_of as since, coalesce(decisions_load_id, 0) as decisions_load_id from detection_state
),

loaded as (
    select order_id from changed_orders
    union all
    select d.order_id from decisions d, state s where d.load_id > s.decisions_load_id
),

timed as (
    select o.order_id
    from orders o, state s
    where o.created_at between s.since and $as_of
       or o.paid_at between s.since and $as_of
       or o.shipped_at between s.since and $as_of
       or o.confirmed_at between s.since and $as_of
       or o.paid_at + to_hours($window_hours::bigint) between s.since and $as_of
    union all
    select r.order_id
    from refunds r, state s
    where r.applied_at between s.since and $as_of
       or r.finished_at between s.since and $as_of
       or r.paid_at between s.since and $as_of
       or r.paid_at + to_hours($window_hours::bigint) between s.since and $as_of
    union all
    select p.order_id
    from shipments p, state s
    where p.shipped_at between s.since and $as_of
),

quoting as (
    select f.order_id
    from flags f, state s
    where fl_ts($as_of::timestamp) <> fl_ts(s.since)
      and contains(f.evidence, fl_ts(s.since))
),

weights as (
    select order_id from (
        (select * from fl_light_parcels except all select * from state_light_parcels)
        union all
        (select * from state_light_parcels except all select * from fl_light_parcels)
    )
),

seeds as (
    select order_id from loaded
    union
    select order_id from timed
    union
    select order_id from quoting
    union
    select order_id from weights
),

-- the buyers whose orders depend on each other (see above)
worded_orders as (
    select order_id from orders o
    where exists (select 1 from policy_terms w
                  where (w.list = 'words' or (w.list = 'phrases' and w.kind = 'damage'))
                    and (contains(o.buyer_message, w.term) or contains(o.seller_memo, w.term)))
    union
    select order_id from refunds r
    where exists (select 1 from policy_terms w
                  where (w.list = 'words' or (w.list = 'phrases' and w.kind = 'damage'))
                    and (contains(r.description, w.term) or contains(r.seller_memo, w.term)))
    union
    select order_id from refunds r
    where exists (select 1 from policy_terms t
                  where t.list = 'reasons' and t.kind in ('short', 'empty') and t.norm = fl_norm(r.reason))
),

all_buyer_links as (
    select order_id, buyer from orders where buyer is not null
    union
    select order_id, buyer from refunds where buyer is not null
    union
    select order_id, buyer from flags where buyer is not null
    union
    select unnest(order_ids) as order_id, buyer from buyer_reviews
),

linked_buyers as (
    select buyer from all_buyer_links semi join worded_orders using (order_id)
    union
    select buyer from buyer_reviews
),

buyer_links as (
    select * from all_buyer_links semi join linked_buyers using (buyer)
),

-- the links, as edges between nodes: an order ('o', order_id) or a buyer ('b', buyer)
makeup_links as (
    select order_id as a, unnest(related_order_ids) as b from notes where len(related_order_ids) > 0
),

edges as materialized (
    select 'o' as src_kind, order_id as src, 'b' as dst_kind, buyer as dst from buyer_links
    union all
    select 'b', buyer, 'o', order_id from buyer_links
    union all
    select 'o', a, 'o', b from makeup_links
    union all
    select 'o', b, 'o', a from makeup_links
),

reached(kind, id) as (
    select 'o', order_id from seeds
    union
    select e.dst_kind, e.dst
    from reached r
    join edges e on e.src_kind = r.kind and e.src = r.id
),

final as (
    select
        case when kind = 'o' then id end                                          as order_id,
        case when kind = 'b' then id end                                          as buyer
    from reached
)

select * from final
