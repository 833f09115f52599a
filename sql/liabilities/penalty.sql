-- Liabilities, step 2: the penalty of every flagged order, in yuan and in points.
-- Grain: one row per flagged order (order_id), as _liab_status.
-- Inputs: _liab_status (sql/liabilities/status.sql). The policy numbers travel in its
--   columns rate, floor_yuan, cap_yuan, cap_scope and points_per_yuan.
-- Penalty (SPEC section 2, "Money"): round-half-up to the cent of rate × base, then the
-- floor, then the cap:
--   cap_scope 'order'      the cap per order
--   cap_scope 'item'       the cap per unit concerned (cap × missing units, at least one)
--   cap_scope 'buyer_24h'  one cap shared by a buyer's owed orders paid within 24 hours: a
--                          buyer's orders form windows that open at the first order paid and
--                          hold every order paid less than 24 hours after it; within a window
--                          orders take their penalty in order of payment until the cap is used.
-- potential_yuan is the penalty of an owed or curable order on its own (floor, per-order or
-- per-item cap); only owed orders share a buyer_24h cap and are owed anything now.
with recursive

merchant as (
    select
        *,
        -- DECIMAL(18,10) × DECIMAL(18,2) is multiplied in 64 bits: widen the rate so that any
        -- base that loads (amounts up to 99,999,999.99, summed over refunds) cannot overflow
        round(rate::decimal(38, 10) * coalesce(base_amount, 0), 2)::decimal(18, 2) as raw_yuan
    from _liab_status
),

floored as (
    select
        *,
        case when status in ('owed', 'curable') then greatest(raw_yuan, floor_yuan) end as floored_yuan,
        case
            when cap_scope = 'item' then cap_yuan * greatest(coalesce(missing_qty, 1), 1)
            else cap_yuan
        end::decimal(18, 2) as order_cap_yuan
    from merchant
),

single as (
    select
        *,
        least(floored_yuan, order_cap_yuan)::decimal(18, 2) as potential_yuan
    from floored
),

shared as (
    select
        order_id, buyer, paid_at, potential_yuan, cap_yuan,
        row_number() over (partition by buyer order by paid_at, order_id) as rn
    from single
    where status = 'owed' and cap_scope = 'buyer_24h' and buyer is not null and paid_at is not null
),

cap_windows(buyer, rn, order_id, paid_at, window_start) as (
    select buyer, rn, order_id, paid_at, paid_at from shared where rn = 1
    union all
    select
        s.buyer, s.rn, s.order_id, s.paid_at,
        case when s.paid_at < w.window_start + interval 24 hour then w.window_start else s.paid_at end
    from cap_windows w
    join shared s on s.buyer = w.buyer and s.rn = w.rn + 1
),

allocated as (
    select
        s.order_id,
        w.window_start,
        greatest(
            least(
                s.potential_yuan,
                s.cap_yuan - least(
                    s.cap_yuan,
                    coalesce(sum(s.potential_yuan) over (
                        partition by s.buyer, w.window_start order by s.paid_at, s.order_id
                        rows between unbounded preceding and 1 preceding
                    ), 0)
                )
            ),
            0
        )::decimal(18, 2) as shared_yuan
    from shared s
    join cap_windows w on w.buyer = s.buyer and w.rn = s.rn
),

owed as (
    select
        p.*,
        a.window_start as cap_window_start,
        case
            when p.status <> 'owed' then 0
            when a.order_id is not null then a.shared_yuan
            else p.potential_yuan
        end::decimal(18, 2) as compensation_yuan
    from single p
    left join allocated a on a.order_id = p.order_id
),

final as (
    select
        * exclude (compensation_yuan),
        compensation_yuan,
        coalesce(round(compensation_yuan * points_per_yuan, 0), 0)::bigint as points,
        status = 'owed' and raw_yuan < floor_yuan as floor_applied,
        status = 'owed' and compensation_yuan < floored_yuan as cap_applied
    from owed
)

select * from final
