-- Table macros over the typed tables for the run's clock; created as TEMP macros by
-- pipeline/flag.py after sql/flags/macros.sql (they need the tables to exist).
-- Grain: none (functions).

-- The run's clock (SPEC section 4, issue 14): no step reads data from after it. The refunds as
-- they stood at t: those applied by t (or with no application time), and a refund finished
-- only after t still open then ('requested'). A refund that does not add up (fl_untrusted,
-- sql/flags/untrusted.sql, built before these macros) is a data problem, never evidence: it is
-- not among them.
create or replace temp macro fl_refunds_at(t) as table
    select * replace (
        case when finished_at > t and status in ('success', 'closed', 'refused') then 'requested' else status end
            as status)
    from refunds
    anti join fl_untrusted using (refund_id)
    where applied_at is null or applied_at <= t;

-- the orders that exist at t: paid (else created) by t; the ids of those that do not
create or replace temp macro fl_orders_later(t) as table
    select order_id from orders where coalesce(paid_at, created_at) > t;
