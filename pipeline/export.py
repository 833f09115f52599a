"""Parquet outputs (SPEC section 6), written with DuckDB's COPY, never through pandas.

| file                | grain                               |
|---------------------|-------------------------------------|
| flags.parquet       | one row per flagged order           |
| liabilities.parquet | one row per flagged order           |
| payouts.parquet     | one row per ledger line of the run  |
| summary.parquet     | one row per shop × day              |
| rejects.parquet     | one row per rejected input row      |

Money is DECIMAL(18,2), points BIGINT, order_id VARCHAR. The leading columns of each file are
the contract; any further columns of the underlying table follow them.

Writing is atomic per file: `stage_outputs` writes into a hidden staging folder inside the output
folder (same file system), `publish` moves each file over its old copy with os.replace. A process
killed before `publish` leaves the previous outputs whole.
"""
from __future__ import annotations

import os
import shutil
import secrets
from pathlib import Path
from typing import Callable, Iterable

import duckdb

from pipeline import db
from pipeline.errors import ShortshipError

PARQUET_FILES = ("flags.parquet", "liabilities.parquet", "payouts.parquet", "summary.parquet", "rejects.parquet")
STAGING_PREFIX = ".shortship-staging-"

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


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = ? and table_schema = 'main' order by ordinal_position",
            [table],
        ).fetchall()
    ]


def _money_or_keep(name: str, dtype: str) -> str:
    """Trailing columns keep their type, except that any decimal is made DECIMAL(18,2)."""
    if dtype.upper().startswith("DECIMAL") and dtype.upper().replace(" ", "") != "DECIMAL(18,2)":
        return f"{name}::decimal(18, 2) as {name}"
    return name


def _select(con, table: str, leading: list[tuple[str, str]], where: str = "", order: str = "") -> str:
    """`select` of the leading columns (cast to the contract types) then the other columns."""
    have = _table_columns(con, table)
    names = {n for n, _ in have}
    missing = [n for n, _ in leading if n not in names]
    if missing:
        raise ShortshipError(f"table {table} lacks column(s) {', '.join(missing)}; is the database from an older version?")
    lead = [n for n, _ in leading]
    cols = [f"{n}::{t} as {n}" for n, t in leading]
    cols += [_money_or_keep(n, t) for n, t in have if n not in lead]
    return f"select {', '.join(cols)} from {table}" + (f" where {where}" if where else "") + (f" order by {order}" if order else "")


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path, params: dict | None = None) -> None:
    target = str(path).replace("'", "''")
    con.execute(
        f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)",
        params or {},
    )


def output_queries(con: duckdb.DuckDBPyConnection, run_id: str | None) -> dict[str, tuple[str, dict]]:
    """file name -> (query, parameters) for every Parquet output."""
    return {
        "flags.parquet": (_select(con, "flags", FLAG_COLUMNS, order="order_id"), {}),
        "liabilities.parquet": (_select(con, "liabilities", LIABILITY_COLUMNS, order="order_id"), {}),
        "payouts.parquet": (
            _select(con, "payouts", PAYOUT_COLUMNS, where="run_id = $run_id", order="payout_id"),
            {"run_id": run_id},
        ),
        "summary.parquet": (db.model_sql("outputs/summary.sql"), {}),
        "rejects.parquet": (
            _select(con, "rejects", REJECT_COLUMNS, order="load_id, line nulls last, reason"),
            {},
        ),
    }


def latest_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("select run_id from runs order by started_at desc, run_id desc limit 1").fetchone()
    return row[0] if row else None


# --- staging and publishing -------------------------------------------------------------

def new_staging_dir(out_dir: Path, tag: str | None = None) -> Path:
    """A fresh hidden folder inside `out_dir` (same file system, so os.replace is atomic)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out_dir)
    tag = tag or secrets.token_hex(4)
    d = out_dir / f"{STAGING_PREFIX}{os.getpid()}-{tag}"
    d.mkdir()
    return d


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(out_dir: Path) -> None:
    """Remove staging folders left by killed runs (their process is gone)."""
    if not out_dir.is_dir():
        return
    for d in out_dir.glob(STAGING_PREFIX + "*"):
        try:
            pid = int(d.name[len(STAGING_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def stage_outputs(
    con: duckdb.DuckDBPyConnection,
    staging: Path,
    run_id: str | None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write every Parquet output into `staging`. Returns the staged paths."""
    staged = []
    for name, (query, params) in output_queries(con, run_id).items():
        if progress:
            progress(f"writing {name}")
        path = staging / name
        try:
            _copy(con, query, path, params)
        except duckdb.Error as e:
            raise ShortshipError(f"{name}: cannot write ({db._first_line(e)})") from None
        staged.append(path)
    return staged


def publish(staged: Iterable[Path], out_dir: Path) -> list[Path]:
    """Move each staged file over its old copy in `out_dir` (atomic per file)."""
    out = []
    for p in staged:
        target = out_dir / p.name
        try:
            os.replace(p, target)
        except OSError as e:
            raise ShortshipError(f"{target}: cannot write ({e.strerror})") from None
        out.append(target)
    return out


def remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def export_outputs(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | Path,
    run_id: str | None = None,
    xlsx: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the Parquet outputs (and liabilities.xlsx when asked) into `out_dir`, atomically
    per file. `run_id` selects the ledger lines of payouts.parquet (default: the latest run)."""
    out_dir = Path(out_dir)
    if run_id is None:
        run_id = latest_run_id(con)
    staging = new_staging_dir(out_dir)
    try:
        staged = stage_outputs(con, staging, run_id, progress)
        if xlsx:
            staged.append(stage_xlsx(con, staging, run_id))
        return publish(staged, out_dir)
    finally:
        remove_staging(staging)


def stage_xlsx(con: duckdb.DuckDBPyConnection, staging: Path, run_id: str | None) -> Path:
    """liabilities.xlsx for finance, written by pipeline/export_xlsx.py."""
    try:
        from pipeline.export_xlsx import write_liabilities_xlsx
    except ImportError:
        raise ShortshipError("--xlsx: the xlsx writer (pipeline/export_xlsx.py) is not available") from None
    path = staging / "liabilities.xlsx"
    write_liabilities_xlsx(con, path, run_id=run_id)
    return path
