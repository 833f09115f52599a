-- Claims of short shipment, the facts sql/flags/buyer_reviews.sql counts per buyer.
-- A claim is an order on which the buyer asked for a refund whose reason counts as short or
-- empty (policy reasons.short / .empty; each such refund a claim_id, and several on one order
-- are one claim when counted), or, failing that, said so in their own words (买家退款说明 saying
-- this order's goods were missing: sig_text_words; a 买家留言 asking to make up an earlier order's
-- missing goods: sig_text_makeup). Only what exists at $as_of.
-- Each claim belongs to one order: a daily run recomputes the claims of the orders it
-- recomputes and keeps the others' (table state_claims, pipeline/incremental.py).
-- Grain: one row per claim (order_id x claim_id).
-- Inputs: refunds (fl_refunds_at), fl_orders, sig_text_words, sig_text_makeup, policy_terms.
-- Params: $as_of.
with

refund_claims as (
    select
        coalesce(o.buyer, r.buyer)                                as buyer,
        r.order_id,
        r.refund_id                                               as claim_id,
        coalesce(r.applied_at, r.finished_at, o.paid_at)          as claimed_at,
        case when r.status = 'success' then r.refund_amount else 0 end as refunded
    from fl_refunds_at($as_of) r
    left join fl_orders o using (order_id)
    where exists (
          select 1 from policy_terms t
          where t.list = 'reasons' and t.kind in ('short', 'empty') and t.norm = fl_norm(r.reason)
      )
),

text_claims as (
    select
        o.buyer,
        w.order_id,
        'text:' || w.order_id                                     as claim_id,
        o.paid_at                                                 as claimed_at,
        0::decimal(18, 2)                                         as refunded
    from (select order_id, kind, complaint from sig_text_words
          union all
          select order_id, kind, complaint from sig_text_makeup) w
    join fl_orders o using (order_id)
    where w.complaint and w.kind in ('short', 'empty')
      and w.order_id not in (select order_id from refund_claims)
    group by all
),

claims as (
    select * from refund_claims
    union all
    select * from text_claims
),

final as (
    select buyer, order_id, claim_id, claimed_at, refunded::decimal(18, 2) as refunded from claims
)

select * from final
