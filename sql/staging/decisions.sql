-- Typed decisions (the review loop, SPEC sections 3 and 5) from one load: a filled review.csv.
-- Grain: one row per record of load $load_id (_raw_batch: this load's raw_decisions rows);
-- the merge keeps the newest decision of an order (newest export, then the later line).
-- Inputs: _raw_batch (as raw_decisions), load_manifest. reject_reason is NULL for a row that
-- parsed; `ignored` marks a row whose decision (判定) is empty: the order is still undecided, the
-- row is neither loaded nor rejected (load_manifest.ignored counts it).
-- decision: merchant, courier, buyer, no_fault, also written 商家, 快递, 买家, 无责 (any case), or as the
-- outputs label them (商家责任, 快递责任, 买家责任, 无过错; also 无责任);
-- missing_qty: a whole number from 0 to 1,000,000; decided_at: 判定时间, else the file's export
-- time.
with

raw as (
    select * exclude (load_id, extra), $load_id::integer as load_id from _raw_batch
),

cleaned as (
    select load_id, line, ss_clean(columns(* exclude (load_id, line))) from raw
),

typed as (
    select
        c.*,
        ss_id(order_id)                                  as v_order_id,
        case
            when lower(decision) in ('merchant', '商家', '商家责任') then 'merchant'
            when lower(decision) in ('courier', '快递', '快递责任') then 'courier'
            when lower(decision) in ('buyer', '买家', '买家责任') then 'buyer'
            when lower(decision) in ('no_fault', '无责', '无过错', '无责任') then 'no_fault'
        end                                              as v_decision,
        ss_int(missing_qty)                              as v_missing_qty,
        ss_ts(decided_at)                                as v_decided_at
    from cleaned c
),

checked as (
    select
        *,
        decision is null                                 as ignored,
        case when decision is not null then nullif(concat_ws('; ',
            ss_id_problem(v_order_id),
            case when v_decision is null
                 then 'unknown decision: ' || decision
                      || ' (merchant, courier, buyer, no_fault or 商家, 快递, 买家, 无责)' end,
            ss_bad_qty(missing_qty, v_missing_qty, 'missing_qty', 0, 1000000),
            ss_bad_ts(decided_at, v_decided_at, 'decided_at')
        ), '') end                                       as reject_reason
    from typed
),

manifest as (
    select path, export_time from load_manifest where load_id = $load_id
),

final as (
    select
        v_order_id                                       as order_id,
        v_decision                                       as decision,
        decision                                         as decision_raw,
        v_missing_qty                                    as missing_qty,
        note,
        decided_by,
        coalesce(v_decided_at, m.export_time)            as decided_at,
        load_id,
        m.path                                           as source_file,
        line,
        reject_reason,
        ignored
    from checked cross join manifest m
)

select * from final
