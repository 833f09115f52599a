-- The orders detection looks at closely: those some signal can fire on. Everything else (most
-- orders: paid, shipped complete, no refund, no words) is left out of the per-line work
-- (line amounts, order facts) that the signals and the flags need.
-- Grain: one row per order_id.
-- An order is in scope when it has a refund (refunds rows applied by $as_of, or a refund amount
-- on the order or on a line), a text holding one of the policy's trigger words (fl_texts), a
-- close look in the shipments file (fl_ship_orders.candidate) or a light parcel
-- (fl_light_parcels), or it is paid and not shipped, or closed for a reason the policy counts
-- as unshipped, or a make-up on a later order was traced to it (fl_text_match), or it has a
-- refund that does not add up (fl_untrusted: not evidence, but its order may go to review). An
-- order paid (else created) after $as_of does not exist yet for this run.
-- Inputs: orders, order_lines, refunds (fl_refunds_at), fl_untrusted, fl_texts, fl_text_match,
-- fl_ship_orders, fl_light_parcels, policy_terms. Params: $as_of.
with

from_refunds as (
    select distinct order_id from fl_refunds_at($as_of)
    union
    select u.order_id
    from fl_untrusted u
    join refunds r using (refund_id)
    where r.applied_at is null or r.applied_at <= $as_of
),

from_orders as (
    select o.order_id
    from orders o
    where o.refund_amount > 0
       or o.status = 'paid'
       or (o.status = 'closed' and o.close_reason is not null and exists (
               select 1 from policy_terms t
               where t.list = 'reasons' and t.kind = 'unshipped' and t.norm = fl_norm(o.close_reason)))
),

from_texts as (
    select distinct order_id from fl_texts
    union
    select target_order_id from fl_text_match where relation = 'make_up'
),

from_lines as (
    select distinct order_id from order_lines where refund_amount > 0
),

from_shipments as (
    select order_id from fl_ship_orders where candidate
    union all
    select order_id from fl_light_parcels
),

candidates as (
    select order_id from from_refunds
    union
    select order_id from from_orders
    union
    select order_id from from_texts
    union
    select order_id from from_lines
    union
    select order_id from from_shipments
),

final as (
    select order_id
    from candidates
    anti join fl_orders_later($as_of) using (order_id)
)

select * from final
