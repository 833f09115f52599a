-- Signal refund_reason: the buyer's refund reason (买家退款原因) names a shipping fault.
-- Grain: one row per refund × kind its reason counts as. A reason that counts as two kinds
-- (商品错发/漏发: short or wrong; 空包裹/少货: short or empty) is split by what else the refund
-- says: words of one kind in its description, a return or exchange (wrong), a re-ship request
-- or no return (short), the whole order refunded (empty) or part of it (short); when nothing
-- splits it, both kinds stay with a lower confidence.
-- Inputs: refunds (as they stood at $as_of: fl_refunds_at), fl_orders, fl_lines, fl_refund_line, policy_terms (reasons, words,
-- detection.aftersale_*). Params: $as_of, $tolerance.
-- Reasons match the policy lists after fl_norm (no spaces, '.' and '/' alike), so the legacy
-- 少件/漏发 and the ERP 少件.漏发 are the same reason.
with

refs as (
    select
        r.*,
        fl_norm(r.reason)            as reason_norm,
        fl_norm(r.aftersale_type)    as aftersale_norm
    from fl_refunds_at($as_of) r
    where r.reason is not null
),

reason_kinds as (
    select r.refund_id, t.kind
    from refs r
    join policy_terms t on t.list = 'reasons' and t.norm = r.reason_norm
    group by all
),

desc_kinds as (
    select r.refund_id, case when t.kind = 'reship' then 'short' else t.kind end as kind
    from refs r
    join policy_terms t on t.list = 'words' and contains(r.description, t.term)
    group by all
),

aftersale as (
    select
        r.refund_id,
        bool_or(t.kind = 'aftersale_reship')   as reship_asked,
        bool_or(t.kind = 'aftersale_exchange') as exchange_asked
    from refs r
    join policy_terms t on t.list = 'detection'
        and t.kind in ('aftersale_reship', 'aftersale_exchange') and t.norm = r.aftersale_norm
    group by r.refund_id
),

candidates as (
    select
        r.*,
        rk.kind,
        count(*) over (partition by r.refund_id)                     as n_kinds,
        bool_or(rk.kind = 'empty') over (partition by r.refund_id)   as empty_possible,
        o.goods_paid,
        o.unit_count,
        o.line_count,
        coalesce(a.reship_asked, false)                              as reship_asked,
        coalesce(a.exchange_asked, false)                            as exchange_asked,
        d.kind is not null                                           as described
    from refs r
    join reason_kinds rk using (refund_id)
    left join fl_orders o using (order_id)
    left join aftersale a using (refund_id)
    left join desc_kinds d on d.refund_id = r.refund_id and d.kind = rk.kind
),

scored as (
    select
        *,
        case when described then 2 else 0 end
        + case kind
            when 'wrong' then (coalesce(return_required, false) or exchange_asked)::int
            when 'short' then (reship_asked or coalesce(not return_required, false))::int
                            + (empty_possible and refund_amount < goods_paid - $tolerance)::int
            when 'empty' then (refund_amount >= goods_paid - $tolerance)::int
            else 0
          end                                                        as split_score
    from candidates
),

kept as (
    select
        *,
        count(*) over (partition by refund_id)                       as n_kept
    from scored
    qualify split_score = max(split_score) over (partition by refund_id)
),

valued as (
    select
        k.*,
        lp.line_no,
        lp.sku             as line_sku,
        lp.title           as line_title,
        lp.price           as line_price,
        lp.quantity        as line_quantity,
        lp.line_paid,
        lp.lines_in_order,
        lp.ident           as line_named,
        coalesce(lp.k, case when k.refund_amount >= lp.line_paid then lp.quantity else 1 end)
                           as k_units
    from kept k
    left join fl_refund_line lp on lp.event_id = k.refund_id
),

final as (
    select
        order_id,
        'refund_reason'                                              as rule,
        kind,
        (case status
            when 'success' then 0.8
            when 'refused' then 0.5
            when 'closed' then 0.4
            when 'requested' then 0.7
            when 'awaiting_return' then 0.7
            when 'returned' then 0.7
            else 0.6
         end * case when n_kept > 1 then 0.75 else 1.0 end)::double  as confidence,
        'explicit'                                                   as basis,
        true                                                         as is_primary,
        true                                                         as complaint,
        refund_id,
        case when kind in ('short', 'wrong') or (kind = 'unshipped' and line_named and lines_in_order > 1
                  and refund_amount < goods_paid - $tolerance) then line_no end
                                                                     as line_no,
        case when kind in ('short', 'wrong') or (kind = 'unshipped' and line_named and lines_in_order > 1
                  and refund_amount < goods_paid - $tolerance) then line_sku end
                                                                     as sku,
        case
            when kind in ('short', 'wrong') then case when line_no is not null then k_units end
            when kind = 'unshipped' and line_named and lines_in_order > 1
                 and refund_amount < goods_paid - $tolerance then line_quantity
            else unit_count
        end::bigint                                                  as missing_qty,
        case
            when kind in ('short', 'wrong') then
                case when line_no is not null then fl_share(line_paid, k_units, line_quantity)
                     else least(refund_amount, coalesce(goods_paid, refund_amount)) end
            when kind = 'unshipped' and line_named and lines_in_order > 1
                 and refund_amount < goods_paid - $tolerance then line_paid
            else coalesce(goods_paid, refund_amount)
        end::decimal(18, 2)                                          as affected_amount,
        case when status = 'success' then refund_amount else 0 end::decimal(18, 2)
                                                                     as refunded_amount,
        null::timestamp                                              as reshipped_at,
        null::varchar                                                as resp,
        null::varchar                                                as resp_rule,
        fl_facts([
            fl_fact('row', 'refund_reason', ['refund_id', 'reason', 'status', 'amount'],
                    [refund_id, fl_quote(reason), coalesce(status_raw, '状态未知'), refund_amount::varchar]),
            case when goods_status is not null
                 then fl_fact('item', 'goods_status', ['goods_status'], [goods_status]) end,
            case when aftersale_type is not null
                 then fl_fact('item', 'aftersale_type', ['aftersale_type'], [aftersale_type]) end,
            case when return_required then fl_fact0('item', 'return_required')
                 when not return_required then fl_fact0('item', 'no_return') end,
            case when description is not null
                 then fl_fact('item', 'refund_description', ['text'], [fl_say(description)]) end,
            case when kind in ('short', 'wrong') and line_no is not null
                 then fl_fact('item', case when line_sku is null then 'line' else 'line.sku' end,
                              ['line_no', 'title', 'sku'], [line_no::varchar, fl_quote(line_title), line_sku]) end,
            case when kind in ('short', 'wrong') and line_no is not null
                 then fl_fact('none', 'price_qty', ['price', 'qty'], [line_price::varchar, line_quantity::varchar]) end,
            case when n_kept > 1 then fl_fact0('none', 'refund_reason.several_kinds') end
        ])                                                           as facts
    from valued
)

select * from final
