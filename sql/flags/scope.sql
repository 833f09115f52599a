-- The orders detection looks at closely: those some signal can fire on. Everything else (most
-- orders: paid, shipped complete, no refund, no words) is left out of the per-line work
-- (line amounts, order facts) that the signals and the flags need.
-- Grain: one row per order_id.
-- An order is in scope when it has a refund (refunds rows, or a refund amount on the order or
-- on a line), a buyer's message or a seller's memo with one of the policy's words, a close look
-- in the shipments file (fl_ship_orders.candidate) or a light parcel (fl_light_parcels), or it
-- is paid and not shipped, or closed for a reason the policy counts as unshipped.
-- Inputs: orders, order_lines, refunds, fl_ship_orders, fl_light_parcels, policy_terms.
with

from_refunds as (
    select distinct order_id from refunds
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

-- a buyer's message or a seller's memo holding one of the policy's words (signals/text_words.sql
-- looks only at those; refunds' own texts are in scope with their refunds)
from_words as (
    select o.order_id
    from orders o
    where (o.buyer_message is not null or o.seller_memo is not null)
      and exists (
          select 1 from policy_terms w
          where w.list = 'words' and (contains(o.buyer_message, w.term) or contains(o.seller_memo, w.term))
      )
),

from_lines as (
    select distinct order_id from order_lines where refund_amount > 0
),

from_shipments as (
    select order_id from fl_ship_orders where candidate
    union all
    select order_id from fl_light_parcels
),

final as (
    select order_id from from_refunds
    union
    select order_id from from_orders
    union
    select order_id from from_words
    union
    select order_id from from_lines
    union
    select order_id from from_shipments
)

select * from final
