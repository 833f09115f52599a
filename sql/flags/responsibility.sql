-- Who is responsible for each flagged order, from the strongest evidence:
--   1. ruling_party         责任方 of a refund the flag rests on (policy rulings.party_*)
--   2. cs_ruling            客服介入状态 of such a refund: for the buyer (rulings.for_buyer) →
--                           merchant (courier for goods not received after shipment); for the
--                           seller (rulings.for_seller) → buyer
--   3. shop_refunded        the shop completed (退款成功) a refund whose reason is this fault
--                           (short, wrong, empty, unshipped); for a wrong item the return is
--                           normal and changes nothing
--   4. shipments_record /   the shop's own shipping record (shipments file, parcel weights) or
--      order_status         the order's own status (paid, not shipped; closed as 缺货) → merchant
--   5. courier_not_received goods not received after the order was shipped, the refund not
--                           saying the goods arrived → courier
--   otherwise undetermined. Text alone (text_words) never decides.
-- The latest refund wins among several of one rule.
-- Grain: one row per flagged order. Inputs: fl_kinds, fl_evidence, fl_orders, refunds (as they
-- stood at $as_of: fl_refunds_at), policy_terms (rulings, goods_status). Params: $as_of.
with

kind_rows as (
    select e.*
    from fl_evidence e
    join fl_kinds k using (order_id, kind)
),

linked as (
    select distinct
        k.order_id,
        k.kind,
        r.refund_id,
        r.status,
        r.status_raw,
        r.reason,
        r.cs_status,
        r.responsible_party,
        r.goods_status,
        coalesce(r.finished_at, r.applied_at)                     as at,
        k.rule = 'refund_reason'                                  as by_reason
    from kind_rows k
    join fl_refunds_at($as_of) r on r.refund_id = k.refund_id
    where k.rule <> 'text_words'
),

party as (
    select
        l.order_id,
        case t.kind
            when 'party_merchant' then 'merchant'
            when 'party_buyer' then 'buyer'
            when 'party_courier' then 'courier'
        end                                                       as resp,
        [fl_fact('none', 'resp.ruling_party', ['party', 'refund_id'], [fl_quote(l.responsible_party), l.refund_id])] as why
    from linked l
    join policy_terms t on t.list = 'rulings' and t.kind in ('party_merchant', 'party_buyer', 'party_courier')
        and t.norm = fl_norm(l.responsible_party)
    qualify row_number() over (partition by l.order_id order by l.at desc nulls last, l.refund_id desc) = 1
),

cs as (
    select
        l.order_id,
        case
            when t.kind = 'for_seller' then 'buyer'
            when l.kind = 'not_received' and o.shipped_evidence then 'courier'
            else 'merchant'
        end                                                       as resp,
        [fl_fact('none', 'resp.cs_ruling', ['cs_status', 'refund_id'], [fl_quote(l.cs_status), l.refund_id])] as why
    from linked l
    join fl_orders o using (order_id)
    join policy_terms t on t.list = 'rulings' and t.kind in ('for_buyer', 'for_seller')
        and t.norm = fl_norm(l.cs_status)
    qualify row_number() over (partition by l.order_id order by l.at desc nulls last, l.refund_id desc) = 1
),

shop_refunded as (
    select
        l.order_id,
        'merchant'                                                as resp,
        [fl_fact('none', 'resp.shop_refunded', ['status', 'refund_id', 'reason'],
                 [coalesce(l.status_raw, '退款成功'), l.refund_id, fl_quote(l.reason)])] as why
    from linked l
    where l.by_reason and l.status = 'success'
      and l.kind in ('short', 'wrong', 'empty', 'unshipped')
    qualify row_number() over (partition by l.order_id order by l.at desc nulls last, l.refund_id desc) = 1
),

record as (
    select
        order_id,
        resp,
        resp_rule,
        [fl_fact0('none', case resp_rule when 'shipments_record' then 'resp.shipments_record'
                                         else 'resp.order_status' end)] as why
    from kind_rows
    where resp is not null
    qualify row_number() over (partition by order_id order by confidence desc, rule) = 1
),

courier as (
    select
        l.order_id,
        'courier'                                                 as resp,
        fl_facts([
            case when o.tracking_no is null then fl_fact0('none', 'resp.not_received')
                 else fl_fact('none', 'resp.not_received.tracking', ['tracking_no'], [o.tracking_no]) end,
            case when max(l.goods_status) is not null
                 then fl_fact('none', 'resp.goods_status', ['goods_status'], [fl_quote(max(l.goods_status))]) end
        ])                                                        as why
    from linked l
    join fl_orders o using (order_id)
    left join policy_terms t on t.list = 'goods_status' and t.kind = 'received'
        and t.norm = fl_norm(l.goods_status)
    where l.kind = 'not_received' and l.by_reason and o.shipped_evidence
    group by l.order_id, o.tracking_no
    having count(t.term) = 0
),

final as (
    select
        k.order_id,
        k.kind,
        coalesce(p.resp, c.resp, s.resp, r.resp, cr.resp, 'undetermined')           as responsibility,
        case
            when p.resp is not null then 'ruling_party'
            when c.resp is not null then 'cs_ruling'
            when s.resp is not null then 'shop_refunded'
            when r.resp is not null then r.resp_rule
            when cr.resp is not null then 'courier_not_received'
        end                                                                          as resp_rule,
        -- why, as facts (sql/flags/macros.sql fl_fact; sentences: pipeline/explain.py)
        coalesce(p.why, c.why, s.why, r.why, cr.why)                                 as resp_facts,
        case
            when p.resp is not null or c.resp is not null then 0.9
            when s.resp is not null then 0.8
            when r.resp is not null then 0.0
            when cr.resp is not null then 0.5
            else 0.0
        end::double                                                                  as resp_confidence
    from fl_kinds k
    left join party p using (order_id)
    left join cs c using (order_id)
    left join shop_refunded s using (order_id)
    left join record r using (order_id)
    left join courier cr using (order_id)
)

select * from final
