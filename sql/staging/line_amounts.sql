-- The amount actually paid for each order line, postage excluded (SPEC section 2, "Money").
-- Grain: one row per order_lines row (order_id, line_no).
-- Inputs: order_lines, orders.
--   1. the item export's per-line paid amount when it has one; on a single-line order that
--      amount includes the postage, which is subtracted;
--   2. otherwise the order's goods paid (paid before refunds − postage), less what lines with
--      their own paid amount took, split over the other lines in proportion to price ×
--      quantity, the rounding cents given to the largest lines so that the split adds up.
-- line_paid is DECIMAL(18,2); goods concerned for k of n units = round(line_paid * k / n, 2).
with

lines as (
    select
        order_id, line_no, sku, title, price, quantity, paid_amount,
        count(*) over (partition by order_id) as lines_in_order,
        case when paid_amount is null
             then (coalesce(price, 0) * 100)::bigint * coalesce(quantity, 0) else 0 end as weight_cents,
        case when paid_amount is null then coalesce(quantity, 0) else 0 end as split_qty,
        coalesce(sum((paid_amount * 100)::bigint) over (partition by order_id), 0) as own_paid_cents
    from order_lines
),

orders_paid as (
    select
        order_id,
        greatest(
            (coalesce(paid_gross, paid_amount, 0) - coalesce(postage, 0)) * 100, 0
        )::bigint as goods_cents,
        postage
    from orders
),

weighted as (
    select
        l.*,
        greatest(o.goods_cents - l.own_paid_cents, 0) as goods_cents,
        o.postage,
        o.order_id is not null as has_order,
        sum(case when weight_cents > 0 then weight_cents else 0 end) over (partition by l.order_id) as total_weight,
        sum(split_qty) over (partition by l.order_id) as total_qty
    from lines l left join orders_paid o using (order_id)
),

shares as (
    select
        *,
        case
            when total_weight > 0 then weight_cents::hugeint
            else split_qty::hugeint
        end as w,
        case when total_weight > 0 then total_weight::hugeint else total_qty::hugeint end as w_total
    from weighted
),

floored as (
    select
        *,
        case when w_total > 0 then (goods_cents::hugeint * w) // w_total else 0 end as base_cents
    from shares
),

ranked as (
    select
        *,
        goods_cents - sum(base_cents) over (partition by order_id) as leftover_cents,
        row_number() over (partition by order_id order by paid_amount is null desc, w desc, line_no) as size_rank
    from floored
),

final as (
    select
        order_id,
        line_no,
        sku,
        title,
        price,
        quantity,
        case
            when paid_amount is not null and lines_in_order = 1
                then greatest(paid_amount - coalesce(postage, 0), 0)
            when paid_amount is not null then paid_amount
            when not has_order then price * quantity
            else (base_cents + case when size_rank <= leftover_cents then 1 else 0 end)::decimal(18, 0) * 0.01
        end::decimal(18, 2) as line_paid,
        case
            when paid_amount is not null then 'line_paid'
            when not has_order then 'listed_price'
            else 'order_split'
        end as paid_source
    from ranked
)

select * from final
