"""The data of one output set, computed once and handed to every writer (pipeline/export.py).

`SetInfo` is what the writers know besides the database: the set's run, batch, clock, policy,
language. `SetData` holds the rows several writers show, computed once per set by the layer
above the writers (pipeline/export.py `set_data`; `stage_outputs` in two steps, `compute_evidence`
then `compute_rest`, so that the evidence pages start first) from the SQL models under sql/outputs/ and
sql/review/:

| field        | model                         | written to                   | also shown by            |
|--------------|-------------------------------|------------------------------|--------------------------|
| reship       | outputs/reship.sql            | reship.csv                   | report, workbook         |
| claims       | outputs/courier_claims.sql    | courier_claims.csv           | report, workbook         |
| claim_totals | (per carrier × month, here)   |                              | report, workbook         |
| root_causes  | outputs/root_causes.sql       | root_causes.parquet          | report                   |
| review       | review/review_queue.sql       | review.csv                   | report, workbook         |
| evidence     | outputs/evidence_orders.sql   | evidence/NN/<order_id>.html     | report (links)           |
| problems     | outputs/data_problems.sql     | (first rows, counts by problem) | report, run summary    |
| awaiting     | outputs/awaiting.sql          | (first rows, counts by what)    | report, run summary    |
| summary      | outputs/summary.sql           | summary.parquet              | report (flags by day)    |

Parcel weights (the courier claims and the evidence pages) are learnt here too (`weigh_parcels`).
Nothing here writes a file, and nothing is kept between sets: no module-level state.

root_causes, review and summary are `SetTable`s: a temp table of the connection holding the
rows, which the writers read in SQL (`name`: the Parquet files, the report's flags by day) or
fetch (`rows`, `iter_rows`: the report, review.csv, the workbook). Not Arrow tables: pyarrow
(and numpy under it) cost a run some 0.14 s of CPU to import, a tenth of a small run, and a run
needs them nowhere else; nor Python rows kept for the set (the review queue of 10 M orders,
some 250,000 rows, would take a quarter of a GiB as Python objects).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterator

import duckdb

from pipeline import db, explain
from pipeline.clock import china_now
from pipeline.errors import ShortshipError
from pipeline.policy import Policy, load_policy, presets

ZERO = Decimal("0.00")
EVIDENCE_DIR = "evidence"
_SAFE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def page_name(order_id: str) -> str:
    """The file name of an order's evidence page; an id that is not a plain token cannot name a file."""
    if not _SAFE_ID.fullmatch(order_id or ""):
        raise ShortshipError(f"order id {order_id!r}: not a valid order id")
    return f"{order_id}.html"


def page_path(order_id: str) -> str:
    """Where an order's evidence page lies in the output folder (the report's link to it):
    evidence/<the id's last two characters>/<order_id>.html. A hundred folders, not one: one
    folder of 240,000 files was measured 1.6-11 times slower to fill, 3-5 times slower to
    replace a tenth of and 4 times slower to empty than a hundred (bench/results.md)."""
    return f"{EVIDENCE_DIR}/{order_id[-2:]}/{page_name(order_id)}"


def page_href_from_page(order_id: str) -> str:
    """The link from one evidence page to the page of `order_id` (pages lie two folders down)."""
    return f"../../{page_path(order_id)}"


@dataclass(frozen=True)
class SetInfo:
    """What the writers of one output set need to know besides the database."""
    run_id: str | None      # the run the set describes (the report's run, its ledger lines)
    batch_id: str           # this publication (payouts/<batch_id>.parquet; `written_by` in the manifest)
    as_of: datetime         # the set's clock
    policy: Policy          # the run's policy (courier claims, evidence pages)
    lang: str = "zh"        # people's files: zh (default) or en
    xlsx: bool = False      # also liabilities.xlsx

    @property
    def policy_id(self) -> str:
        return self.policy.id


def resolve_policy(policy: Policy | None, policy_id: str | None) -> Policy:
    """The run's policy: given, else the preset with that id, else the default preset."""
    if policy is not None:
        return policy
    for name in presets():
        p = load_policy(name)
        if p.id == policy_id:
            return p
    return load_policy(None)


