-- Signal text_words: the buyer's or the seller's own words say goods were missing (少发, 漏发,
-- 只收到 …), wrong (发错), an empty parcel (空包), not received (没收到), or that missing goods
-- were re-sent (补发: counts as short). Supporting evidence only: text alone never makes the
-- merchant responsible. A word after a negation in the same clause (policy detection.negations and
-- negation_window: 不要少发, 别少发漏发, 要是少了) does not count.
-- Grain: one row per order × kind × text source.
-- Sources: 买家留言 (orders.buyer_message, buyer), 订单备注/商家备注 (orders.seller_memo, seller),
-- 买家退款说明 (refunds.description, buyer), the refund's 商家备注 (refunds.seller_memo, seller).
-- Inputs: orders, refunds, fl_orders, fl_lines, policy_terms (words, detection.negations).
-- The units: a number next to a counter word (少发2个, 补发两个, 少了一件); the line: the refund's
-- own, else one whose SKU code the text names, else the only line.
-- Params: $as_of, $negation_window.
with

texts as (
    select order_id, null::varchar as refund_id, '买家留言' as source, true as by_buyer, buyer_message as text
    from orders where buyer_message is not null
    union all
    select order_id, null, '订单备注', false, seller_memo
    from orders where seller_memo is not null
    union all
    select order_id, refund_id, '买家退款说明', true, description
    from refunds where description is not null and (applied_at is null or applied_at <= $as_of)
    union all
    select order_id, refund_id, '退款商家备注', false, seller_memo
    from refunds where seller_memo is not null and (applied_at is null or applied_at <= $as_of)
),

hits as (
    select
        x.*,
        w.term,
        case when w.kind = 'reship' then 'short' else w.kind end      as kind,
        fl_count(x.text, w.term)                                      as n_said
    from texts x
    join policy_terms w on w.list = 'words' and contains(x.text, w.term)
),

-- occurrences of the word after a negation in the same clause (no punctuation between, at
-- most $negation_window characters apart)
negated as (
    select
        h.order_id, h.refund_id, h.source, h.term,
        sum(len(regexp_extract_all(
            h.text,
            fl_re_escape(n.term) || '[^，,。.!！?？；;、\s]{0,' || $negation_window::bigint || '}' || fl_re_escape(h.term)
        )))                                                           as n_negated
    from hits h
    join policy_terms n on n.list = 'detection' and n.kind = 'negations' and contains(h.text, n.term)
    group by all
),

said as (
    select h.*
    from hits h
    left join negated g
      on g.order_id = h.order_id and g.source = h.source and g.term = h.term
     and g.refund_id is not distinct from h.refund_id
    where h.n_said > coalesce(g.n_negated, 0)
),

grouped as (
    select
        order_id,
        kind,
        source,
        bool_or(by_buyer)                                             as by_buyer,
        min(refund_id)                                                as refund_id,
        min(text)                                                     as text,
        list(distinct term order by term)                             as terms
    from said
    group by order_id, kind, source
),

-- a number of units next to a counter word, e.g. 少发了2个 / 补发两个 / 少了一件
counted as (
    select
        g.*,
        regexp_extract(text, '([0-9]{1,3}|[一二两三四五六七八九十])\s*[个件只支盒套瓶包双条根台把本]', 1) as n_text
    from grouped g
),

-- the line the text is about: the refund's own line (by sub-order id or SKU), else a line whose
-- SKU code the text names, else the only line
line_pick as (
    select c.order_id, c.kind, c.source, l.line_no, l.sku, l.quantity, l.line_paid
    from counted c
    join fl_lines l on l.order_id = c.order_id
    left join refunds r on r.refund_id = c.refund_id
    left join fl_orders o on o.order_id = c.order_id
    where (r.refund_id is not null and ((r.line_id is not null and r.line_id = l.line_id)
                                        or (r.sku is not null and r.sku = l.sku)))
       or (length(l.sku) >= 3 and contains(c.text, l.sku))
       or o.line_count = 1
    qualify row_number() over (
        partition by c.order_id, c.kind, c.source
        order by (r.refund_id is not null and (r.line_id = l.line_id or r.sku = l.sku)) desc,
                 (length(l.sku) >= 3 and contains(c.text, l.sku)) desc, l.line_no
    ) = 1
),

valued as (
    select
        c.*,
        o.goods_paid,
        o.unit_count,
        o.line_count,
        lp.line_no,
        lp.sku,
        lp.quantity,
        lp.line_paid,
        coalesce(
            try_cast(n_text as bigint),
            nullif(list_position(['一', '二', '三', '四', '五', '六', '七', '八', '九', '十'], n_text), 0),
            case when n_text = '两' then 2 end
        )                                                             as n_stated
    from counted c
    left join fl_orders o using (order_id)
    left join line_pick lp using (order_id, kind, source)
),

final as (
    select
        order_id,
        'text_words'                                                  as rule,
        kind,
        0.3::double                                                   as confidence,
        'text'                                                        as basis,
        true                                                          as is_primary,
        by_buyer                                                      as complaint,
        refund_id,
        case when kind in ('short', 'wrong') then line_no end         as line_no,
        case when kind in ('short', 'wrong') then sku end             as sku,
        case
            when kind in ('short', 'wrong') then
                case when line_no is not null then least(coalesce(n_stated, 1), quantity) else n_stated end
            else unit_count
        end::bigint                                                   as missing_qty,
        case
            when kind in ('short', 'wrong') then
                case when line_no is not null
                     then fl_share(line_paid, least(coalesce(n_stated, 1), quantity), quantity) end
            else goods_paid
        end::decimal(18, 2)                                           as affected_amount,
        0::decimal(18, 2)                                             as refunded_amount,
        null::timestamp                                               as reshipped_at,
        null::varchar                                                 as resp,
        null::varchar                                                 as resp_rule,
        source || ' ' || fl_quote(text) || ' (' || array_to_string(terms, ', ') || ')'
                                                                      as evidence
    from valued
)

select * from final
