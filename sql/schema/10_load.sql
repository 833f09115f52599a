-- Bookkeeping of loads. Grain: load_manifest one row per file (or xlsx sheet) loaded;
-- rejects one row per rejected input row. The raw_* tables (all text, one row per input
-- record) are created from the header alias table by pipeline/load.py.

create sequence if not exists load_id_seq start 1;

create table if not exists load_manifest (
    load_id       integer primary key,
    loaded_at     timestamp not null,
    path          varchar not null,
    file_name     varchar not null,
    sheet         varchar,
    size_bytes    bigint,
    sha256        varchar not null,
    kind          varchar not null,
    encoding      varchar,
    export_time   timestamp,          -- from the file name, else the file's mtime
    paid_is_net   boolean,            -- legacy 买家实际支付金额 is net of refunds
    rows_in       bigint not null,    -- data records in the file
    loaded        bigint not null,    -- records now in the typed table
    rejected      bigint not null,    -- records in rejects
    replaced      bigint not null,    -- records superseded by a newer copy of the same key
    header        varchar[],          -- the header as exported
    ignored       bigint not null default 0  -- decisions left undecided (no 判定): not loaded, not rejected
);
-- rows_in = loaded + rejected + replaced + ignored, checked by every load before it commits

-- databases made before the column existed
alter table load_manifest add column if not exists ignored bigint default 0;

create table if not exists rejects (
    load_id     integer not null,
    source_file varchar not null,
    line        bigint,
    reason      varchar not null
);
