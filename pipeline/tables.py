"""The Parquet files of an output set (SPEC section 6), written with DuckDB's COPY, never through
pandas: a writer of the set (pipeline/export.py declares the set).

| file                       | grain                                                   |
|----------------------------|---------------------------------------------------------|
| flags.parquet              | one row per flagged order                               |
| liabilities.parquet        | one row per flagged order                               |
| summary.parquet            | one row per shop × day                                  |
| rejects.parquet            | one row per rejected input row                          |
| payouts.parquet            | one row per ledger line this set publishes (the outbox) |
| payouts/<batch>.parquet    | the same, kept for every batch ever published           |

Money is DECIMAL(18,2), points BIGINT, order_id VARCHAR. The leading columns of each file are
the contract; any further columns of the underlying table follow them.

The ledger is an outbox (SPEC section 5): a ledger line is committed first (by the run's
transaction), then published in a payouts file, then marked as published in
`payout_publications` (pipeline/publish.py `mark_published`). Every set publishes every line
not yet marked, so a line committed by a run that died before its outputs were published goes
out with the next set.
"""
from __future__ import annotations

import shutil

import duckdb

from pipeline import db, explain
from pipeline.errors import ShortshipError
from pipeline.publish import BATCH_DIR, Stage
from pipeline.setdata import SAID, SetData, SetInfo, evidence_said

PARQUET_FILES = ("flags.parquet", "liabilities.parquet", "payouts.parquet", "summary.parquet", "rejects.parquet")

# leading columns of each output, with the type each must have; the rest of the table follows
FLAG_COLUMNS = [
    ("order_id", "varchar"),
    ("shop", "varchar"),
    ("kind", "varchar"),
    ("responsibility", "varchar"),
    ("confidence", "double"),
    ("rules", "varchar[]"),
    ("evidence", "varchar"),
    ("missing_qty", "bigint"),
    ("affected_amount", "decimal(18, 2)"),
]
LIABILITY_COLUMNS = [
    ("order_id", "varchar"),
    ("shop", "varchar"),
    ("platform", "varchar"),
    ("kind", "varchar"),
    ("responsibility", "varchar"),
    ("status", "varchar"),
    ("base_amount", "decimal(18, 2)"),
    ("compensation_yuan", "decimal(18, 2)"),
    ("points", "bigint"),
    ("floor_applied", "boolean"),
    ("cap_applied", "boolean"),
    ("goods_refund_yuan", "decimal(18, 2)"),
    ("freight_yuan", "decimal(18, 2)"),
    ("total_yuan", "decimal(18, 2)"),
    ("deadline", "timestamp"),
    ("policy", "varchar"),
]
PAYOUT_COLUMNS = [
    ("payout_id", "bigint"),
    ("run_id", "varchar"),
    ("order_id", "varchar"),
    ("points", "bigint"),
    ("yuan", "decimal(18, 2)"),
    ("reason", "varchar"),
]
REJECT_COLUMNS = [
    ("source_file", "varchar"),
    ("line", "bigint"),
    ("reason", "varchar"),
]


def _money_or_keep(name: str, dtype: str) -> str:
    """Trailing columns keep their type, except that any decimal is made DECIMAL(18,2)."""
    if dtype.upper().startswith("DECIMAL") and dtype.upper().replace(" ", "") != "DECIMAL(18,2)":
        return f"{name}::decimal(18, 2) as {name}"
    return name


def _select(con, table: str, leading: list[tuple[str, str]], where: str = "", order: str = "",
            said: dict[str, str] | None = None, drop: tuple[str, ...] = (), join: str = "") -> str:
    """`select` of the leading columns (cast to the contract types) then the other columns;
    `said`: column -> the SQL expression giving it instead (the evidence in the reader's
    language); `drop`: columns left out; `join`: a join clause after the table (the columns
    the expressions of `said` read)."""
    have = db.table_columns(con, table)
    names = {n for n, _ in have}
    missing = [n for n, _ in leading if n not in names]
    if missing:
        raise ShortshipError(f"table {table} lacks column(s) {', '.join(missing)}; is the database from an older version?")
    lead = [n for n, _ in leading]
    said = said or {}
    cols = [f"({said.get(n, n)})::{t} as {n}" for n, t in leading]
    cols += [_money_or_keep(n, t) for n, t in have if n not in lead and n not in drop]
    return f"select {', '.join(cols)} from {table}" + (f" {join}" if join else "") + (f" where {where}" if where else "") + (f" order by {order}" if order else "")


