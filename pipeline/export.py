"""The output set of a run (SPEC section 6), written with DuckDB's COPY, never through pandas.

| file                       | grain                                                   |
|----------------------------|---------------------------------------------------------|
| flags.parquet              | one row per flagged order                               |
| liabilities.parquet        | one row per flagged order                               |
| payouts.parquet            | one row per ledger line this set publishes              |
| payouts/<batch>.parquet    | the same, kept for every batch ever published           |
| summary.parquet            | one row per shop × day                                  |
| rejects.parquet            | one row per rejected input row                          |
| report.html, liabilities.xlsx (with --xlsx), and what `output_writers` lists besides      |
| manifest.json              | the set: run, batch, as-of, policy, every file's rows and sha256 |

Money is DECIMAL(18,2), points BIGINT, order_id VARCHAR. The leading columns of each file are
the contract; any further columns of the underlying table follow them.

The ledger is an outbox (SPEC section 5): a ledger line is committed first (by the run's
transaction), then published in a payouts file, then marked as published in
`payout_publications` (`mark_published`). Every set publishes every line not yet marked, so a
line committed by a run that died before its outputs were published goes out with the next
set; a line is published twice only when a run dies between the rename and the mark
(payout systems deduplicate on `payout_id`).

Writing is atomic per file: the writers write into a hidden staging folder inside the output
folder (same file system), `publish` moves each file over its old copy with os.replace,
removes the files of the previous set that this one lacks, and writes manifest.json last. A
process killed before `publish` leaves the previous outputs whole.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable

import duckdb

from pipeline import db, interrupts, outcome
from pipeline.errors import ShortshipError
from pipeline.load import sha256_of
from pipeline.review import stage_review_csv

PARQUET_FILES = ("flags.parquet", "liabilities.parquet", "payouts.parquet", "summary.parquet", "rejects.parquet")
STAGING_PREFIX = ".shortship-staging-"
MANIFEST = "manifest.json"
BATCH_DIR = "payouts"  # payouts/<batch>.parquet: every published batch, never overwritten or removed
# what versions before manifest.json wrote: removed when a new set lacks them
LEGACY_OUTPUTS = PARQUET_FILES + ("report.html", "liabilities.xlsx")

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


def output_queries(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, dict]]:
    """file name -> (query, parameters) for the Parquet outputs that describe the database
    (payouts.parquet is the published batch: see `stage_payouts`)."""
    return {
        "flags.parquet": (_select(con, "flags", FLAG_COLUMNS, order="order_id"), {}),
        "liabilities.parquet": (_select(con, "liabilities", LIABILITY_COLUMNS, order="order_id"), {}),
        "summary.parquet": (db.model_sql("outputs/summary.sql"), {}),
        "rejects.parquet": (
            _select(con, "rejects", REJECT_COLUMNS, order="load_id, line nulls last, reason"),
            {},
        ),
    }


def latest_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("select run_id from runs order by started_at desc, run_id desc limit 1").fetchone()
    return row[0] if row else None


# --- the output set of a run: staged, published, recorded in manifest.json -------------------

@dataclass(frozen=True)
class OutputContext:
    """What the writers of one output set need to know besides the database."""
    run_id: str | None          # the run the outputs describe (report, payouts' run)
    batch_id: str               # the payout batch this set publishes (payouts/<batch_id>.parquet)
    as_of: datetime | None = None
    policy_id: str | None = None
    lang: str = "zh"            # people's files: zh (default) or en
    xlsx: bool = False          # also liabilities.xlsx
    policy: object = None       # the run's Policy (courier claims, evidence pages); None: found by policy_id


# A writer writes its files into the staging folder (sub-folders allowed, e.g. evidence/) and
# returns their paths. Every file a writer returns is part of the run's output set.
Writer = Callable[[duckdb.DuckDBPyConnection, Path, OutputContext], list[Path]]


def stage_parquet(con: duckdb.DuckDBPyConnection, staging: Path, ctx: OutputContext) -> list[Path]:
    """flags, liabilities, summary and rejects as Parquet."""
    staged = []
    for name, (query, params) in output_queries(con).items():
        path = staging / name
        try:
            _copy(con, query, path, params)
        except duckdb.Error as e:
            raise ShortshipError(f"{name}: cannot write ({db._first_line(e)})") from None
        staged.append(path)
    return staged


PENDING_PAYOUTS = """
    select * from payouts p
    where not exists (select 1 from payout_publications q where q.payout_id = p.payout_id)
