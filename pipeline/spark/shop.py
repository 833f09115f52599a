"""One shop's run, as a Spark task performs it: the single-machine library on the shop's rows.

Nothing here imports Spark. `run_shop` takes what the task was handed for one shop (the bytes of
its export files, its database as the previous run left it, the lines its ledger already
holds) and returns Arrow tables and the database after the run:

1. the export files are written into a temporary shop folder (same relative paths, same names,
   so that the export time read from a file name and the file order are the single machine's;
   the modification time is restored too), and the shop's database (a DuckDB file: the typed
   tables, load_manifest, rejects, runs, exactly what `shortship run --db` keeps) beside them;
2. `payouts` is made to hold the shop's ledger lines as the ledger dataset has them, each
   marked published in its batch (the ledger dataset is the payout system's outbox), and the
   payout id sequence continues after them; the ledger's clock is checked;
3. the library runs the database work of `shortship run` (`pipeline.run.run_steps`, in one
   transaction): the ledger's clock, `load_paths` (the same header aliases, value rules and
   rejects; a file already loaded by an earlier run is skipped by its SHA-256, as on one
   machine), `flag_orders` (sql/signals, sql/flags), `compute_liabilities` and `append_ledger`
   (sql/liabilities: new / top_up / reversal against every earlier line);
   The files are named where they lie (`shop_uri/<path>`; a local folder by its path), not by
   the task's temporary copy (load.relabel_sources, before anything quotes them);
4. the outputs are read with the single-machine output queries (`export.output_queries`: the
   same columns, types and order as flags.parquet, liabilities.parquet, payouts.parquet,
   summary.parquet and rejects.parquet), and shaped for a dataset partitioned by shop: the
   export's own `shop` column (店铺名称) is renamed `shop_name` in place, `shop` becomes the
   shop folder's name (the partition key). The shop's row of the overview across shops
   (sql/outputs/overview.sql, the shop folder's name as its shop) comes with them;
5. the people's files (`export.write_people_files`: review.csv, reship.csv,
   courier_claims.csv, root_causes.parquet, report.html, the evidence pages) are written into a
   temporary folder holding the shop's previous manifest.json (with an empty stand-in for each
   file it lists, so that what did not change is neither rendered nor written, and an evidence
   page keeps the clock at which its facts last changed, exactly as in the shop's own output
   folder on one machine); what comes back is the files that changed, the files to remove and
   the new manifest (`PeopleFiles`), for the driver to publish under `people/<shop>/`.

No rule lives in this module: a change in sql/ or in the library reaches Spark unchanged.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import db, export
from pipeline.errors import ShortshipError
from pipeline.report.overview import overview_rows
from pipeline.policy import FLAG_KINDS, Policy
from pipeline.publish import MANIFEST, Previous

# output dataset -> the single-machine file whose query builds it
OUTPUTS = {
    "flags": "flags.parquet",
    "liabilities": "liabilities.parquet",
    "summary": "summary.parquet",
    "rejects": "rejects.parquet",
    "ledger": "payouts.parquet",
}
OVERVIEW = "overview"  # the shop's row of sql/outputs/overview.sql (a dataset of its own)
ZERO = Decimal("0.00")


@dataclass
class PeopleFiles:
    """What a shop's people's files need published: the files whose bytes changed (relative
    path, bytes), the paths of the previous set to remove, and the new manifest.json."""

    files: list[tuple[str, bytes]]
    stale: list[str]
    manifest: bytes


@dataclass
class ShopStats:
    """What one shop's run did, for the run's printed summary (built from the output tables)."""

    shop: str
    files_loaded: int = 0
    files_skipped: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    orders: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    owed_orders: int = 0
    owed_yuan: Decimal = ZERO
    owed_points: int = 0
    total_yuan: Decimal = ZERO
    curable_orders: int = 0
    curable_at_risk_yuan: Decimal = ZERO
    nearest_deadline: datetime | None = None
    payout_lines: int = 0
    payout_yuan: Decimal = ZERO
    payout_points: int = 0
    rejects: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # output dataset -> rows this shop wrote
    people_written: int = 0  # people's files written (new or changed) and removed
    people_removed: int = 0
    seconds: float = 0.0
    peak_rss: int = 0  # bytes: the peak memory of the process that ran the shop (so far)
    error: str | None = None


def connect(path: str | Path, threads: int | None = None) -> Any:
    """The shop's database in the task's temporary folder (a file, so that DuckDB can evict to
    disk under its memory limit rather than fail), with `threads` DuckDB threads (the task's cores)."""
    con = db.connect(path, wait=0)
    if threads:
        con.execute("set threads = ?", [int(threads)])
    return con


def seed_ledger(con, earlier: pa.Table | None) -> int:
    """Make `payouts` hold exactly the shop's earlier ledger lines (those of the ledger dataset:
    the database's own copy may lag behind it), each marked published in its batch, and move
    the payout id sequence past them, so that `append_ledger` computes its differences against
    all of them and numbers its lines as the shop's own database would, and the lines still
    to publish are this run's. Returns the number of lines."""
    con.execute("delete from payout_publications")
    con.execute("delete from payouts")
    top = 0
    if earlier is not None and earlier.num_rows:
        have = {r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_name = 'payouts' and table_schema = 'main'"
        ).fetchall()}
        cols = [c for c in earlier.column_names if c in have]
        with db.registered(con, "_earlier_ledger", earlier):
            con.execute(f"insert into payouts by name select {', '.join(cols)} from _earlier_ledger")
            con.execute("insert into payout_publications (batch_id, payout_id, published_at) "
                        "select batch, payout_id, created_at from _earlier_ledger")
        top = con.execute("select coalesce(max(payout_id), 0) from payouts").fetchone()[0]
    con.execute("drop sequence if exists payout_seq")
    con.execute(f"create sequence payout_seq start {int(top) + 1}")
    return 0 if earlier is None else earlier.num_rows


