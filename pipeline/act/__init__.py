"""Acting on what is found (SPEC section 6): the files each person needs to act.

| file                        | for                | grain                                          |
|-----------------------------|--------------------|------------------------------------------------|
| reship.csv                  | warehouse / ERP    | one row per order × SKU still to send          |
| courier_claims.csv          | whoever claims     | one row per order to claim from a courier      |
| root_causes.parquet         | BI, the report     | one row per dimension × value (SKU, shop, ...) |
| evidence/NN/<order_id>.html | 小二介入 (disputes) | one page per disputed, courier or decided order |

`stage_act` and `stage_evidence` are the writers of these files in an output set
(pipeline/export.py declares the set). It is handed the set's rows (pipeline/setdata.py `SetData`: computed once, also shown by
the report and the workbook) and writes them; the evidence pages are pipeline/act/evidence.py.

The CSV files are for people and for import: UTF-8 with a BOM (Excel opens it as UTF-8),
comma separated, headings in the run's language (`--lang`, Chinese by default; English gives
the canonical names), code values labelled in Chinese (English: the codes), money with two places, times
`YYYY-MM-DD HH:MM:SS` China time, ids as plain digits.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Sequence

import duckdb

from pipeline.clock import fmt
from pipeline.errors import ShortshipError
from pipeline.locale import Messages, messages
from pipeline.publish import Stage
from pipeline.setdata import EVIDENCE_DIR, SetData, SetInfo  # noqa: F401 - EVIDENCE_DIR: the pages' folder

# the columns of each people's CSV, in order (canonical names; headings from the catalogue)
RESHIP_COLUMNS = ["order_id", "shop", "buyer", "sku", "title", "attributes", "quantity", "deadline", "hours_left",
                  "penalty_avoided_yuan", "status", "kind", "basis", "line_id", "line_no"]
CLAIM_COLUMNS = ["carrier", "month", "order_id", "shop", "basis", "status", "kind", "tracking_nos", "shipped_at",
                 "goods_value_yuan", "freight_yuan", "freight_source", "claim_rule", "claim_yuan", "weight_kg",
                 "expected_kg"]
# code columns and the catalogue context of their values
CODE_FIELDS = {"status": "status", "kind": "kind", "basis": None, "freight_source": "freight_source",
               "claim_rule": "claim_rule", "responsibility": "responsibility", "payout_form": "payout_form",
               "reason": "payout_reason", "decision": "decision", "dimension": "dimension"}
# the files of a run's output set written here (besides evidence/NN/<order_id>.html)
FILES = ("reship.csv", "courier_claims.csv", "root_causes.parquet")


def cell(value: Any, column: str, m: Messages) -> str:
    """A value as a CSV cell for people: labelled codes, plain money, full times."""
    if value is None:
        return ""
    ctx = CODE_FIELDS.get(column, "")
    if column == "basis":
        ctx = "reship_basis" if value in ("shipments", "flag_line", "single_line", "whole_order", "undetermined") \
            else "claim_basis"
    if ctx:
        return m.cell(ctx, value)
    if isinstance(value, datetime):
        return fmt(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join("" if v is None else str(v) for v in value)
    return str(value)


def people_csv(columns: Sequence[str], rows: Iterable[dict], lang: str) -> tuple[bytes, int]:
    """A CSV for people (see the module doc) as bytes: UTF-8 with BOM, headings in `lang`;
    and its number of rows."""
    m = messages(lang)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([m.heading(c) for c in columns])
    cells = [_column_cell(c, m) for c in columns]
    pairs = list(zip(columns, cells))
    n = 0
    for r in rows:
        w.writerow([f(r.get(c)) for c, f in pairs])
        n += 1
    return buf.getvalue().encode("utf-8-sig"), n


def _column_cell(column: str, m: Messages):
    """`cell` for one column, as a function of the value: a code column's labels are looked up
    once per value (a file of many rows has a handful of codes)."""
    if column not in CODE_FIELDS:
        def plain(value: Any) -> str:
            if value is None:
                return ""
            if value.__class__ is str:
                return value
            return cell(value, column, m)
        return plain
    labels: dict[Any, str] = {}

    def code(value: Any) -> str:
        try:
            got = labels.get(value)
        except TypeError:  # an unhashable value: as `cell` says it
            return cell(value, column, m)
        if got is None:
            got = labels[value] = cell(value, column, m)
        return got
    return code


def stage_root_causes(con: duckdb.DuckDBPyConnection, stage: Stage, data: SetData) -> None:
    """root_causes.parquet from the set's rows (DuckDB's COPY, as the other Parquet files)."""
    rel = "root_causes.parquet"
    target = str(stage.path(rel)).replace("'", "''")
    from pipeline import db

    try:
        with db.optimizer(con):  # the same bytes whatever the run's size (db.optimizer)
            con.execute(f"COPY (select * from {data.root_causes.name}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    except duckdb.Error as e:
        raise ShortshipError(f"{rel}: cannot write ({db._first_line(e)})") from None
    stage.add(rel, rows=data.root_causes.num_rows)


def stage_act(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of reship.csv, courier_claims.csv and root_causes.parquet."""
    for name, columns, rows in (("reship.csv", RESHIP_COLUMNS, data.reship),
                                ("courier_claims.csv", CLAIM_COLUMNS, data.claims)):
        content, n = people_csv(columns, rows, info.lang)
        stage.write_bytes(name, content, rows=n)
    stage_root_causes(con, stage, data)


def stage_evidence(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of evidence/ (pipeline/act/evidence.py); it needs `data.evidence` alone."""
    from pipeline.act import evidence

    evidence.stage_pages(con, stage, info, data.evidence)
