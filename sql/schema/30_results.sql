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
    run_id           varchar,
    basis            varchar,            -- strongest evidence: explicit, amount, weight, text
    complaint        boolean,            -- the buyer complained (refund or message) before as_of
    line_no          integer,            -- the order line concerned, when one is
    sku              varchar,            -- its SKU code (商家编码)
    refund_ids       varchar[]           -- the refunds the flag rests on
);

-- columns added after the first release (databases created earlier gain them here)
alter table flags add column if not exists basis varchar;
alter table flags add column if not exists complaint boolean;
alter table flags add column if not exists line_no integer;
alter table flags add column if not exists sku varchar;
alter table flags add column if not exists refund_ids varchar[];

-- Buyers who claim short shipment (少件/漏发/空包裹 refunds, or such words in their own
-- messages) on many orders. Grain: one row per buyer with at least one claim; rebuilt by flag.
create table if not exists buyer_reviews (
    buyer            varchar not null,   -- key
    claims           bigint not null,    -- orders with a short / empty claim (refund, else own words)
    orders           bigint not null,    -- all the buyer's orders seen (claims / orders: claim rate)
    refunded_amount  decimal(18, 2),     -- money refunded on those claims
    first_claim_at   timestamp,
    last_claim_at    timestamp,
    review           boolean not null,   -- claims >= policy [review] min_short_claims
    order_ids        varchar[],
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
    base_amount        decimal(18, 2),    -- goods paid the penalty is a rate of (postage excluded)
    compensation_yuan  decimal(18, 2),    -- penalty owed now (0 unless owed)
    points             bigint,            -- compensation_yuan × points per yuan
    floor_applied      boolean,
    cap_applied        boolean,
    goods_refund_yuan  decimal(18, 2),    -- value of goods still to refund (0 when re-shipped)
    freight_yuan       decimal(18, 2),    -- re-shipment / return parcels the shop bears
    total_yuan         decimal(18, 2),    -- compensation + goods refund + freight
    deadline           timestamp,         -- ship-by: re-ship before this to cure
    policy             varchar,           -- policy id
    run_id             varchar,
    payout_form        varchar,           -- points, red_packet, beans, cash
    at_risk_yuan       decimal(18, 2),    -- curable: the penalty owed if not re-shipped in time
    recoverable_yuan   decimal(18, 2),    -- courier: goods value the shop may claim from the courier
    as_of              timestamp          -- the run's clock
);

-- columns added after the first release (databases created earlier gain them here)
alter table liabilities add column if not exists payout_form varchar;
alter table liabilities add column if not exists at_risk_yuan decimal(18, 2);
alter table liabilities add column if not exists recoverable_yuan decimal(18, 2);
alter table liabilities add column if not exists as_of timestamp;

create sequence if not exists payout_seq start 1;

create table if not exists payouts (
    payout_id   bigint not null,        -- key, from payout_seq
    run_id      varchar not null,
    order_id    varchar not null,
    points      bigint not null,        -- this line's points (negative for a reversal)
    yuan        decimal(18, 2) not null,-- this line's yuan value (negative for a reversal)
    reason      varchar not null,       -- new, top_up, reversal
    policy      varchar,
    created_at  timestamp not null,
    payout_form varchar                 -- points, red_packet, beans, cash
);

alter table payouts add column if not exists payout_form varchar;

-- The outbox's marks (SPEC section 5): a ledger line is published when a payouts file holding
-- it has been renamed into the output folder; then one row per line is inserted here.
-- Grain: one row per payout line × batch that published it (normally one batch per line; two
-- only when a run died between publishing and marking). Insert-only, like the ledger.
create table if not exists payout_publications (
    batch_id      varchar not null,   -- payouts/<batch_id>.parquet
    payout_id     bigint not null,    -- payouts.payout_id
    published_at  timestamp not null
);