"""


def pending_payouts_select(con: duckdb.DuckDBPyConnection) -> str:
    """The SELECT of the ledger lines not yet published (the temp table `_pending`, made from
    PENDING_PAYOUTS), with the columns and types of payouts.parquet, in payout_id order."""
    return _select(con, "_pending", PAYOUT_COLUMNS, order="payout_id")


def stage_payouts(con: duckdb.DuckDBPyConnection, staging: Path, ctx: OutputContext) -> list[Path]:
    """The outbox: every ledger line not yet published, this run's and any an interrupted run
    left behind, as payouts.parquet and (when there is any) payouts/<batch>.parquet."""
    con.execute(f"create or replace temp table _pending as {PENDING_PAYOUTS}")
    try:
        path = staging / "payouts.parquet"
        _copy(con, pending_payouts_select(con), path)
        staged = [path]
        if con.execute("select count(*) from _pending").fetchone()[0]:
            batch = staging / BATCH_DIR / f"{ctx.batch_id}.parquet"
            batch.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, batch)
            staged.append(batch)
    finally:
        con.execute("drop table if exists _pending")
    return staged


def stage_report(con: duckdb.DuckDBPyConnection, staging: Path, ctx: OutputContext) -> list[Path]:
    from pipeline.report import stage_report as write

    return write(con, staging, ctx)


def stage_xlsx(con: duckdb.DuckDBPyConnection, staging: Path, ctx: OutputContext) -> list[Path]:
    """liabilities.xlsx for finance, written by pipeline/export_xlsx.py."""
    if not ctx.xlsx:
        return []
    from pipeline.export_xlsx import write_liabilities_xlsx

    path = staging / "liabilities.xlsx"
    write_liabilities_xlsx(con, path, run_id=ctx.run_id, lang=ctx.lang, ctx=ctx)
    return [path]


def stage_act(con: duckdb.DuckDBPyConnection, staging: Path, ctx: OutputContext) -> list[Path]:
    from pipeline.act import stage_act as write

    return write(con, staging, ctx)


def output_writers() -> list[tuple[str, Writer]]:
    """Every writer of a run's output set, in order (name, writer). Add new outputs here."""
    return [
        ("Parquet files", stage_parquet),
        ("payouts.parquet", stage_payouts),
        ("reship.csv, courier_claims.csv, root_causes.parquet, evidence/", stage_act),
        ("liabilities.xlsx", stage_xlsx),
        ("review.csv", stage_review_csv),
        ("report.html", stage_report),
    ]


