-- The free texts detection reads: those holding one of the policy's trigger words ([words]) or
-- a word of damage ([phrases] damage: it explains a re-shipment or a refund otherwise).
-- Grain: one row per text: an order's 买家留言 or 订单备注, a refund's 买家退款说明 or 商家备注.
-- Only what exists at the run's clock: orders paid (else created) by $as_of, refunds applied by
-- $as_of; and never the texts of a refund that does not add up (fl_untrusted: a data problem,
-- not evidence). A 买家留言 is written at checkout, before the parcel exists (at_checkout): it can
-- warn or ask, never report what this order's parcel held.
-- Columns: text_id, order_id, refund_id, source, by_buyer, at_checkout, text, buyer, paid_at.
-- Inputs: orders, refunds, fl_untrusted, policy_terms (words, phrases.damage). Params: $as_of.
with

seen_orders as (
    select order_id, buyer, paid_at, buyer_message, seller_memo
    from orders
    where (buyer_message is not null or seller_memo is not null)
      and coalesce(paid_at, created_at, $as_of::timestamp) <= $as_of
),

seen_refunds as (
    select refund_id, order_id, buyer, paid_at, description, seller_memo
    from refunds
    anti join fl_untrusted using (refund_id)
    where (description is not null or seller_memo is not null)
      and (applied_at is null or applied_at <= $as_of)
),

texts as (
    select order_id, null::varchar as refund_id, '买家留言' as source, true as by_buyer, true as at_checkout,
           buyer_message as text, buyer, paid_at
    from seen_orders where buyer_message is not null
    union all
    select order_id, null, '订单备注', false, false, seller_memo, buyer, paid_at
    from seen_orders where seller_memo is not null
    union all
    select order_id, refund_id, '买家退款说明', true, false, description, buyer, paid_at
    from seen_refunds where description is not null
    union all
    select order_id, refund_id, '退款商家备注', false, false, seller_memo, buyer, paid_at
    from seen_refunds where seller_memo is not null
),

final as (
    select
        order_id || '|' || source || coalesce('|' || refund_id, '')   as text_id,
        order_id, refund_id, source, by_buyer, at_checkout, text, buyer, paid_at
    from texts x
    where exists (select 1 from policy_terms w
                  where (w.list = 'words' or (w.list = 'phrases' and w.kind = 'damage')) and contains(x.text, w.term))
)

select * from final
