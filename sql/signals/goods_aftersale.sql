-- Signal goods_aftersale: what the refund says about the goods (货物状态) and what the buyer
-- asked for (售后类型). Rules:
--   aftersale_reship   售后类型 补寄: the buyer asks for missing goods to be sent (short; a claim
--                      on its own, like a reason)
--   aftersale_exchange 售后类型 换货: another item wanted (supports wrong; never alone)
--   goods_not_received 货物状态 买家未收到货 / 未收到货 on a shipped order (supports
--                      not_received; never alone: buyers also refund before delivery)
-- Grain: one row per refund × rule that applies.
-- Inputs: refunds (as they stood at $as_of: fl_refunds_at), fl_orders, fl_refund_line, policy_terms (goods_status, detection.aftersale_*).
-- Params: $as_of.
with

refs as (
    select r.*, fl_norm(r.aftersale_type) as aftersale_norm, fl_norm(r.goods_status) as goods_norm
    from fl_refunds_at($as_of) r
),

hits as (
    select r.refund_id, 'aftersale_reship' as rule, 'short' as kind
    from refs r
    join policy_terms t on t.list = 'detection' and t.kind = 'aftersale_reship' and t.norm = r.aftersale_norm
    union
    select r.refund_id, 'aftersale_exchange', 'wrong'
    from refs r
    join policy_terms t on t.list = 'detection' and t.kind = 'aftersale_exchange' and t.norm = r.aftersale_norm
    union
    select r.refund_id, 'goods_not_received', 'not_received'
    from refs r
    join fl_orders o using (order_id)
    join policy_terms t on t.list = 'goods_status' and t.kind = 'not_received' and t.norm = r.goods_norm
    where o.shipped_evidence
),

final as (
    select
        r.order_id,
        h.rule,
        h.kind,
        case h.rule when 'aftersale_reship' then 0.6 else 0.3 end::double      as confidence,
        case h.rule when 'aftersale_reship' then 'explicit' else 'support' end  as basis,
        h.rule = 'aftersale_reship'                                            as is_primary,
        true                                                                    as complaint,
        r.refund_id,
        case when h.rule = 'aftersale_reship' then lp.line_no end               as line_no,
        case when h.rule = 'aftersale_reship' then lp.sku end                   as sku,
        case when h.rule = 'aftersale_reship' and lp.line_no is not null
             then coalesce(lp.k, 1) end::bigint                                 as missing_qty,
        case when h.rule = 'aftersale_reship' and lp.line_no is not null
             then fl_share(lp.line_paid, coalesce(lp.k, 1), lp.quantity) end    as affected_amount,
        0::decimal(18, 2)                                                       as refunded_amount,
        null::timestamp                                                         as reshipped_at,
        null::varchar                                                           as resp,
        null::varchar                                                           as resp_rule,
        fl_facts([
            case h.rule
                when 'goods_not_received' then fl_fact('row', 'refund.goods_status', ['refund_id', 'goods_status'],
                                                       [r.refund_id, fl_quote(r.goods_status)])
                else fl_fact('row', 'refund.aftersale_type', ['refund_id', 'aftersale_type'],
                             [r.refund_id, fl_quote(r.aftersale_type)])
            end,
            case when r.reason is not null
                 then fl_fact('item', 'refund.reason', ['reason'], [fl_quote(r.reason)]) end,
            case when h.rule = 'aftersale_reship' and lp.line_no is not null
                 then fl_fact('item', case when lp.sku is null then 'line' else 'line.sku' end,
                              ['line_no', 'title', 'sku'], [lp.line_no::varchar, fl_quote(lp.title), lp.sku]) end
        ])                                                                      as facts
    from hits h
    join refs r using (refund_id)
    left join fl_refund_line lp on lp.event_id = r.refund_id
)

select * from final