def stage_outputs(
    con: duckdb.DuckDBPyConnection,
    staging: Path,
    ctx: OutputContext,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the whole output set into `staging`. Returns the staged paths."""
    staged: list[Path] = []
    for name, writer in output_writers():
        if progress:
            progress(f"writing {name}")
        staged.extend(writer(con, staging, ctx))
    return staged


def latest_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("select run_id from runs order by started_at desc, run_id desc limit 1").fetchone()
    return row[0] if row else None


def new_batch_id() -> str:
    """A batch id for a publication that is not a run's (`shortship export`)."""
    from pipeline.clock import china_now

    return f"export-{china_now():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


# --- staging and publishing -------------------------------------------------------------

def new_staging_dir(out_dir: Path, tag: str | None = None) -> Path:
    """A fresh hidden folder inside `out_dir` (same file system, so os.replace is atomic)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        clean_stale_staging(out_dir)
        tag = tag or secrets.token_hex(4)
        d = out_dir / f"{STAGING_PREFIX}{os.getpid()}-{tag}"
        d.mkdir()
    except FileExistsError:
        raise ShortshipError(f"{out_dir}: --out is a file, not a folder") from None
    except NotADirectoryError:
        raise ShortshipError(f"{out_dir}: --out is not a folder (a part of the path is a file)") from None
    except OSError as e:
        raise ShortshipError(f"{out_dir}: cannot write the outputs there ({e.strerror})") from None
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


def _rows(path: Path) -> int | None:
    """Rows of a table-like output: Parquet from its footer, CSV its records; else None."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix == ".csv":
        import csv

        with open(path, encoding="utf-8-sig", newline="") as f:
            return max(sum(1 for _ in csv.reader(f)) - 1, 0)
    return None


def _previous_files(out_dir: Path) -> set[str]:
    """The files the previous output set in `out_dir` listed (relative paths); without a
    manifest (outputs of an older version), the names shortship has always written."""
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        return {f["path"] for f in data.get("files", []) if isinstance(f, dict) and "path" in f}
    except FileNotFoundError:
        return set(LEGACY_OUTPUTS)
    except (OSError, ValueError, TypeError, AttributeError):
        return set(LEGACY_OUTPUTS)


def publish(staging: Path, out_dir: Path, ctx: OutputContext) -> list[Path]:
    """Publish the output set staged in `staging`: each file moved over its old copy (atomic
    per file), files of the previous set that this set lacks removed (the payout batches under
    payouts/ are kept forever), and manifest.json written last. Returns the published paths."""
    staged = sorted(p for p in staging.rglob("*") if p.is_file())
    entries = [
        {"path": p.relative_to(staging).as_posix(), "rows": _rows(p), "bytes": p.stat().st_size,
         "sha256": sha256_of(p)}
        for p in staged
    ]
    previous = _previous_files(out_dir)
    out = []
    for p, entry in zip(staged, entries):
        target = out_dir / entry["path"]
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
        except OSError as e:
            raise ShortshipError(f"{target}: cannot write ({e.strerror})") from None
        out.append(target)
    current = {e["path"] for e in entries}
    for rel in sorted(previous - current):
        if rel.startswith(BATCH_DIR + "/") or rel == MANIFEST or ".." in Path(rel).parts:
            continue
        stale = out_dir / rel
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ShortshipError(f"{stale}: cannot remove an earlier run's output ({e.strerror})") from None
        if stale.parent != out_dir:
            try:
                stale.parent.rmdir()  # only when empty
            except OSError:
                pass
    manifest = {
        "run_id": ctx.run_id,
        "batch_id": ctx.batch_id,
        "as_of": ctx.as_of.isoformat(sep=" ") if ctx.as_of else None,
        "policy": ctx.policy_id,
        "lang": ctx.lang,
        "files": entries,
    }
    tmp = staging / MANIFEST
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    try:
        os.replace(tmp, out_dir / MANIFEST)
    except OSError as e:
        raise ShortshipError(f"{out_dir / MANIFEST}: cannot write ({e.strerror})") from None
    out.append(out_dir / MANIFEST)
    return out


def publish_one(staged: Path, out_dir: Path) -> Path:
    """Move one staged file over its copy in `out_dir` (a step run alone, e.g. `shortship
    report`); the output set and its manifest are left as they are."""
    target = out_dir / staged.name
    try:
        os.replace(staged, target)
    except OSError as e:
        raise ShortshipError(f"{target}: cannot write ({e.strerror})") from None
    return target


def published_payouts(out_dir: Path) -> tuple[list[int], Decimal]:
    """The payout ids the published payouts.parquet holds (what `mark_published` records) and
    their yuan: read back from the file the payout system will read, not recomputed."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(out_dir / "payouts.parquet", columns=["payout_id", "yuan"])
    total = pc.sum(t.column("yuan")).as_py() if t.num_rows else None
    return [int(x) for x in t.column("payout_id").to_pylist()], (total if total is not None else Decimal("0.00"))


def mark_published(con: duckdb.DuckDBPyConnection, batch_id: str, payout_ids: list[int]) -> None:
    """Record that the ledger lines `payout_ids` were published in batch `batch_id` (one
    transaction; insert-only: the ledger itself is never updated)."""
    if not payout_ids:
        return
    from pipeline.clock import china_now

    with db.transaction(con):  # one statement: the ids travel as one list parameter
        con.execute(
            "insert into payout_publications (batch_id, payout_id, published_at) "
            "select $batch, unnest($ids::bigint[]), $at",
            {"batch": batch_id, "ids": payout_ids, "at": china_now()},
        )


def remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def export_outputs(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | Path,
    xlsx: bool = False,
    progress: Callable[[str], None] | None = None,
    lang: str = "zh",
) -> list[Path]:
    """Write the output set from what the database holds into `out_dir` and publish the ledger
    lines not yet published (`shortship export`). The report and the manifest describe the
    latest run. Needs a read-write connection (the publication is recorded)."""
    out_dir = Path(out_dir)
    run_id = latest_run_id(con)
    run = con.execute("select as_of, policy_id from runs where run_id = ?", [run_id]).fetchone() if run_id else None
    ctx = OutputContext(run_id=run_id, batch_id=new_batch_id(), as_of=run[0] if run else None,
                        policy_id=run[1] if run else None, lang=lang, xlsx=xlsx)
    outcome.reset()
    staging = new_staging_dir(out_dir, ctx.batch_id)
    try:
        stage_outputs(con, staging, ctx, progress)
        # from the publication to the mark, a Ctrl-C waits (as in `shortship run`), and what was
        # published is recorded for the message that follows it (pipeline/outcome.py)
        with interrupts.deferred():
            written = publish(staging, out_dir, ctx)
            ids, yuan = published_payouts(out_dir)
            outcome.published(len(ids), yuan)
            mark_published(con, ctx.batch_id, ids)
            outcome.marked()
    finally:
        remove_staging(staging)
    return written