def copy_parquet(con: duckdb.DuckDBPyConnection, query: str, stage: Stage, rel: str, params: dict | None = None) -> bool:
    """COPY `query` into the staged file `rel` (zstd Parquet) and add it to the set, with the
    rows COPY answers with (not read back from the file's footer)."""
    target = str(stage.path(rel)).replace("'", "''")
    try:
        with db.optimizer(con):
            row = con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)",
                              params or {}).fetchone()
    except duckdb.Error as e:
        raise ShortshipError(f"{rel}: cannot write ({db._first_line(e)})") from None
    return stage.add(rel, rows=row[0] if row else None)


def output_queries(con: duckdb.DuckDBPyConnection, lang: str = "zh") -> dict[str, tuple[str, dict]]:
    """file name -> (query, parameters) for the Parquet outputs that describe the database
    (payouts.parquet is the published batch: see `stage_payouts`). flags.parquet says the
    evidence in `lang` (`evidence`) beside its facts (`evidence_facts`: pipeline/explain.py):
    in a set, the text said once for the set (setdata.say_evidence), else said here."""
    explain.prepare(con)
    if evidence_said(con, lang):
        # a left join: the file's bytes are those of the evidence said in the query (the
        # column's statistics as the writer sees them, tested)
        flags = _select(con, "flags", FLAG_COLUMNS, order="order_id", said={"evidence": "s.said"},
                        join=f"left join {SAID} s using (order_id)"), {}
    else:
        flags = _select(con, "flags", FLAG_COLUMNS, order="order_id",
                        said={"evidence": explain.said("evidence_facts")}), explain.render_params(lang)
    return {
        "flags.parquet": flags,
        "liabilities.parquet": (_select(con, "liabilities", LIABILITY_COLUMNS, order="order_id"), {}),
        "summary.parquet": (db.model_sql("outputs/summary.sql"), {}),
        "rejects.parquet": (
            _select(con, "rejects", REJECT_COLUMNS, order="load_id, line nulls last, reason"),
            {},
        ),
    }


def stage_tables(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of flags, liabilities, summary and rejects as Parquet (summary from the set's
    rows: the report shows them too)."""
    for name, (query, params) in output_queries(con, info.lang).items():
        if name == "summary.parquet":
            copy_parquet(con, f"select * from {data.summary.name}", stage, name)
            continue
        copy_parquet(con, query, stage, name, params)


PENDING_PAYOUTS = """
    select * from payouts p
    where not exists (select 1 from payout_publications q where q.payout_id = p.payout_id)
"""


def pending_payouts_select(con: duckdb.DuckDBPyConnection) -> str:
    """The SELECT of the ledger lines not yet published (the temp table `_pending`, made from
    PENDING_PAYOUTS), with the columns and types of payouts.parquet, in payout_id order."""
    return _select(con, "_pending", PAYOUT_COLUMNS, order="payout_id")


def stage_payouts(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of the outbox: every ledger line not yet published, this run's and any an
    interrupted run left behind, as payouts.parquet and (when there is any)
    payouts/<batch>.parquet."""
    con.execute(f"create or replace temp table _pending as {PENDING_PAYOUTS}")
    try:
        copy_parquet(con, pending_payouts_select(con), stage, "payouts.parquet")
        if con.execute("select count(*) from _pending").fetchone()[0]:
            src = stage.path("payouts.parquet")
            if not src.exists():  # the same bytes as published: the file is carried over
                src = stage.out_dir / "payouts.parquet"
            rel = f"{BATCH_DIR}/{info.batch_id}.parquet"
            shutil.copyfile(src, stage.path(rel))
            stage.add(rel, rows=stage.entries["payouts.parquet"].rows)
    except BaseException:
        try:
            con.execute("drop table if exists _pending")
        except duckdb.Error:
            pass  # a failed COPY aborted the transaction: the first error is the one to tell
        raise
    con.execute("drop table if exists _pending")