def latest_run(con: duckdb.DuckDBPyConnection) -> tuple[str, datetime, str] | None:
    """(run_id, as_of, policy_id) of the latest run the database holds, or None."""
    return con.execute(
        "select run_id, as_of, policy_id from runs order by started_at desc, run_id desc limit 1").fetchone()


def resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: datetime | None) -> datetime:
    if as_of is not None:
        return as_of
    row = con.execute("select max(as_of) from liabilities").fetchone()
    return row[0] if row and row[0] is not None else china_now()


def set_info(con: duckdb.DuckDBPyConnection, batch_id: str, run_id: str | None = None, lang: str = "zh",
             xlsx: bool = False, as_of: datetime | None = None, policy: Policy | None = None) -> SetInfo:
    """The SetInfo of a set describing what the database holds: the run `run_id` (default the
    latest), its clock and policy unless given."""
    run = None
    if run_id is None:
        run = latest_run(con)
        run_id = run[0] if run else None
    elif as_of is None or policy is None:
        run = con.execute("select run_id, as_of, policy_id from runs where run_id = ? "
                          "order by started_at desc limit 1", [run_id]).fetchone()
    return SetInfo(run_id=run_id, batch_id=batch_id,
                   as_of=resolve_as_of(con, as_of if as_of is not None else (run[1] if run else None)),
                   policy=resolve_policy(policy, run[2] if run else None), lang=lang, xlsx=xlsx)


class Row(dict):
    """A result row whose columns are also attributes (the row is its own instance dict):
    templates read `row.sku` at the speed of an attribute."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.__dict__ = self


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[Row]:
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [Row(zip(names, r)) for r in cur.fetchall()]


def model_rows(con: duckdb.DuckDBPyConnection, model: str, params: dict[str, Any] | None = None) -> list[Row]:
    sql = db.model_sql(model)
    return rows(con, sql, {k: v for k, v in (params or {}).items() if f"${k}" in sql})


# --- parcel weights (the evidence pages and the courier claims) ----------------------------

def weigh_parcels(con: duckdb.DuckDBPyConnection, order_ids_sql: str, as_of: datetime, policy: Policy,
                  params: dict | None = None) -> None:
    """Temp table _act_parcels: every parcel of the orders `order_ids_sql` selects (at least:
    it also holds those of the orders weighed before on this connection at the same clock and
    policy), with its weight against the expected weight (sql/outputs/parcel_weights.sql). A
    parcel's row depends on its order's shipments alone, so each reader selects the orders it
    wants, and an order is weighed once per set: the courier claims and the evidence pages
    share the rows (temp table _act_weighed: the orders weighed). The SKU weights are learnt
    once per connection and clock (temp table _act_sku_weights)."""
    key = f"{as_of.isoformat()}|{policy.weight_min_samples}"
    if _stamp(con, "_act_sku_weights_stamp") != key:
        db.materialize(con, "outputs/sku_weights.sql", "_act_sku_weights",
                       {"as_of": as_of, "min_samples": policy.weight_min_samples}, temp=True)
        con.execute("create or replace temp table _act_sku_weights_stamp as select ?::varchar as stamp", [key])
        con.execute("drop table if exists _act_parcels_stamp")  # weighed against the old weights
    pkey = f"{key}|{policy.weight_noise}"
    fresh = _stamp(con, "_act_parcels_stamp") != pkey
    if fresh:
        con.execute("create or replace temp table _act_orders as "
                    f"select distinct order_id from ({order_ids_sql}) where order_id is not null", params or {})
        db.materialize(con, "outputs/parcel_weights.sql", "_act_parcels",
                       {"as_of": as_of, "noise": policy.weight_noise}, temp=True)
        con.execute("create or replace temp table _act_weighed as select order_id from _act_orders")
        con.execute("create or replace temp table _act_parcels_stamp as select ?::varchar as stamp", [pkey])
        return
    # only the orders not weighed yet
    con.execute("create or replace temp table _act_orders as "
                f"select distinct order_id from ({order_ids_sql}) t anti join _act_weighed w using (order_id) "
                "where order_id is not null", params or {})
    if con.execute("select count(*) from _act_orders").fetchone()[0]:
        db.insert_model(con, "outputs/parcel_weights.sql", "_act_parcels",
                        {"as_of": as_of, "noise": policy.weight_noise})
        con.execute("insert into _act_weighed select order_id from _act_orders")


def _stamp(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The stamp a temp table `table` holds, None when there is none (looked up in
    duckdb_tables(): reading a missing table would abort the caller's transaction)."""
    if not con.execute("select count(*) from duckdb_tables() where table_name = ? and temporary",
                       [table]).fetchone()[0]:
        return None
    return con.execute(f"select any_value(stamp) from {table}").fetchone()[0]


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("_act_orders", "_act_parcels", "_act_parcels_stamp", "_act_weighed", "_act_sku_weights",
              "_act_sku_weights_stamp", SAID, SAID_STAMP):
        con.execute(f"drop table if exists {t}")


