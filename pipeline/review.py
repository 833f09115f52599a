"""The review loop (SPEC sections 3 and 5): what the data cannot decide waits for a person.

Every flagged order whose responsibility the data leaves undetermined (liability status
`disputed`) and that no person has decided yet is listed in `review.csv` (one row per order,
the model sql/review/review_queue.sql) with its evidence, its lines and amounts, and an empty
decision column. The shop fills the decision (merchant, courier, buyer, no_fault), optionally
the units missing and a note, and puts the file with the exports (or gives it to `run`): the
loader fills the `decisions` table, and the next flag run applies them (sql/review/decided.sql):
responsibility and units from the decision, the rule `review_decision` and the decision quoted
in the evidence; the liabilities and the ledger follow by the usual differences.

A decision for an order that the run does not flag decides nothing: `reject_unflagged_decisions`
moves it to `rejects` (its file and line) and out of `decisions`, and moves its count from
loaded to rejected in its load's `load_manifest` row, inside the run's transaction, so that
rows_in still adds up. A decision whose order row is not loaded yet is not rejected: it waits
(awaiting data, sql/outputs/awaiting.sql) and applies when the order arrives; a decision whose
missing_qty is above the units ordered is kept but not applied (a data problem: the order stays
in review.csv with the problem in its evidence).

review.csv is UTF-8 with a BOM (Excel opens it as Unicode), headings in Chinese by default
(English with lang 'en') and exactly the headings the decisions loader maps; order ids are
written as ="…" so that Excel keeps every digit (the loader removes the wrapper, as in the
Taobao exports).
"""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

import duckdb

from pipeline import db
from pipeline.publish import Stage
from pipeline.setdata import SetData, SetInfo

REVIEW_CSV = "review.csv"

# (column of sql/review/review_queue.sql or None for the columns the reviewer fills, zh, en)
COLUMNS = (
    ("order_id", "订单编号", "order_id"),
    ("shop", "店铺", "shop"),
    ("buyer", "买家", "buyer"),
    ("kind", "类型", "kind"),
    ("rules", "规则", "rules"),
    ("evidence", "证据", "evidence"),
    ("lines", "商品明细", "lines"),
    ("affected_amount", "涉及金额", "affected_amount"),
    ("missing_qty", "缺件数量", "missing_qty"),
    (None, "判定", "decision"),
    (None, "备注", "note"),
    (None, "判定人", "decided_by"),
    (None, "判定时间", "decided_at"),
)

# the flag kinds as a person reads them (Chinese files)
KIND_ZH = {"short": "少件/漏发", "wrong": "错发", "empty": "空包裹", "not_received": "未收到货", "unshipped": "未发货/缺货"}


def headings(lang: str = "zh") -> list[str]:
    """The header of review.csv: the names the decisions loader maps."""
    return [zh if lang == "zh" else en for _, zh, en in COLUMNS]


def reject_unflagged_decisions(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    """Move the decisions whose order this run does not flag (temp table fl_kinds, built by
    pipeline.flag.build_signals) to `rejects`, keeping each load's counts balanced. Runs
    inside the caller's transaction. Returns how many were moved."""
    find_decision_rejects(con, as_of)
    return apply_decision_rejects(con)


def find_decision_rejects(con: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    """The decisions to reject, as the temp table _decision_rejects (read while detection sees
    the orders it recomputes only: pipeline/incremental.py)."""
    sql = db.model_sql("review/decision_rejects.sql")
    con.execute(f"create or replace temp table _decision_rejects as {sql}", {"as_of": as_of})


def apply_decision_rejects(con: duckdb.DuckDBPyConnection) -> int:
    """Move the decisions of _decision_rejects to `rejects` (see reject_unflagged_decisions)."""
    try:
        n = con.execute("select count(*) from _decision_rejects").fetchone()[0]
        if not n:
            return 0
        con.execute(
            "insert into rejects (load_id, source_file, line, reason) "
            "select load_id, source_file, line, reason from _decision_rejects"
        )
        con.execute("delete from decisions where order_id in (select order_id from _decision_rejects)")
        con.execute(
            """update load_manifest set loaded = load_manifest.loaded - x.n, rejected = load_manifest.rejected + x.n
               from (select load_id, count(*) as n from _decision_rejects group by load_id) x
               where load_manifest.load_id = x.load_id"""
        )
        return n
    finally:
        con.execute("drop table if exists _decision_rejects")


def _cell(name: str, value, lang: str) -> str:
    if value is None:
        return ""
    if name == "order_id":
        return f'="{value}"'
    if name == "kind" and lang == "zh":
        return KIND_ZH.get(value, value)
    return str(value)


def write_review_csv(rows: Iterable[dict], path: Path, lang: str = "zh") -> int:
    """review.csv from the review queue's rows (sql/review/review_queue.sql, in its order);
    returns the number of orders listed."""
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(headings(lang))
        for values in rows:
            w.writerow([_cell(c, values[c], lang) if c else "" for c, _, _ in COLUMNS])
            n += 1
    return n


def _queue_rows(queue) -> Iterator[dict]:
    """The rows of the review queue (pipeline/setdata.py SetTable), a batch at a time."""
    if queue is None:
        return
    yield from queue.iter_rows()


def stage_review_csv(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of review.csv (in the run's language), from the set's review queue."""
    n = write_review_csv(_queue_rows(data.review), stage.path(REVIEW_CSV), info.lang)
    stage.add(REVIEW_CSV, rows=n)