def output_tables(con, shop: str, lang: str = "zh") -> dict[str, pa.Table]:
    """Every output of the shop's run as Arrow, with the single-machine columns (see the module
    doc); the ledger's are this run's lines (those not yet published, as payouts.parquet); the
    overview's is the shop's row, the shop folder's name as its shop."""
    queries = export.output_queries(con, lang)
    con.execute(f"create or replace temp table _pending as {export.PENDING_PAYOUTS}")
    queries["payouts.parquet"] = (export.pending_payouts_select(con), {})
    out = {}
    for name, file in OUTPUTS.items():
        query, params = queries[file]
        used = db.bound(query, params)
        t = con.sql(query, params=used).to_arrow_table() if used else con.sql(query).to_arrow_table()
        if "shop" in t.column_names:
            t = t.rename_columns(["shop_name" if c == "shop" else c for c in t.column_names])
        t = t.append_column("shop", pa.array([shop] * t.num_rows, pa.string()))
        out[name] = t
    con.execute("drop table _pending")
    out[OVERVIEW] = overview_rows(con, shop=shop)
    return out


def empty_outputs() -> dict[str, pa.Table]:
    """The output tables of a run over nothing: their schemas, for the Spark job."""
    con = db.connect(":memory:")
    try:
        return output_tables(con, "")
    finally:
        con.close()


def _sum(t: pa.Table, col: str, mask=None) -> Any:
    c = t.column(col)
    if mask is not None:
        c = c.filter(mask)
    v = pc.sum(c).as_py()
    return v if v is not None else (ZERO if pa.types.is_decimal(c.type) else 0)


def stats_of(shop: str, files: list, tables: dict[str, pa.Table]) -> ShopStats:
    """The shop's numbers for the printed summary, from its output tables and load results."""
    s = ShopStats(shop=shop)
    loaded = [f for f in files if f.status == "loaded"]
    s.files_loaded, s.files_skipped = len(loaded), len(files) - len(loaded)
    s.rows_in = sum(f.rows_in for f in loaded)
    s.rows_loaded = sum(f.loaded for f in loaded)
    s.rows_rejected = sum(f.rejected for f in loaded)
    s.orders = int(_sum(tables["summary"], "orders"))
    kinds = tables["flags"].column("kind").to_pylist()
    s.flagged = {k: kinds.count(k) for k in FLAG_KINDS if k in kinds}
    li = tables["liabilities"]
    owed = pc.equal(li.column("status"), "owed")
    curable = pc.equal(li.column("status"), "curable")
    s.owed_orders = int(pc.sum(owed).as_py() or 0)
    s.owed_yuan = _sum(li, "compensation_yuan", owed)
    s.owed_points = int(_sum(li, "points", owed))
    s.total_yuan = _sum(li, "total_yuan")
    s.curable_orders = int(pc.sum(curable).as_py() or 0)
    s.curable_at_risk_yuan = _sum(li, "at_risk_yuan", curable)
    if s.curable_orders:
        s.nearest_deadline = pc.min(li.column("deadline").filter(curable)).as_py()
    led = tables["ledger"]
    s.payout_lines = led.num_rows
    s.payout_yuan = _sum(led, "yuan")
    s.payout_points = int(_sum(led, "points"))
    s.rejects = tables["rejects"].num_rows
    s.rows = {name: t.num_rows for name, t in tables.items()}
    return s


def write_files(folder: Path, files: list[tuple[str, int | None, Any]]) -> dict[str, str]:
    """Write (relative path, modification time in ms or None, bytes or a buffer) under `folder`; returns
    {written path: relative path} for naming files back in messages and rejects."""
    names = {}
    for rel, mtime_ms, content in files:
        parts = PurePosixPath(rel).parts
        if not parts or any(p in ("", ".", "..") for p in parts):
            raise ShortshipError(f"{rel}: not a file path inside the shop folder")
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        if mtime_ms is not None:
            os.utime(target, (mtime_ms / 1000, mtime_ms / 1000))
        names[str(target)] = rel
    return names