# --- the flags' evidence said once per set --------------------------------------------------

# Temp table: every flag's evidence said in the set's language (order_id, said), said once for
# the set (DuckDB's fl_render, pipeline/explain.py) and read by every file that shows it:
# flags.parquet (tables.output_queries), the review queue (review.csv, the report, the
# workbook) and the evidence pages (act/facts.py). Its stamp names the language.
SAID = "_set_said"
SAID_STAMP = "_set_said_stamp"


def say_evidence(con: duckdb.DuckDBPyConnection, lang: str) -> None:
    """The temp table SAID for `lang`, from the flags as they are now (dropped by `drop_temp`)."""
    explain.prepare(con)
    con.execute(f"create or replace temp table {SAID} as "
                f"select order_id, {explain.said('evidence_facts')} as said from flags", explain.render_params(lang))
    con.execute(f"create or replace temp table {SAID_STAMP} as select ?::varchar as stamp", [lang])


def evidence_said(con: duckdb.DuckDBPyConnection, lang: str) -> bool:
    """Whether the set's SAID table holds the flags' evidence in `lang`."""
    return _stamp(con, SAID_STAMP) == lang


# --- the rows -------------------------------------------------------------------------------

def reship_rows(con: duckdb.DuckDBPyConnection, as_of: datetime) -> list[Row]:
    return model_rows(con, "outputs/reship.sql", {"as_of": as_of})


# the orders a courier claim may be for (sql/outputs/courier_claims.sql: lost in transit, or
# short in an intact parcel)
CLAIM_ORDERS = ("select order_id from liabilities where status = 'courier' "
                "or (kind = 'short' and status in ('owed', 'cured'))")


def claim_rows(con: duckdb.DuckDBPyConnection, as_of: datetime, policy: Policy) -> list[Row]:
    weigh_parcels(con, CLAIM_ORDERS, as_of, policy)
    return model_rows(con, "outputs/courier_claims.sql", {
        "as_of": as_of,
        "claim_rule": policy.courier_claim,
        "postage_multiple": policy.courier_postage_multiple,
        "freight_per_parcel": policy.freight_per_parcel,
        "noise": policy.weight_noise,
    })


def claim_totals(claims: list[dict]) -> list[dict]:
    """Per carrier and month, then per carrier (month None; only for a carrier of several
    months): orders, goods value, claim."""
    out: dict[tuple, dict] = {}
    for c in claims:
        for key in ((c["carrier"], c["month"]), (c["carrier"], None)):
            t = out.setdefault(key, {"carrier": c["carrier"], "month": key[1], "orders": 0,
                                     "goods_value_yuan": ZERO, "claim_yuan": ZERO})
            t["orders"] += 1
            t["goods_value_yuan"] += c["goods_value_yuan"] or ZERO
            t["claim_yuan"] += c["claim_yuan"] or ZERO
    months: dict[Any, int] = {}
    for carrier, month in out:
        if month is not None:
            months[carrier] = months.get(carrier, 0) + 1
    totals = [t for (carrier, month), t in out.items() if month is not None or months.get(carrier, 0) > 1]
    return sorted(totals, key=lambda t: (t["carrier"] is None, t["carrier"] or "", t["month"] is None, t["month"] or ""))


