-- What a daily run must recompute (issue 21): the orders whose flags, notes and claims can
-- differ from those the tables hold, computed at the clock `since` (detection_state), and the
-- orders their detection reads. Everything else keeps its rows (pipeline/incremental.py).
-- An order's detection reads its own rows; a make-up phrase on an order is traced to the
-- latest earlier order of the same buyer holding the item, among the buyer's latest
-- makeup_lookback_orders earlier orders (sql/flags/text_match.sql), and the
-- parcel weights are learnt from the whole shop. (The buyer reviews are counted from every
-- order's claims each run: no order needs another for them.) So an order is recomputed when:
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
--              differs from the one the detection saw (state_light_parcels);
-- (the seeds), or when it holds words that may trace a make-up (an order or refund text with a
-- trigger or damage word, as sql/flags/texts.sql reads them) and a seed of one of its buyers
-- was paid before it (a candidate of its make-ups changed), or it is such a seed itself (the
-- tracers); and so are the orders the tracers traced a make-up to before (notes). The orders
-- a tracer's make-up may be traced to now are found while detecting (pipeline/incremental.py
-- adds the targets of the recomputed orders' make-ups). The buyers of an order: its own, one on
-- its refunds, the one its flag gave it before.
-- Grain: one row per order the run reads: recompute (its flags, notes and claims are
-- recomputed) or only read (an order of a tracer's buyer, a candidate of its make-ups).
-- Inputs: detection_state, changed_orders, decisions, orders, refunds, shipments, flags, notes
-- (the detection kept), fl_light_parcels, state_light_parcels, policy_terms.
-- Params: $as_of, $window_hours.
with

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

seeds as materialized (
    select order_id from loaded
    union
    select order_id from timed
    union
    select order_id from quoting
    union
    select order_id from weights
),

-- the buyers of an order: its own, one on its refunds, the one its flag gave it before
buyer_links as materialized (
    select order_id, buyer from orders where buyer is not null
    union
    select order_id, buyer from refunds where buyer is not null
    union
    select order_id, buyer from flags where buyer is not null
),

-- when an order was paid (its own payment or its refunds'): a make-up is traced to orders paid
-- before the text's order
paid as materialized (
    select order_id, min(paid_at) as first_paid, max(paid_at) as last_paid, bool_or(paid_at is null) as unpaid
    from (select order_id, paid_at from orders union all select order_id, paid_at from refunds)
    group by order_id
),

-- orders with words that may trace a make-up
worded as materialized (
    select order_id from orders o
    where exists (select 1 from policy_terms w
                  where (w.list = 'words' or (w.list = 'phrases' and w.kind = 'damage'))
                    and (contains(o.buyer_message, w.term) or contains(o.seller_memo, w.term)))
    union
    select order_id from refunds r
    where exists (select 1 from policy_terms w
                  where (w.list = 'words' or (w.list = 'phrases' and w.kind = 'damage'))
                    and (contains(r.description, w.term) or contains(r.seller_memo, w.term)))
),

-- the make-ups traced before: a tracer and the order(s) it was traced to
makeup_links as (
    select order_id as tracer, unnest(related_order_ids) as target from notes where len(related_order_ids) > 0
),

-- per buyer of a seed: its earliest seed payment (or none known)
seed_buyers as (
    select b.buyer, min(p.first_paid) as first_paid, bool_or(coalesce(p.unpaid, true)) as unpaid
    from seeds s
    join buyer_links b using (order_id)
    left join paid p using (order_id)
    group by b.buyer
),

tracers as materialized (
    -- a worded seed
    select order_id from worded semi join seeds using (order_id)
    union
    -- a worded order of a seed's buyer paid after the seed (or either's payment unknown)
    select w.order_id
    from worded w
    join buyer_links b using (order_id)
    join seed_buyers sb using (buyer)
    left join paid p using (order_id)
    where sb.unpaid or sb.first_paid is null or coalesce(p.unpaid, true) or p.last_paid is null
       or sb.first_paid < p.last_paid
    union
    -- an order whose make-up was traced to a seed
    select m.tracer from makeup_links m semi join seeds s on s.order_id = m.target
),

recompute as materialized (
    select order_id from seeds
    union
    select order_id from tracers
    union
    select m.target from makeup_links m semi join tracers t on t.order_id = m.tracer
),

-- what the tracers' make-ups may be traced to: every order of their buyers
read_only as (
    select b2.order_id
    from tracers t
    join buyer_links b1 using (order_id)
    join buyer_links b2 using (buyer)
    anti join recompute r on r.order_id = b2.order_id
),

final as (
    select order_id, true as recompute from recompute
    union all
    select distinct order_id, false from read_only
)

select * from final
