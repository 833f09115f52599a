-- Buyers who claim short shipment on many orders: worth a look before paying out again.
-- The claims are those of sql/flags/claims.sql (fl_claims: a refund for a short or empty reason,
-- else the buyer's own words), one row per claim. orders: all the buyer's orders seen at $as_of,
-- for the claim rate. review = claims >= $min_claims (policy [review] min_short_claims).
-- Grain: one row per buyer with at least one claim.
-- Inputs: fl_claims, orders, refunds (fl_refunds_at). Params: $as_of, $run_id, $min_claims.
with

claims as (
    select * from fl_claims
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
