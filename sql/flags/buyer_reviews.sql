-- Buyers who claim short shipment on many orders: worth a look before paying out again.
-- A claim is an order on which the buyer asked for a refund whose reason counts as short or
-- empty (policy reasons.short / .empty; several such refunds on one order are one claim), or,
-- failing that, said so in their own words (买家退款说明 saying this order's goods were missing:
-- sig_text_words; a 买家留言 asking to make up an earlier order's missing goods: sig_text_makeup).
-- Only what exists at $as_of. orders: all the buyer's orders seen, for the claim rate.
-- review = claims >= $min_claims (policy [review] min_short_claims).
-- Grain: one row per buyer with at least one claim.
-- Inputs: orders, refunds (fl_refunds_at), fl_orders, sig_text_words, sig_text_makeup, policy_terms. Params: $as_of, $run_id, $min_claims.
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

-- every order any export shows for the buyers with a claim (fl_orders holds the orders in
-- scope only): the order's buyer, else the buyer named on its refunds
refund_buyers as (
    select order_id, max(buyer) as buyer from fl_refunds_at($as_of) group by order_id
),

buyer_orders as (
    select coalesce(o.buyer, r.buyer) as buyer, count(*) as orders
    from (select * from orders anti join fl_orders_later($as_of) using (order_id)) o
    full join refund_buyers r using (order_id)
    where coalesce(o.buyer, r.buyer) in (select buyer from claims)
    group by all
),

per_buyer as (
    select
        buyer,
        count(distinct order_id)                                  as claims,
        sum(refunded)::decimal(18, 2)                             as refunded_amount,
        min(claimed_at)                                           as first_claim_at,
        max(claimed_at)                                           as last_claim_at,
        list(distinct order_id order by order_id)                 as order_ids
    from claims
    where buyer is not null
    group by buyer
),

final as (
    select
        p.buyer,
        p.claims,
        coalesce(b.orders, p.claims)                              as orders,
        p.refunded_amount,
        p.first_claim_at,
        p.last_claim_at,
        p.claims >= $min_claims                                   as review,
        p.order_ids,
        $as_of::timestamp                                         as as_of,
        $run_id::varchar                                          as run_id
    from per_buyer p
    left join buyer_orders b using (buyer)
)

select * from final
