-- Awaiting data (SPEC section 8: nothing is owed from rows that are not there): every order some
-- loaded row speaks of whose own data is not all there yet, so that nothing is owed or paid for
-- it until the data arrives; then the normal rules apply.
-- Grain: one row per order.
-- Which:
--   - every liability with status awaiting_data (sql/liabilities/status.sql), waiting for what
--     its hold names: order_not_loaded (the order's row, 订单报表), lines_not_loaded (its lines,
--     宝贝报表: a short or wrong flag cannot value its units without them), no_paid_time (its paid
--     time: the cure deadline);
--   - every other order whose own row is not loaded but that a refund (applied by the run's
--     clock), a shipments row (shipped by the clock) or a review decision names: waiting for
--     the order's row (order_not_loaded), flagged or not;
--   - every other loaded order with a shipments row but no order lines: its parcels cannot be
--     compared with what was ordered until its lines arrive (lines_not_loaded).
-- The run's clock: the as-of the liabilities (else the flags) were built for, else the latest
-- run's (as sql/outputs/summary.sql).
-- Inputs: liabilities, flags, orders, refunds, shipments, decisions, runs.
-- Columns: order_id, waiting_for (order_not_loaded, lines_not_loaded, no_paid_time), kind and
-- status (of its flag and liability, NULL when none), refunds, parcels (shipments rows),
-- decisions (rows waiting with it), since (the earliest of those rows' times: applied, shipped,
-- decided), source_file and line (of the order's row when it is loaded, else of its first
-- waiting row), detail (readable: what it waits for, its first five rows quoted).
with

clock as (
    select coalesce(
        (select max(as_of) from liabilities),
        (select max(as_of) from flags),
        (select as_of from runs order by started_at desc, run_id desc limit 1),
        '9999-12-31'::timestamp)                                   as as_of
),

waiting_liabilities as (
    select order_id, hold as waiting_for, kind, status
    from liabilities
    where status = 'awaiting_data'
),

-- the order ids of the parcels shipped by the clock (one per parcel: made distinct below, once
-- the joins have left few rows)
shipped as (
    select order_id from shipments where shipped_at <= (select as_of from clock)
),

-- loaded orders with parcels and no lines: the orders without lines first (few), then their
-- parcels
parcels_without_lines as materialized (
    select distinct s.order_id
    from shipped s
    join (select order_id from orders anti join order_lines l using (order_id)) o using (order_id)
),

-- the orders named by a row (a refund applied by the clock, a parcel shipped by it, a decision)
-- whose own row is not loaded, and the orders of the awaiting liabilities
ids as materialized (
    select order_id
    from (
        select order_id from refunds where applied_at is null or applied_at <= (select as_of from clock)
        union all  -- made distinct by the union below, after the anti join leaves few rows
        select order_id from shipped
        union all
        select order_id from decisions
    )
    anti join orders using (order_id)
    union
    select order_id from waiting_liabilities
    union
    select order_id from parcels_without_lines
),

-- their rows, quoted
relevant as (
    select r.order_id, 'refund' as what, r.applied_at as seen_at, r.source_file, r.line,
           '退款 ' || r.refund_id || coalesce(' (' || r.reason || ')', '') || ' ' || coalesce(r.refund_amount::varchar, '?') || ' yuan' as quote
    from refunds r
    semi join ids using (order_id)
    where r.applied_at is null or r.applied_at <= (select as_of from clock)
    union all
    select s.order_id, 'parcel', s.shipped_at, s.source_file, s.line,
           'parcel ' || coalesce(s.tracking_no, '?') || coalesce(' ' || s.sku, '') || coalesce(' × ' || s.quantity::varchar, '')
               || case when s.reship then ' (补发)' else '' end
    from shipments s
    semi join ids using (order_id)
    where s.shipped_at <= (select as_of from clock)
    union all
    select d.order_id, 'decision', d.decided_at, d.source_file, d.line,
           'review decision ' || coalesce(d.decision_raw, d.decision)
    from decisions d
    semi join ids using (order_id)
),

per_order as (
    select
        order_id,
        count(*) filter (where what = 'refund')                    as refunds,
        count(*) filter (where what = 'parcel')                    as parcels,
        count(*) filter (where what = 'decision')                  as decisions,
        min(seen_at)                                               as since,
        arg_min(source_file, struct_pack(a := coalesce(seen_at, '9999-12-31'::timestamp), f := source_file, l := line))
                                                                   as first_file,
        arg_min(line, struct_pack(a := coalesce(seen_at, '9999-12-31'::timestamp), f := source_file, l := line))
                                                                   as first_line,
        -- the first five rows quoted, the rest counted
        array_to_string(list(quote order by seen_at nulls last, source_file, line)[1:5], '; ')
            || case when count(*) > 5 then '; … ' || (count(*) - 5)::varchar || ' more' else '' end  as quotes
    from relevant
    group by order_id
),

listed as (
    select order_id, waiting_for, kind, status from waiting_liabilities
    union all
    select p.order_id, 'order_not_loaded', null, null
    from per_order p
    anti join orders o using (order_id)
    anti join waiting_liabilities w using (order_id)
    union all
    select order_id, 'lines_not_loaded', null, null
    from parcels_without_lines
    anti join waiting_liabilities w using (order_id)
),

final as (
    select
        l.order_id,
        l.waiting_for,
        l.kind,
        l.status,
        coalesce(p.refunds, 0)::bigint                             as refunds,
        coalesce(p.parcels, 0)::bigint                             as parcels,
        coalesce(p.decisions, 0)::bigint                           as decisions,
        p.since,
        coalesce(o.source_file, p.first_file)                      as source_file,
        coalesce(o.line, p.first_line)                             as line,
        'waiting for '
            || case l.waiting_for
                 when 'order_not_loaded' then 'the order''s row (订单报表)'
                 when 'lines_not_loaded' then 'the order''s lines (宝贝报表)'
                 when 'no_paid_time' then 'the order''s paid time (订单付款时间): the cure deadline is unknown'
                 else l.waiting_for
               end
            || coalesce(': ' || p.quotes, '')                      as detail
    from listed l
    left join per_order p using (order_id)
    left join orders o using (order_id)
    order by l.waiting_for, p.since nulls last, l.order_id
)

select * from final
