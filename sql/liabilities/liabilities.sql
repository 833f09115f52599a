-- Liabilities, step 3: one row per flagged order in the shape of the `liabilities` table.
-- Grain: one row per flagged order (order_id).
-- Inputs: _liab_penalty (sql/liabilities/penalty.sql).
-- Parameters: $run_id, $as_of, $policy_id, $platform, $freight_per_parcel (yuan, estimate),
--   $shop_bears_freight.
-- goods_refund_yuan  goods the buyer is still owed: affected − already refunded, not below 0,
--                    0 once re-shipped; for owed, curable and courier rows (a cured row was
--                    re-shipped; disputed and excluded rows establish nothing).
-- freight_yuan       when the shop bears freight and is at fault (owed, curable, cured): one
--                    parcel for a re-shipment sent (or, when curable, to be sent) for any kind
--                    but unshipped (whose first parcel is ordinary postage), plus one return
--                    parcel for a wrong item.
-- total_yuan         compensation + goods refund + freight.
-- at_risk_yuan       curable: the penalty owed if the goods are not re-shipped by the deadline.
-- recoverable_yuan   courier: the goods value the shop may claim back from the courier.
-- hold               why no money may move for the order yet (sql/liabilities/status.sql):
--                    order_not_loaded, lines_not_loaded, no_paid_time (status awaiting_data: all
--                    money 0), data_problem (status disputed, in review.csv); NULL otherwise. The
--                    ledger neither pays nor reverses a held order (payout_due.sql).
with

amounts as (
    select
        *,
        case
            when status in ('owed', 'curable', 'courier') and reshipped_at is null
                then greatest(coalesce(affected_amount, 0) - coalesce(refunded_amount, 0), 0)
            else 0
        end::decimal(18, 2) as goods_refund_yuan,
        case
            when $shop_bears_freight and status in ('owed', 'curable', 'cured') then
                (case when kind <> 'unshipped' and (reshipped_at is not null or status = 'curable') then 1 else 0 end)
                + (case when kind = 'wrong' then 1 else 0 end)
            else 0
        end as freight_parcels
    from _liab_penalty
),

final as (
    select
        order_id,
        shop,
        $platform::varchar as platform,
        kind,
        responsibility,
        status,
        base_amount,
        compensation_yuan,
        points,
        floor_applied,
        cap_applied,
        goods_refund_yuan,
        (freight_parcels * $freight_per_parcel::decimal(18, 2))::decimal(18, 2) as freight_yuan,
        (compensation_yuan + goods_refund_yuan + freight_parcels * $freight_per_parcel::decimal(18, 2))::decimal(18, 2)
            as total_yuan,
        deadline,
        $policy_id::varchar as policy,
        $run_id::varchar as run_id,
        payout_form,
        (case when status = 'curable' then potential_yuan else 0 end)::decimal(18, 2) as at_risk_yuan,
        (case when status = 'courier' then coalesce(affected_amount, 0) else 0 end)::decimal(18, 2)
            as recoverable_yuan,
        $as_of::timestamp as as_of,
        hold
    from amounts
)

select * from final
