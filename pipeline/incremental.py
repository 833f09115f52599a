"""Detection that costs what is new (issue 21): a daily run recomputes the flags, notes and
claims of the orders the new rows or the moving clock can change, keeps the rows of the
others, and counts the buyer reviews from every order's claims, with the same result as one
fresh run over the same files and clock.

`detect` builds the result tables for a run. Fully (every order) when asked to
(`shortship flag`), and when the tables were not computed by a detection this database
recorded with the same code, DuckDB and policy (`detection_state`), or were computed at a later
clock. Otherwise:

1. the work over the whole shop first: the shipments against the order lines
   (sql/flags/ship_orders.sql) and the light parcels, judged by what every parcel of the shop
   teaches a SKU to weigh (sql/signals/parcel_light.sql); both are skipped when no load changed
   a row and no parcel shipped since (the recorded light parcels are this run's);
2. the orders to recompute and the orders they read (sql/flags/changed.sql): those a load
   changed (table changed_orders, written by pipeline/load.py), those with a time between the
   two clocks, those whose flag quotes the clock, those whose light parcel changed; the orders
   whose words may trace a make-up to one of those, and what they traced to before; read only,
   the other orders of those orders' buyers (a make-up is traced among them);
3. the typed tables (orders, order_lines, refunds, shipments, decisions) are shadowed by TEMP
   tables holding the rows of those orders only, and the unchanged models of sql/flags,
   sql/signals and sql/review run on them as on a fresh database; the orders the recomputed
   make-ups trace to now are added to those recomputed, and only those are in scope
   (`_restrict`): an order's detection reads nothing of another order outside these links,
   except the learnt weights of step 1;
4. their flags, notes and claims (state_claims; and the refunds held back, state_untrusted)
   replace the old rows of those orders; the buyer reviews are counted again over the whole shop
   from the claims of every order; every row then carries the run's clock and id, as a fresh
   run's would.

The liabilities and the ledger are recomputed over every flag by each run (pipeline/liabilities.py:
a few hundred milliseconds for a million orders), so they need no state of their own.

The state is written in the run's transaction: a run that fails leaves the old one. The typed
tables are written by loads, which record what they change; a table edited by hand is not seen
(run `shortship flag` once to recompute everything).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import duckdb

from pipeline import db, explain, resources
from pipeline.policy import Policy

# the typed tables detection reads, shadowed by the rows of the orders it recomputes
SHADOWED = ("orders", "order_lines", "refunds", "shipments", "decisions")
# the shop-wide steps, run over every order before the orders to recompute are known
SHOP_WIDE = (
    ("flags/ship_orders.sql", "fl_ship_orders"),
    ("signals/parcel_light.sql", "fl_light_parcels"),
)


# what a detection keeps for the next: the light parcels it judged (whole shop), the claims and
# the refunds held back of every order (the buyer reviews are counted from them each run)
STATE_TABLES = ("state_light_parcels", "state_claims", "state_untrusted")


@dataclass
class Detection:
    """What `detect` did: fully or for some orders, how many, and the decisions it rejected."""

    full: bool
    orders: int | None      # orders recomputed (None: all)
    decisions_rejected: int


def fingerprint(policy: Policy) -> str:
    """The code, the DuckDB and the policy a detection ran with."""
    h = hashlib.sha256()
    h.update(resources.fingerprint().encode())
    h.update(duckdb.__version__.encode())
    h.update(repr(policy).encode())
    return h.hexdigest()[:32]


def _state(con) -> tuple[datetime, str] | None:
    row = con.execute("select as_of, fingerprint from detection_state limit 1").fetchone()
    return (row[0], row[1]) if row else None


def _has_table(con, name: str) -> bool:
    return con.execute(
        "select count(*) from duckdb_tables() where table_name = ? and not temporary "
        "and database_name = current_database()", [name]
    ).fetchone()[0] > 0


def can_continue(con, as_of: datetime, policy: Policy) -> bool:
    """Whether the result tables hold a detection this one may continue from."""
    state = _state(con)
    return (state is not None and state[1] == fingerprint(policy) and as_of >= state[0]
            and all(_has_table(con, t) for t in STATE_TABLES))


def detect(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    policy: Policy,
    run_id: str,
    params: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    incremental: bool = True,
) -> Detection:
    """(Re)build flags, notes and buyer_reviews inside the caller's transaction (see the module
    doc); records the state the next run continues from."""
    from pipeline import flag
    from pipeline.review import apply_decision_rejects, find_decision_rejects

    full = not (incremental and can_continue(con, as_of, policy))
    say = progress or (lambda msg: None)
    explain.prepare(con)  # sql/flags/macros.sql, once per connection
    # the parcels the shop's weights are learnt from did not change (no load changed a row, no
    # parcel shipped since): the light parcels are those the previous detection judged
    quiet = not full and _parcels_unchanged(con, as_of)
    if quiet:
        con.execute("create or replace temp table fl_light_parcels as select * from state_light_parcels")
        built = SHOP_WIDE[1:]  # the shipments against the lines: for the orders read only
    else:
        built = SHOP_WIDE
        for model, table in SHOP_WIDE:
            say(f"flag: {model}")
            db.materialize(con, model, table, params, temp=True)
    orders = None
    shadowed = False
    try:
        if not full:
            say("flag: flags/changed.sql (the orders to recompute)")
            flag.load_policy_terms(con, policy)
            db.materialize(con, "flags/changed.sql", "_changed", params, temp=True)
            con.execute("create or replace temp table _read as select order_id from _changed")
            con.execute("create or replace temp table _recompute as select order_id from _changed where recompute")
            orders = con.execute("select count(*) from _recompute").fetchone()[0]
            say(f"flag: {orders:,} order(s) to recompute")
        if not quiet:  # what the next run compares its light parcels with: this run's, whole shop
            con.execute("create or replace table state_light_parcels as select * from fl_light_parcels")
        if not full:
            for _, table in built:
                con.execute(f"delete from {table} where order_id not in (select order_id from _read)")
            _shadow(con)
            shadowed = True
        if full or orders:
            flag.build_signals(con, as_of, policy, run_id, progress, skip=built,
                               on_built=None if full else _restrict)
            find_decision_rejects(con, as_of)
            if not full:
                con.execute("delete from _decision_rejects where order_id not in (select order_id from _recompute)")
            if full:
                # every row is new: the flags and notes go straight into their tables (the notes
                # read the flags as this run leaves them), with no copy through a temp table
                for table in ("flags", "notes"):
                    con.execute(f"delete from {table}")
                db.insert_model(con, "flags/flags.sql", "flags", params)
                db.insert_model(con, "flags/notes.sql", "notes", params)
            else:
                db.materialize(con, "flags/flags.sql", "_new_flags", params, temp=True)
                con.execute("delete from _new_flags where order_id not in (select order_id from _recompute)")
                # the notes read the flags as this run leaves them
                catalog = _catalog(con)
                con.execute(f'create or replace temp view flags as select * from _new_flags union all by name '
                            f'select * from "{catalog}".main.flags where order_id not in (select order_id from _recompute)')
                db.materialize(con, "flags/notes.sql", "_new_notes", params, temp=True)
                for table in ("_new_notes", "fl_claims", "fl_untrusted"):
                    con.execute(f"delete from {table} where order_id not in (select order_id from _recompute)")
    finally:
        con.execute("drop view if exists temp.main.flags")
        if shadowed:
            _unshadow(con)
    if not (full or orders):  # nothing to recompute: the rows stay, with this run's clock and id
        for table in ("flags", "notes"):
            con.execute(f"create or replace temp table _new_{table} as select * from {table} limit 0")
        con.execute("create or replace temp table _decision_rejects as "
                    "select null::integer as load_id, null::varchar as source_file, null::bigint as line, "
                    "null::varchar as order_id, null::varchar as reason limit 0")
    rejected = apply_decision_rejects(con)
    # the claims of every order and the refunds held back (state_claims, state_untrusted: this
    # run's for the orders it recomputed, the kept ones for the others), and the buyer reviews
    # counted from them over the whole shop
    for state, temp in (("state_claims", "fl_claims"), ("state_untrusted", "fl_untrusted")):
        if full:
            con.execute(f"create or replace table {state} as select * from {temp}")
            continue
        if orders:
            con.execute(f"delete from {state} where order_id in (select order_id from _recompute)")
            con.execute(f"insert into {state} by name select * from {temp}")
        con.execute(f"create or replace temp table {temp} as select * from {state}")
    if not (full or orders):  # the clock's macros (sql/flags/clock.sql) read fl_untrusted
        db.run_script(con, db.read_sql("flags/clock.sql"))
    db.materialize(con, "flags/buyer_reviews.sql", "_new_buyer_reviews", params, temp=True)
    if not full:  # (a full detection wrote its flags and notes above)
        for table in ("flags", "notes"):
            con.execute(f"delete from {table} where order_id in (select order_id from _recompute)")
            con.execute(f"insert into {table} by name select * from _new_{table}")
    con.execute("delete from buyer_reviews")
    con.execute("insert into buyer_reviews by name select * from _new_buyer_reviews")
    if not full:  # the kept rows: as a fresh run at this clock gives them
        for table in ("flags", "notes"):
            con.execute(f"update {table} set as_of = $as_of, run_id = $run_id "
                        f"where as_of is distinct from $as_of or run_id is distinct from $run_id",
                        {"as_of": as_of, "run_id": run_id})
    _record_state(con, as_of, policy, run_id)
    for t in ("_changed", "_read", "_recompute", "_new_flags", "_new_notes", "_new_buyer_reviews"):
        con.execute(f"drop table if exists {t}")
    return Detection(full=full, orders=orders, decisions_rejected=rejected)


def _restrict(con, table: str) -> None:
    """While detecting the orders to recompute (build_signals' hook): the orders their make-ups
    trace to now are recomputed too, and only the orders to recompute are in scope (the others
    are read: a make-up is traced among them)."""
    if table == "fl_text_match":
        con.execute(
            """insert into _recompute
               select distinct target_order_id from fl_text_match
               where relation = 'make_up' and target_order_id is not null
                 and order_id in (select order_id from _recompute)
                 and target_order_id not in (select order_id from _recompute)"""
        )
    elif table == "fl_scope":
        con.execute("delete from fl_scope where order_id not in (select order_id from _recompute)")


def _catalog(con) -> str:
    return con.execute("select current_database()").fetchone()[0].replace('"', '""')


def _parcels_unchanged(con, as_of: datetime) -> bool:
    """No load changed a row since the detection, and no parcel shipped between its clock and
    `as_of`: every parcel the shop-wide weights are learnt from is as the detection saw it."""
    return not con.execute(
        """select exists (select 1 from changed_orders)
                  or exists (select 1 from shipments, detection_state s
                             where shipped_at between s.as_of and $as_of)""",
        {"as_of": as_of},
    ).fetchone()[0]


def _shadow(con) -> None:
    """TEMP tables named like the typed tables, holding the rows of the orders to recompute:
    the models read them instead (DuckDB resolves a name to the temporary catalog first)."""
    catalog = _catalog(con)
    for table in SHADOWED:
        con.execute(f'create temp table {table} as select * from "{catalog}".main.{table} '
                    f"semi join _read using (order_id)")


def _unshadow(con) -> None:
    for table in SHADOWED:
        con.execute(f"drop table if exists temp.main.{table}")


def _record_state(con, as_of: datetime, policy: Policy, run_id: str) -> None:
    con.execute("delete from detection_state")
    con.execute(
        "insert into detection_state select $as_of, $fingerprint, $run_id, "
        "(select max(load_id) from decisions)",
        {"as_of": as_of, "fingerprint": fingerprint(policy), "run_id": run_id},
    )
    con.execute("delete from changed_orders")
