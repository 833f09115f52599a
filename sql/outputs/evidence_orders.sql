-- The orders that get an evidence page (evidence/<order_id>.html) in a run's output set.
-- Grain: one row per order.
-- Inputs: liabilities, decisions, orders, flags.
-- Which: every order whose liability is disputed (responsibility undetermined: the pages are
-- the evidence for 小二介入) or courier (lost or damaged in transit: for the claim), and every
-- order a review decision was loaded for that the database knows (orders or flags).
with

picked as (
    select order_id, status as why from liabilities where status in ('disputed', 'courier')
    union all
    select order_id, 'decided' from decisions
),

-- (not made distinct: a semi join keeps each picked row once however often its order is known)
known as (
    select order_id from orders
    union all
    select order_id from flags
),

final as (
    select p.order_id, list_sort(list_distinct(list(p.why))) as reasons
    from picked p
    semi join known k using (order_id)
    group by p.order_id
    order by p.order_id
)

select * from final
