-- Results. flags and liabilities are rebuilt by each run (one row per flagged order);
-- payouts is the append-only ledger (one row per payout line, never updated or deleted);
-- runs one row per run of flag/liabilities.

create table if not exists runs (
    run_id      varchar not null,     -- key
    started_at  timestamp not null,
    as_of       timestamp not null,   -- the run's clock, China time
    policy_id   varchar,
    command     varchar
);

create table if not exists flags (
    order_id         varchar not null,   -- key
    shop             varchar,
    buyer            varchar,
    kind             varchar not null,   -- short, wrong, empty, not_received, unshipped
    responsibility   varchar not null,   -- merchant, courier, buyer, undetermined
    confidence       double not null,    -- in [0, 1] (a score, not money)
    rules            varchar[] not null, -- rule ids that fired
    evidence         varchar not null,   -- readable, quoting the source values
    missing_qty      bigint,             -- units missing / wrong / not shipped
    affected_amount  decimal(18, 2),     -- paid value of the goods concerned, postage excluded
    paid_at          timestamp,
    ship_by          timestamp,          -- paid_at + ship window: re-ship before this to cure
    reshipped_at     timestamp,          -- when the units shipped reached the quantity ordered
    refunded_amount  decimal(18, 2),     -- refunds that already gave the buyer money back for it
    as_of            timestamp,
    run_id           varchar
);

create table if not exists liabilities (
    order_id           varchar not null,  -- key
    shop               varchar,
    platform           varchar,
    kind               varchar not null,
    responsibility     varchar not null,
    status             varchar not null,  -- owed, curable, cured, courier, disputed, excluded
    base_amount        decimal(18, 2),
    compensation_yuan  decimal(18, 2),
    points             bigint,
    floor_applied      boolean,
    cap_applied        boolean,
    goods_refund_yuan  decimal(18, 2),
    freight_yuan       decimal(18, 2),
    total_yuan         decimal(18, 2),
    deadline           timestamp,
    policy             varchar,
    run_id             varchar
);

create sequence if not exists payout_seq start 1;

create table if not exists payouts (
    payout_id   bigint not null,        -- key, from payout_seq
    run_id      varchar not null,
    order_id    varchar not null,
    points      bigint not null,
    yuan        decimal(18, 2) not null,
    reason      varchar not null,       -- new, top_up, reversal
    policy      varchar,
    created_at  timestamp not null
);
