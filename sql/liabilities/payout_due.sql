-- The payout ledger's difference: what each order should have received in total against what
-- the append-only `payouts` ledger already holds for it.
-- Grain: one row per order × payout form whose target differs from its ledger balance
-- (nothing when they are equal).
-- Inputs: liabilities (this run's rebuild), payouts (every earlier line), orders.
-- Target: an owed order's compensation (yuan and points) in the policy's payout form; anything
-- else, an order no longer flagged, or a payout form the policy no longer uses, 0. The
-- difference is a new payout (nothing held yet), a top-up (more is due) or a reversal
-- (negative: later data took a fault away or lowered it). After the line the ledger balance
-- of an order is its target, so a cap holds over all payouts of an order.
-- Held orders get no line at all, neither a payout nor a reversal: money never moves on rows
-- that are not there or cannot be trusted (SPEC section 8). Held: a liability with a hold
-- (awaiting_data: order_not_loaded, lines_not_loaded, no_paid_time; disputed: data_problem), and
-- any order whose own row is not in `orders` (belt and braces: such an order is never paid, and
-- what an earlier version paid it is neither topped up nor reversed until the order arrives).
-- When the hold clears, the normal difference follows, once.
with

held_orders as (
    select order_id from liabilities where hold is not null
    union
    select order_id from liabilities anti join orders using (order_id)
    union
    select order_id from payouts anti join orders using (order_id)
),

target as (
    select
        order_id,
        payout_form,
        case when status = 'owed' then compensation_yuan else 0 end::decimal(18, 2) as yuan,
        case when status = 'owed' then points else 0 end::bigint as points
    from liabilities
    anti join held_orders using (order_id)
),

held as (
    select
        order_id,
        payout_form,
        sum(yuan)::decimal(18, 2) as yuan,
        sum(points)::bigint as points
    from payouts
    anti join held_orders using (order_id)
    group by order_id, payout_form
),

joined as (
    select
        coalesce(t.order_id, h.order_id) as order_id,
        case when t.order_id is not null then t.payout_form else h.payout_form end as payout_form,
        coalesce(t.yuan, 0) as target_yuan,
        coalesce(t.points, 0) as target_points,
        coalesce(h.yuan, 0) as held_yuan,
        coalesce(h.points, 0) as held_points
    from target t
    full outer join held h
        on h.order_id = t.order_id and h.payout_form is not distinct from t.payout_form
),

diffs as (
    select
        *,
        (target_yuan - held_yuan)::decimal(18, 2) as yuan,
        (target_points - held_points)::bigint as points
    from joined
),

final as (
    select
        order_id,
        points,
        yuan,
        case
            when yuan < 0 or (yuan = 0 and points < 0) then 'reversal'
            when held_yuan = 0 and held_points = 0 then 'new'
            else 'top_up'
        end as reason,
        payout_form,
        target_yuan,
        target_points
    from diffs
    where yuan <> 0 or points <> 0
)

select * from final
