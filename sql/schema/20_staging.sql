-- The typed tables users query. Grain: orders one row per order_id; order_lines one row per
-- order line (all lines of an order come from the newest items export holding the order);
-- refunds one row per refund_id; shipments one row per order × parcel × sku.
-- Every row keeps its provenance: load_id (load_manifest), source_file and line.

create table if not exists orders (
    order_id        varchar not null,  -- key
    shop            varchar,          -- 店铺名称, else 店铺Id
    buyer           varchar,
    status          varchar,          -- unpaid, paid, shipped, completed, closed
    status_raw      varchar,
    goods_amount    decimal(18, 2),   -- 买家应付货款
    postage         decimal(18, 2),   -- 买家应付邮费
    total_amount    decimal(18, 2),   -- 总金额
    paid_amount     decimal(18, 2),   -- 买家实际支付金额 / 买家实付金额, as exported
    refund_amount   decimal(18, 2),   -- 退款金额
    paid_gross      decimal(18, 2),   -- paid before any refund (legacy: 实付 + 退款金额)
    created_at      timestamp,
    paid_at         timestamp,
    shipped_at      timestamp,
    confirmed_at    timestamp,
    tracking_no     varchar,
    carrier         varchar,
    buyer_message   varchar,
    seller_memo     varchar,
    item_count      bigint,
    close_reason    varchar,
    title           varchar,
    address         varchar,
    load_id         integer not null,
    source_file     varchar not null,
    line            bigint not null
);

create table if not exists order_lines (
    order_id        varchar not null,
    line_no         integer not null, -- 1.. in export order within the order
    line_id         varchar,          -- 子订单编号 (current layouts)
    title           varchar,
    price           decimal(18, 2),   -- listed unit price
    quantity        bigint,
    sku             varchar,          -- 商家编码
    external_id     varchar,
    attributes      varchar,
    status          varchar,
    status_raw      varchar,
    refund_status   varchar,
    refund_amount   decimal(18, 2),
    paid_amount     decimal(18, 2),   -- line paid (on a single-line order it includes postage)
    shipped_at      timestamp,
    ship_by         timestamp,
    tracking_no     varchar,
    carrier         varchar,
    item_id         varchar,
    load_id         integer not null,
    source_file     varchar not null,
    line            bigint not null   -- key: (order_id, line_no)
);

create table if not exists refunds (
    refund_id           varchar not null,  -- key
    order_id            varchar not null,
    line_id             varchar,
    sku                 varchar,
    title               varchar,
    buyer               varchar,
    refund_amount       decimal(18, 2),  -- total refunded (退款总额, or to buyer + to platform)
    order_paid_amount   decimal(18, 2),
    status              varchar,         -- requested, awaiting_return, returned, refused, closed, success
    status_raw          varchar,
    goods_status        varchar,         -- 货物状态 as exported
    reason              varchar,         -- 买家退款原因 as exported
    description         varchar,         -- 买家退款说明
    return_required     boolean,
    aftersale_type      varchar,         -- 售后类型
    cs_status           varchar,         -- 客服介入状态
    responsible_party   varchar,         -- 责任方
    phase               varchar,         -- 售中或售后
    refund_scope        varchar,         -- 部分退款/全部退款
    seller_memo         varchar,
    paid_at             timestamp,
    applied_at          timestamp,
    finished_at         timestamp,
    timeout_at          timestamp,
    returned_at         timestamp,
    load_id             integer not null,
    source_file         varchar not null,
    line                bigint not null
);

create table if not exists shipments (
    order_id        varchar not null,
    sku             varchar,
    quantity        bigint,
    shipped_at      timestamp not null,
    tracking_no     varchar,
    weight_kg       decimal(12, 3),
    reship          boolean not null,
    load_id         integer not null,
    source_file     varchar not null,
    line            bigint not null,
    packer          varchar,          -- optional: who packed the parcel (root causes)
    warehouse       varchar           -- optional: where it was packed
);

alter table shipments add column if not exists packer varchar;
alter table shipments add column if not exists warehouse varchar;

-- Decisions of the review loop (SPEC sections 3 and 5): a filled review.csv, loaded like an
-- export. Grain: one row per order_id (the newest decision of an order wins; rows whose
-- decision is empty are not decisions and are not loaded). A decision for a loaded order that
-- is not flagged is turned into a reject by the run that finds it so; one for an order not
-- loaded yet waits for it.
create table if not exists decisions (
    order_id        varchar not null,  -- key
    decision        varchar not null,  -- merchant, courier, buyer, no_fault
    decision_raw    varchar,           -- as written (判定), e.g. 商家 / merchant
    missing_qty     bigint,            -- units missing, when the reviewer gives them
    note            varchar,
    decided_by      varchar,
    decided_at      timestamp,         -- the file's 判定时间 column, else the file's export time
    load_id         integer not null,
    source_file     varchar not null,
    line            bigint not null
);
