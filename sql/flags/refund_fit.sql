-- How each refund fits each line of its order: the number of units k whose price (listed, or
-- the paid share from line_amounts) comes closest to the refunded amount.
-- Grain: one row per refund event × candidate line, for the candidates a later step can read:
-- those the amount fits exactly (exact: sql/signals/refund_amount.sql reads no other), those the
-- refund names (ident) and the only line of an order (sql/flags/refund_line.sql reads these and
-- the exact ones). The rest (at 1M orders, 72 % of the tries) would only be held in memory:
-- the detection's scratch tables are freed at its COMMIT, not when the last reader is done.
-- Refund events: each refunds row (applied by $as_of); for an order with no refunds rows, each
-- line's own refund (退款金额 of a current item export); else the order's 退款金额 (legacy order
-- export). A line closed (交易关闭) inside a delivered order was refunded whole, so an order-level
-- refund is tried against that line alone (when it is the only one), or what is left of the
-- refund after the closed lines is tried against the other lines.
-- Inputs: refunds, fl_orders, fl_lines. Params: $as_of, $tolerance (policy amount tolerance).
with

refund_events as (
    select
        r.refund_id                             as event_id,
        'refund'                                as source,
        r.order_id,
        r.refund_id,
        r.refund_amount                         as amount,
        r.sku                                   as ref_sku,
        r.line_id                               as ref_line_id,
        r.title                                 as ref_title
    from fl_refunds_at($as_of) r
    where r.refund_amount >= 0
),

line_events as (
    select
        'line:' || l.order_id || '#' || l.line_no  as event_id,
        'line'                                  as source,
        l.order_id,
        null::varchar                           as refund_id,
        l.refund_amount                         as amount,
        l.sku                                   as ref_sku,
        l.line_id                               as ref_line_id,
        l.title                                 as ref_title,
        l.line_no                               as only_line
    from fl_lines l
    join fl_orders o using (order_id)
    where o.refund_rows = 0
      and l.refund_amount > 0
      and coalesce(l.refund_status, 'success') not in ('closed', 'refused')
),

order_events as (
    select
        'order:' || o.order_id                  as event_id,
        'order'                                 as source,
        o.order_id,
        null::varchar                           as refund_id,
        o.order_refund_amount                   as amount,
        o.closed_lines
    from fl_orders o
    where o.refund_rows = 0
      and o.order_refund_amount > 0
      and not exists (select 1 from line_events e where e.order_id = o.order_id)
),

closed_totals as (
    select
        order_id,
        sum(price * quantity)::decimal(18, 2)  as closed_listed,
        sum(line_paid)::decimal(18, 2)         as closed_paid
    from fl_lines
    where closed
    group by order_id
),

-- (event, amount to fit, candidate line, how the amount was derived)
tries as (
    select e.event_id, e.source, e.order_id, e.refund_id, e.amount, e.amount as fit_amount,
           'refund' as variant, l.line_no, l.line_id, l.sku, l.title, l.price, l.quantity,
           l.line_paid, l.closed, l.lines_in_order, e.ref_sku, e.ref_line_id, e.ref_title
    from refund_events e join fl_lines l on l.order_id = e.order_id

    union all
    select e.event_id, e.source, e.order_id, e.refund_id, e.amount, e.amount,
           'line', l.line_no, l.line_id, l.sku, l.title, l.price, l.quantity,
           l.line_paid, l.closed, l.lines_in_order, e.ref_sku, e.ref_line_id, e.ref_title
    from line_events e join fl_lines l on l.order_id = e.order_id and l.line_no = e.only_line

    union all
    select e.event_id, e.source, e.order_id, null, e.amount, e.amount,
           'order', l.line_no, l.line_id, l.sku, l.title, l.price, l.quantity,
           l.line_paid, l.closed, l.lines_in_order, null, null, null
    from order_events e join fl_lines l on l.order_id = e.order_id
    where e.closed_lines = 0

    union all
    select e.event_id, e.source, e.order_id, null, e.amount, e.amount,
           'closed_line', l.line_no, l.line_id, l.sku, l.title, l.price, l.quantity,
           l.line_paid, l.closed, l.lines_in_order, null, null, null
    from order_events e join fl_lines l on l.order_id = e.order_id and l.closed
    where e.closed_lines = 1

    union all
    select e.event_id, e.source, e.order_id, null, e.amount, (e.amount - c.closed_listed)::decimal(18, 2),
           'after_closed_listed', l.line_no, l.line_id, l.sku, l.title, l.price, l.quantity,
           l.line_paid, l.closed, l.lines_in_order, null, null, null
    from order_events e
    join closed_totals c on c.order_id = e.order_id
    join fl_lines l on l.order_id = e.order_id and not l.closed
    where e.amount - c.closed_listed > $tolerance

    union all
    select e.event_id, e.source, e.order_id, null, e.amount, (e.amount - c.closed_paid)::decimal(18, 2),
           'after_closed_paid', l.line_no, l.line_id, l.sku, l.title, l.price, l.quantity,
           l.line_paid, l.closed, l.lines_in_order, null, null, null
    from order_events e
    join closed_totals c on c.order_id = e.order_id
    join fl_lines l on l.order_id = e.order_id and not l.closed
    where e.amount - c.closed_paid > $tolerance
),

ks as (
    select
        *,
        case when price > 0 then round(fit_amount / price)::bigint end                    as k_list,
        case when line_paid > 0 then round(fit_amount * quantity / line_paid)::bigint end  as k_paid
    from tries
    where quantity > 0
),

fits as (
    select
        *,
        case when k_list between 1 and quantity then abs(fit_amount - k_list * price) end  as fit_list,
        case when k_paid between 1 and quantity
             then abs(fit_amount - fl_share(line_paid, k_paid, quantity)) end             as fit_paid
    from ks
),

fitted as (
    select
        event_id,
        source,
        order_id,
        refund_id,
        amount,
        fit_amount,
        variant,
        line_no,
        line_id,
        sku,
        title,
        price,
        quantity,
        line_paid,
        closed,
        lines_in_order,
        case
            when fit_list is null and fit_paid is null then null
            when fit_paid is null or (fit_list is not null and fit_list < fit_paid) then k_list
            else k_paid
        end                                                    as k,
        case when fit_paid is null or (fit_list is not null and fit_list < fit_paid) then 'listed' else 'paid' end
                                                               as unit_basis,
        least(coalesce(fit_list, fit_paid), coalesce(fit_paid, fit_list))::decimal(18, 2) as fit,
        coalesce(least(coalesce(fit_list, fit_paid), coalesce(fit_paid, fit_list)) <= $tolerance, false)
                                                               as exact,
        coalesce(
            (ref_line_id is not null and ref_line_id = line_id)
            or (ref_sku is not null and ref_sku = sku)
            or (ref_title is not null and ref_title = title)
            or source = 'line',
        false)                                                 as ident
    from fits
),

-- the rows a later step reads (see the header)
final as (
    select *
    from fitted
    where exact or ident or lines_in_order = 1
)

select * from final
