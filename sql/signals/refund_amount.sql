-- Signal refund_amount: a refund on a delivered order equals k × the unit price of a line with
-- more than k units (the listed price or the paid share from line_amounts, each within
-- $tolerance), or the whole of one line of several: likely k units missing.
-- Grain: one row per refund event that fits (see sql/flags/refund_fit.sql for the events).
-- Not read this way: a refund whose reason counts as another fault (wrong, not received,
-- unshipped) or explains it otherwise (policy detection.explained_reasons), one that asks for
-- the goods back (是否需要退货 / 退货退款), a closed or refused refund, and a full refund.
-- Explained otherwise (explained_by set; such rows go to the notes table as refund_explained,
-- never to a flag): the refund is the whole of a line closed inside the order (交易关闭: the line
-- was refunded whole, before or after shipping, for a reason the exports do not give, so its
-- amount fitting the line says nothing about missing units), or the order's texts speak of
-- damage (the money is for broken goods: sql/flags/text_spans.sql).
-- Inputs: fl_refund_fit, refunds (as they stood at $as_of: fl_refunds_at), fl_orders, fl_text_parts,
-- policy_terms. Params: $tolerance, $as_of, $re_damage_re, $re_neg_re (sql/flags/phrase_patterns.sql).
with

refund_norms as (
    select refund_id, fl_norm(reason) as reason_norm, fl_norm(goods_status) as goods_norm
    from fl_refunds_at($as_of)
),

refund_terms as (
    select
        refund_id,
        bool_or(list = 'reasons')                                      as fault_reason,
        bool_or(list = 'reasons' and kind in ('short', 'empty'))       as short_reason,
        bool_or(list = 'detection' and kind = 'explained_reasons')     as explained,
        bool_or(list = 'goods_status' and kind = 'received')           as received
    from (
        select n.refund_id, t.list, t.kind
        from refund_norms n
        join policy_terms t on t.list in ('reasons', 'detection') and t.norm = n.reason_norm
        union all
        select n.refund_id, t.list, t.kind
        from refund_norms n
        join policy_terms t on t.list = 'goods_status' and t.norm = n.goods_norm
    )
    group by refund_id
),

refund_ok as (
    select r.refund_id
    from fl_refunds_at($as_of) r
    left join refund_terms t using (refund_id)
    left join fl_orders o on o.order_id = r.order_id
    where (not coalesce(t.fault_reason, false) or t.short_reason)
      and not coalesce(t.explained, false)
      and not coalesce(r.return_required, false)
      and coalesce(r.status, '') not in ('closed', 'refused')
      and (coalesce(o.delivered, false) or coalesce(t.received, false))
),

eligible as (
    select f.*, o.goods_paid
    from fl_refund_fit f
    join fl_orders o on o.order_id = f.order_id
    where (f.source = 'refund' and f.refund_id in (select refund_id from refund_ok))
       or (f.source in ('line', 'order') and o.delivered)
),

fitting as (
    select
        *,
        k < quantity and not closed                         as part_of_line,
        bool_or(ident) over (partition by event_id)         as event_names_line
    from eligible
    where exact
      and amount < goods_paid - $tolerance
      and ((k < quantity and not closed) or (k = quantity and lines_in_order >= 2))
),

best as (
    select
        *,
        count(*) over (partition by event_id, fit)          as n_same_fit,
        row_number() over (
            partition by event_id
            order by fit, variant in ('after_closed_listed', 'after_closed_paid'),
                     part_of_line desc, k, line_no
        )                                                   as rn
    from fitting
    where ident or not event_names_line
),

-- damage said on the order, not after a negation (the same reading as sql/flags/text_spans.sql)
damage_orders as (
    select distinct p.order_id
    from fl_text_parts p
    where p.damage
      and not regexp_matches(p.before || substr(p.part, 1, strpos(p.part, regexp_extract(p.part, $re_damage_re)) - 1),
                             $re_neg_re)
),

final as (
    select
        b.order_id,
        'refund_amount'                                                 as rule,
        'short'                                                         as kind,
        (case
            when variant in ('after_closed_listed', 'after_closed_paid') then 0.4
            when part_of_line then 0.55
            else 0.45
         end - case when n_same_fit > 1 then 0.1 else 0 end)::double    as confidence,
        'amount'                                                        as basis,
        true                                                            as is_primary,
        true                                                            as complaint,
        b.refund_id,
        b.line_no,
        b.sku,
        b.k::bigint                                                     as missing_qty,
        fl_share(b.line_paid, b.k, b.quantity)                          as affected_amount,
        case when b.source <> 'refund' or r.status = 'success' then b.amount else 0 end::decimal(18, 2)
                                                                        as refunded_amount,
        null::timestamp                                                 as reshipped_at,
        null::varchar                                                   as resp,
        null::varchar                                                   as resp_rule,
        case
            when b.variant = 'closed_line' then 'closed_line'
            when d.order_id is not null then 'damage'
        end                                                             as explained_by,
        fl_facts([
            case b.source
                when 'refund' then
                    case when r.reason is null
                         then fl_fact('row', 'refund_amount.refund', ['refund_id', 'amount'], [b.refund_id, b.amount::varchar])
                         else fl_fact('row', 'refund_amount.refund_reason', ['refund_id', 'amount', 'reason'],
                                      [b.refund_id, b.amount::varchar, fl_quote(r.reason)]) end
                when 'line' then fl_fact('row', 'refund_amount.line', ['amount'], [b.amount::varchar])
                else fl_fact('row', 'refund_amount.order', ['amount'], [b.amount::varchar])
            end,
            case b.variant
                when 'after_closed_listed' then fl_fact('none', 'refund_amount.less_closed_listed', ['fit'], [b.fit_amount::varchar])
                when 'after_closed_paid' then fl_fact('none', 'refund_amount.less_closed_paid', ['fit'], [b.fit_amount::varchar])
            end,
            case
                when b.k = b.quantity then fl_fact('none', 'refund_amount.whole_line', ['line_no', 'title'],
                                                   [b.line_no::varchar, fl_quote(b.title)])
                when b.unit_basis = 'listed' then fl_fact('none', 'refund_amount.k_listed', ['k', 'unit', 'line_no', 'title'],
                                                          [b.k::varchar, b.price::varchar, b.line_no::varchar, fl_quote(b.title)])
                else fl_fact('none', 'refund_amount.k_paid', ['k', 'unit', 'line_no', 'title'],
                             [b.k::varchar, fl_share(b.line_paid, 1, b.quantity)::varchar, b.line_no::varchar, fl_quote(b.title)])
            end,
            case when b.sku is not null then fl_fact('none', 'sku', ['sku'], [b.sku]) end,
            fl_fact('none', 'price_qty', ['price', 'qty'], [b.price::varchar, b.quantity::varchar]),
            case when b.k = b.quantity and b.unit_basis = 'paid'
                 then fl_fact('item', 'line_paid', ['paid'], [b.line_paid::varchar]) end,
            case when b.closed then fl_fact0('none', 'line_closed') end,
            case when b.n_same_fit > 1 then fl_fact0('none', 'refund_amount.other_lines_fit') end,
            fl_fact('none', case when b.k = 1 then 'refund_amount.likely_missing_one' else 'refund_amount.likely_missing' end,
                    ['k'], [b.k::varchar])
        ])                                                              as facts
    from best b
    left join fl_refunds_at($as_of) r on r.refund_id = b.refund_id
    left join damage_orders d on d.order_id = b.order_id
    where b.rn = 1
)

select * from final
