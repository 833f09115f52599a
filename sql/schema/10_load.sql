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

-- The files a load has read, by their place and state on disk (issue 21: a daily run costs what
-- is new). A file found again at the same path with the same size, modification time, change
-- time and inode is the file that was read then: its SHA-256 and the kinds (and sheets) it
-- holds are taken from here, and when every one of them is in load_manifest the file is
-- skipped without being read again (a folder of a year of daily exports is not hashed every
-- day). Any write to the file changes its change time, so it is read and hashed again.
-- Grain: one row per path x source (an xlsx workbook has one per sheet it holds); written only
-- for files whose kind was recognised from their header (no --kind).
create table if not exists export_files (
    path        varchar not null,   -- absolute path
    size_bytes  bigint not null,
    mtime_ns    bigint not null,
    ctime_ns    bigint not null,
    inode       bigint not null,
    sha256      varchar not null,
    kind        varchar not null,
    sheet       varchar
);
