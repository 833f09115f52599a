-- Incremental detection (issue 21: a daily run costs what is new). `shortship run` recomputes
-- the flags, notes and buyer reviews of the orders that the new rows or the moving clock can
-- change, and keeps the others' rows (pipeline/incremental.py); these tables say what the kept
-- rows were computed from. Internal: users need not read them.

-- The detection the flags, notes and buyer_reviews tables hold: its clock, and a fingerprint of
-- the code and the policy that computed it (another code or policy: everything is recomputed).
-- Grain: one row (none before the first detection, or after a change no load recorded).
create table if not exists detection_state (
    as_of              timestamp not null,  -- the clock of the detection the tables hold
    fingerprint        varchar not null,    -- code (pipeline.resources.fingerprint), DuckDB and policy
    run_id             varchar,
    decisions_load_id  bigint               -- the highest load_id of decisions then (rows above it are new)
);

-- Orders whose rows a load changed since that detection (new rows, or a newer export whose
-- content differs from the copy it replaces; the file, line and load of a row are not content).
-- Grain: one row per order and load that changed it; emptied by each detection.
create table if not exists changed_orders (
    order_id  varchar not null
);