def evidence_orders(con: duckdb.DuckDBPyConnection, order_ids: list[str] | None = None) -> dict[str, list[str]]:
    """order_id -> why it gets a page (disputed, courier, decided), in order_id order; only the
    orders `order_ids` when given."""
    sql = db.model_sql("outputs/evidence_orders.sql")
    if order_ids is not None:
        sql = f"select * from ({sql}) where order_id in (select unnest($ids::varchar[]))"
        cur = con.execute(sql, {"ids": list(order_ids)})
    else:
        cur = con.execute(sql)
    return {r[0]: list(r[1]) for r in cur.fetchall()}


class SetTable:
    """The rows of one model for the set, in the connection's temp table `name`, in the model's
    order (`rowid`). Fetched as dicts (the values DuckDB gives: for these columns those Arrow's
    to_pylist gave). The temp table is the connection's until the next set made on it replaces
    it (or the connection closes): a set's writers run before another set is made."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, model: str, params: dict[str, Any] | None = None):
        self.con, self.name = con, name
        self.num_rows = db.materialize(con, model, name, params, temp=True)

    def rows(self, order: str = "rowid", limit: int | None = None) -> list[dict]:
        """The rows as dicts in `order` (SQL; default the model's), the first `limit`."""
        cur = self.con.execute(f"select * from {self.name} order by {order}" + (" limit $n" if limit is not None else ""),
                               {"n": limit} if limit is not None else {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def iter_rows(self, batch: int = 10_000) -> Iterator[dict]:
        """The rows as dicts in the model's order, `batch` at a time, each batch its own query
        (the connection may run others between them). A batch is the rows of the next `batch`
        rowids after the last one seen, so the whole costs what the rows do (`rowid > last
        order by rowid limit n` sorted every row left at each batch: the square of the rows).
        Where no row lies in that range (a gap, or rowids that do not start at 0: inside a
        transaction a new table's start near 2**55), the next batch is found by its order."""
        last = -1
        while True:
            cur = self.con.execute(f"select rowid, * from {self.name} where rowid > $last and rowid <= $last + $n "
                                   "order by rowid", {"last": last, "n": batch})
            got = cur.fetchall()
            if not got:
                cur = self.con.execute(f"select rowid, * from {self.name} where rowid > $last order by rowid limit $n",
                                       {"last": last, "n": batch})
                got = cur.fetchall()
                if not got:
                    return
            names = [d[0] for d in cur.description][1:]
            for r in got:
                yield dict(zip(names, r[1:]))
            last = got[-1][0]

    def to_pylist(self) -> list[dict]:
        return self.rows()


def review_queue(con: duckdb.DuckDBPyConnection, lang: str = "zh") -> SetTable:
    """The orders awaiting a review decision (sql/review/review_queue.sql), in its order, the
    evidence and the lines said in `lang` (pipeline/explain.py)."""
    explain.prepare(con)
    own = not evidence_said(con, lang)  # outside a set: said here for the queue alone
    if own:
        say_evidence(con, lang)
    try:
        return SetTable(con, "_set_review", "review/review_queue.sql", explain.render_params(lang))
    finally:
        if own:
            con.execute(f"drop table if exists {SAID}")
            con.execute(f"drop table if exists {SAID_STAMP}")


def root_causes(con: duckdb.DuckDBPyConnection) -> SetTable:
    return SetTable(con, "_set_root_causes", "outputs/root_causes.sql")


def summary(con: duckdb.DuckDBPyConnection) -> SetTable:
    """summary.parquet's rows (one per shop × day), in its order."""
    return SetTable(con, "_set_summary", "outputs/summary.sql")


# the review queue, the largest first (the report, the workbook): affected_amount descending,
# then order_id, nulls last in each key, ties in the queue's order (as Arrow's stable sort_by
# gave them)
REVIEW_ORDER = "affected_amount desc nulls last, order_id asc nulls last, rowid"


FIRST_ROWS = 20  # the rows of a long list the report shows (its TABLE_N)


def first_rows_and_counts(con: duckdb.DuckDBPyConnection, model: str, count_by: str, order: str,
                          limit: int = FIRST_ROWS) -> tuple[list[dict], dict]:
    """The first `limit` rows of a model and its row count by `count_by`, the model run once
    (a materialized CTE): the models behind the report's lists read whole tables."""
    base = db.model_sql(model)
    cur = con.execute(f"""with m as materialized ({base}),
                              counts as (select map(list({count_by}), list(n)) as counts
                                         from (select {count_by}, count(*) as n from m group by all))
                          select m.*, counts._counts from m, (select counts as _counts from counts) counts
                          order by {order}
                          limit {int(limit)}""")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    counts = dict(rows[0].pop("_counts")) if rows else {}
    for r in rows[1:]:
        r.pop("_counts")
    return rows, counts


def data_problems(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], dict[str, int]]:
    """Problems found in the data (sql/outputs/data_problems.sql): the first rows (their facts
    not yet said in a language) and the count by problem."""
    explain.prepare(con)  # the model says its details as facts (sql/flags/macros.sql)
    return first_rows_and_counts(con, "outputs/data_problems.sql", "problem", "order_id, problem, refund_id")


def awaiting(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], dict[str, int]]:
    """The orders awaiting data (sql/outputs/awaiting.sql): the first rows and the count by what
    they wait for."""
    return first_rows_and_counts(con, "outputs/awaiting.sql", "waiting_for", "waiting_for, since nulls last, order_id")


@dataclass
class SetData:
    """The rows behind several files of one output set (see the module doc)."""
    reship: list[Row] = field(default_factory=list)
    claims: list[Row] = field(default_factory=list)
    claim_totals: list[dict] = field(default_factory=list)
    root_causes: SetTable | None = None
    review: SetTable | None = None
    evidence: dict[str, list[str]] = field(default_factory=dict)  # order_id -> why it has a page
    # (first rows, count by problem); (first rows, count by what awaited)
    problems: tuple[list[dict], dict[str, int]] = field(default_factory=lambda: ([], {}))
    awaiting: tuple[list[dict], dict[str, int]] = field(default_factory=lambda: ([], {}))
    summary: SetTable | None = None  # shop × day (summary.parquet, the report's flags by day)

    def root_cause_rows(self) -> list[dict]:
        return self.root_causes.to_pylist() if self.root_causes is not None else []


def compute(con: duckdb.DuckDBPyConnection, info: SetInfo) -> SetData:
    """Every row of SetData, from what the database holds at the set's clock and policy. Leaves
    the set's temp tables (the parcel weights, shared with the evidence pages): `drop_temp`
    removes them once the set is written."""
    data = SetData()
    compute_evidence(con, info, data)
    compute_rest(con, info, data)
    return data


def compute_evidence(con: duckdb.DuckDBPyConnection, info: SetInfo, data: SetData) -> None:
    """The first step of `compute`: what the evidence pages need (`evidence`, and the parcels
    of the pages' and the claims' orders weighed), so that the pages can be started on before
    the rest is computed (pipeline/export.py `stage_outputs`)."""
    # parcels weighed by an earlier set on this connection may be of other rows: weighed afresh
    con.execute("drop table if exists _act_parcels_stamp")
    data.evidence = evidence_orders(con)
    say_evidence(con, info.lang)  # before the pages: they show it too
    # the parcels of the claims' and the pages' orders, weighed in one go (the pages add only
    # the later orders that make up theirs)
    weigh_parcels(con, f"{CLAIM_ORDERS} union all select unnest($evidence_ids::varchar[]) as order_id",
                  info.as_of, info.policy, {"evidence_ids": list(data.evidence)})


def compute_rest(con: duckdb.DuckDBPyConnection, info: SetInfo, data: SetData) -> None:
    """The second step of `compute`: every other row of SetData."""
    data.reship = reship_rows(con, info.as_of)
    data.claims = claim_rows(con, info.as_of, info.policy)
    data.claim_totals = claim_totals(data.claims)
    data.root_causes = root_causes(con)
    data.review = review_queue(con, info.lang)
    data.problems = data_problems(con)
    data.awaiting = awaiting(con)
    data.summary = summary(con)
