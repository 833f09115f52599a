-- The amount actually paid for each order line, postage excluded (SPEC section 2, "Money").
-- Grain: one row per order line (order_id, line_no) of the lines table given.
-- Inputs: the tables named by the macro's parameters: lines_table (shaped like order_lines) and
-- orders_table (like orders). pipeline/db.py makes this model the table macro
-- line_amounts_of(lines_table, orders_table) and the view line_amounts over order_lines and
-- orders; detection calls the macro on the lines of the orders it looks at only.
--   1. the item export's per-line paid amount when it has one; on a single-line order that
--      amount includes the postage, which is subtracted;
--   2. otherwise the order's goods paid (paid before refunds − postage), less what lines with
--      their own paid amount took, split over the other lines in proportion to price ×
--      quantity, the rounding cents given to the largest lines so that the split adds up.
-- line_paid is DECIMAL(18,2); goods concerned for k of n units = round(line_paid * k / n, 2);
-- lines_in_order: how many lines the order has.
with

lines as (
    select
        order_id, line_no, sku, title, price, quantity, paid_amount,
        case when paid_amount is null
             then (coalesce(price, 0) * 100)::bigint * coalesce(quantity, 0) else 0 end as weight_cents,
        case when paid_amount is null then coalesce(quantity, 0) else 0 end as split_qty
    from query_table(lines_table)
),

-- per order sums by grouping, not window functions: cheaper on millions of lines
per_order as (
    select
        order_id,
        count(*)                                                        as lines_in_order,
        coalesce(sum((paid_amount * 100)::bigint), 0)                   as own_paid_cents,
        sum(case when weight_cents > 0 then weight_cents else 0 end)    as total_weight,
        sum(split_qty)                                                  as total_qty
    from lines
    group by order_id
),

orders_paid as (
    select
        order_id,
        greatest(
            (coalesce(paid_gross, paid_amount, 0) - coalesce(postage, 0)) * 100, 0
        )::bigint as goods_cents,
        postage
    from query_table(orders_table)
),

shares as (
    select
        l.*,
        p.lines_in_order,
        greatest(o.goods_cents - p.own_paid_cents, 0) as goods_cents,
        o.postage,
        o.order_id is not null as has_order,
        case
            when p.total_weight > 0 then l.weight_cents::hugeint
            else l.split_qty::hugeint
        end as w,
        case when p.total_weight > 0 then p.total_weight::hugeint else p.total_qty::hugeint end as w_total
    from lines l
    join per_order p using (order_id)
    left join orders_paid o using (order_id)
),

floored as (
    select
        *,
        case when w_total > 0 then (goods_cents::hugeint * w) // w_total else 0 end as base_cents
    from shares
),

-- the cents the floored split leaves over, per order (none on most orders)
leftovers as (
    select order_id, any_value(goods_cents) - sum(base_cents) as leftover_cents
    from floored
    group by order_id
    having any_value(goods_cents) - sum(base_cents) > 0
),

-- the leftover cents go to the largest lines, one each
ranked as (
    select
        f.order_id,
        f.line_no,
        row_number() over (partition by f.order_id order by f.paid_amount is null desc, f.w desc, f.line_no)
            <= any_value(lo.leftover_cents) over (partition by f.order_id) as gets_cent
    from floored f
    join leftovers lo using (order_id)
),

final as (
    select
        f.order_id,
        f.line_no,
        f.sku,
        f.title,
        f.price,
        f.quantity,
        case
            when f.paid_amount is not null and f.lines_in_order = 1
                then greatest(f.paid_amount - coalesce(f.postage, 0), 0)
            when f.paid_amount is not null then f.paid_amount
            when not f.has_order then f.price * f.quantity
            else (f.base_cents + case when r.gets_cent then 1 else 0 end)::decimal(18, 0) * 0.01
        end::decimal(18, 2) as line_paid,
        case
            when f.paid_amount is not null then 'line_paid'
            when not f.has_order then 'listed_price'
            else 'order_split'
        end as paid_source,
        f.lines_in_order
    from floored f
    left join ranked r using (order_id, line_no)
)

select * from final
