-- Liabilities, step 1: the status of every flagged order and the base of its penalty.
-- Grain: one row per flags row (order_id).
-- Inputs: flags (hold too); _policy_rules (temp table, one row per flag kind with the policy's rate,
--   base scope, floor, cap, cap scope, points per yuan and payout form, built from the Policy
--   by pipeline/liabilities.py); orders (the order's goods paid = paid before refunds −
--   postage, the amount the line_amounts view splits over the lines) for base_scope = 'order'
--   and for whole-order kinds without an affected amount. (Read from orders, not summed from
--   the line_amounts view: its window functions would run over every line of every order.)
-- Parameters: $as_of (the run's clock), $window_hours, $reship_cures.
-- Status (SPEC sections 5 and 8):
--   awaiting_data  nothing is owed from rows that are not there: the order's own row is not
--             loaded (hold order_not_loaded: checked here against `orders` too, whatever the
--             flag says), a short or wrong flag's order lines are not loaded (lines_not_loaded,
--             from the flag), or the merchant is at fault and the cure deadline is unknown
--             because the order has no paid time (no_paid_time: when the policy lets a timely
--             re-shipment cure and it could still matter: something was re-shipped, or the order
--             is neither closed nor refunded whole). All money 0, base NULL; the ledger neither
--             pays nor reverses the order while it waits (sql/liabilities/payout_due.sql); the
--             normal rules apply when the data arrives.
--   excluded  buyer at fault, nobody at fault (a review decision no_fault), or a kind the rules
--             do not cover
--   disputed  responsibility undetermined (or a value detection did not map)
--   courier   lost or damaged in transit: goods owed to the buyer, no penalty, recoverable
--   cured     merchant at fault, re-shipped by the deadline and the policy lets that cure
--   curable   merchant at fault, not cured, deadline still ahead of the run's clock, and the
--             order can still be re-shipped: paid by the run's clock, not closed (交易关闭: a
--             closed order ships nothing more) and not refunded whole
--   owed      merchant at fault otherwise
-- hold: why no money may move for the order yet (NULL: nothing holds it): the awaiting_data
-- reasons above, or data_problem (from the flag: status disputed, in review.csv until decided).
with

flagged as (
    select
        order_id, shop, buyer, kind, responsibility, missing_qty, affected_amount,
        paid_at, ship_by, reshipped_at, refunded_amount, hold as flag_hold
    from flags
),

order_goods as (
    select
        f.order_id,
        greatest(coalesce(o.paid_gross, o.paid_amount) - coalesce(o.postage, 0), 0)::decimal(18, 2)
            as order_goods_paid,
        coalesce(o.status = 'closed', false)
            or coalesce(greatest(o.refund_amount, f.refunded_amount), 0)
               >= greatest(coalesce(o.paid_gross, o.paid_amount) - coalesce(o.postage, 0), 0.01)
            as closed_or_refunded
    from flagged f
    join orders o on o.order_id = f.order_id
),

with_rules as (
    select
        f.*,
        g.order_id is not null as order_loaded,
        g.order_goods_paid,
        coalesce(g.closed_or_refunded, false) as closed_or_refunded,
        r.kind is not null as has_rule,
        r.rate, r.base_scope, r.floor_yuan, r.cap_yuan, r.cap_scope, r.points_per_yuan, r.payout_form
    from flagged f
    left join order_goods g on g.order_id = f.order_id
    left join _policy_rules r on r.kind = f.kind
),

timed as (
    select
        *,
        coalesce(ship_by, paid_at + to_hours($window_hours::bigint)) as deadline,
        -- goods concerned: as detected; for whole-order kinds the order's goods if detection gave none
        coalesce(
            affected_amount,
            case when kind in ('empty', 'not_received', 'unshipped') then order_goods_paid end
        )::decimal(18, 2) as goods_amount
    from with_rules
),

held as (
    select
        *,
        case
            when not order_loaded then 'order_not_loaded'
            when flag_hold in ('order_not_loaded', 'lines_not_loaded') then flag_hold
            when has_rule and responsibility = 'merchant' and $reship_cures and deadline is null
                 and (reshipped_at is not null or not closed_or_refunded) then 'no_paid_time'
            when flag_hold = 'data_problem' then flag_hold
        end as hold
    from timed
),

classified as (
    select
        *,
        case
            when hold in ('order_not_loaded', 'lines_not_loaded', 'no_paid_time') then 'awaiting_data'
            when not has_rule or responsibility in ('buyer', 'no_fault') then 'excluded'
            when responsibility = 'courier' then 'courier'
            when responsibility is distinct from 'merchant' then 'disputed'
            when $reship_cures and reshipped_at is not null and deadline is not null
                 and reshipped_at <= deadline then 'cured'
            when $reship_cures and deadline is not null and $as_of::timestamp < deadline
                 and paid_at <= $as_of::timestamp and not closed_or_refunded then 'curable'
            else 'owed'
        end as status
    from held
),

final as (
    select
        order_id, shop, buyer, kind, responsibility, status, missing_qty,
        goods_amount as affected_amount, refunded_amount, paid_at, deadline, reshipped_at,
        case
            when not has_rule or status = 'awaiting_data' then null
            when base_scope = 'order' then coalesce(order_goods_paid, goods_amount)
            else goods_amount
        end::decimal(18, 2) as base_amount,
        rate, floor_yuan, cap_yuan, cap_scope, points_per_yuan, payout_form, hold
    from classified
)

select * from final