STATE_CHUNK = 256 << 20  # the shop's database travels in pieces of this many bytes


def run_shop(
    shop: str,
    files: list[tuple[str, int | None, Any]],
    earlier: pa.Table | None,
    as_of: datetime,
    policy: Policy,
    run_id: str,
    created_at: datetime | None = None,
    state: list[Any] | None = None,
    shop_uri: str | None = None,
    threads: int | None = None,
    tmp_root: str | None = None,
    max_rejects: Any = None,
    lang: str = "zh",
    people_manifest: bytes | None = None,
    batch: str | None = None,
) -> tuple[dict[str, pa.Table] | None, ShopStats, list[bytes] | None, PeopleFiles | None]:
    """Run one shop. `files` are (path relative to the shop folder, mtime in ms, bytes),
    `earlier` the lines the shop's ledger holds, `state` the shop's database as the previous
    run left it (its pieces in order; None for a shop's first run), `max_rejects` how much of a
    file may be rejected (pipeline/load.py RejectLimit or its text; None: the default),
    `lang` the people's files' language, `people_manifest` the manifest.json of the shop's
    published people's files (None: none yet), `batch` the set's name (`written_by`).

    Returns the output tables, the shop's stats, its database after the run (in pieces) and
    its people's files to publish. On a ShortshipError (a file the user must fix) no tables,
    no database and no files, the error in the stats with its temporary paths named as
    `shop_uri/relative path`: the shop stays as it was."""
    from time import monotonic

    from pipeline.run import run_steps

    t0 = monotonic()
    shop_uri = shop_uri or shop
    with tempfile.TemporaryDirectory(prefix="shortship-spark-", dir=tmp_root) as tmp:
        folder = Path(tmp) / "shop"
        db_file = Path(tmp) / "shop.duckdb"
        shown = shown_name(shop_uri)
        try:
            write_files(folder, files)
            if state:
                with open(db_file, "wb") as f:
                    for piece in state:
                        f.write(piece)
            con = connect(db_file, threads)
            try:
                with db.transaction(con):
                    seed_ledger(con, earlier)
                    # the database work of `shortship run`, step for step (pipeline.run.run_steps)
                    loads = run_steps(con, [folder], as_of, policy, run_id, f"spark-run {shop}",
                                      max_rejects=max_rejects, sources=(str(folder), shown)).files
                tables = output_tables(con, shop, lang)
                people = people_files(con, Path(tmp) / "people", people_manifest, lang=lang, run_id=run_id,
                                      as_of=as_of, policy=policy, batch=batch or run_id)
            finally:
                con.close()
        except ShortshipError as e:
            msg = str(e).replace(str(folder), shop_uri)
            return None, ShopStats(shop=shop, error=msg, seconds=monotonic() - t0), None, None
        with open(db_file, "rb") as f:
            new_state = list(iter(lambda: f.read(STATE_CHUNK), b""))
    if created_at is not None and tables["ledger"].num_rows:
        # one creation time for the run's lines, whichever task attempt computed them
        led = tables["ledger"]
        i = led.column_names.index("created_at")
        tables["ledger"] = led.set_column(i, led.schema.field(i), pa.array([created_at] * led.num_rows, led.schema.field(i).type))
    stats = stats_of(shop, loads, tables)
    stats.people_written, stats.people_removed = len(people.files), len(people.stale)
    stats.seconds = monotonic() - t0
    stats.peak_rss = _peak_rss()
    return tables, stats, new_state, people


def shown_name(uri: str) -> str:
    """How a file of the shop folder `uri` is named in the shop's database and its people's
    files: a local folder (`file:/data/shops/a`) by its path (`/data/shops/a`), as `shortship
    run` names it; any other URI as it is."""
    return re.sub(r"^file:(//(?=/))?", "", uri)


def people_files(con, folder: Path, previous: bytes | None, *, lang: str, run_id: str, as_of: datetime,
                 policy: Policy, batch: str) -> PeopleFiles:
    """The shop's people's files (export.write_people_files, the writers of `shortship run`),
    published into `folder` against the `previous` manifest.json of the shop's people folder
    (see the module doc): the files that changed, the files to remove, the new manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    before: set[str] = set()
    if previous:
        (folder / MANIFEST).write_bytes(previous)
        for rel in Previous.read(folder).trusted:  # stand-ins: "published", content vouched for by the manifest
            target = folder.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
            before.add(rel)
    export.write_people_files(con, folder, lang=lang, run_id=run_id, as_of=as_of, policy=policy, batch_id=batch)
    manifest = (folder / MANIFEST).read_bytes()
    entries = json.loads(manifest)["files"]
    written = [e["path"] for e in entries if e.get("written_by") == batch]
    files = [(rel, folder.joinpath(*rel.split("/")).read_bytes()) for rel in written]
    return PeopleFiles(files=files, stale=sorted(before - {e["path"] for e in entries}), manifest=manifest)


def _peak_rss() -> int:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    except (ImportError, OSError):  # pragma: no cover - not on Linux
        return 0
