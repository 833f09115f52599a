"""Raw -> staging: load export files into DuckDB.

For each file: recognise its kind from the header, stream a numbered UTF-8 copy (records cut
by the rule of pipeline/io/records.py; records that break it are rejected there), let DuckDB
parse it into `_raw_batch` (all text, shaped like `raw_<kind>`; kept in `raw_<kind>` too when
`keep_raw`), type it with `sql/staging/<kind>.sql`, send rows that do not parse to `rejects`,
and merge the rest into the typed table so that the newest export of an order, line set,
refund, parcel row set or decision wins. A CSV source whose typed table holds no rows yet (a
first load; `_load_direct`) skips `_stage` and the merge: the staging model's typed rows go
straight into the table. Every file is recorded in `load_manifest`, and every
load checks its own counts before it may commit (`_check_counts`): rows_in (the records in the
file) = loaded + rejected + replaced + ignored, the rejects rows of the load = rejected, each
with its line.

All files given to one `load_paths` call are loaded in one transaction: a file that cannot be
loaded leaves the database as it was. So does a file that loses too much to rejects
(`RejectLimit`: by default more than 2 % of its rows and more than 10 rows, or more than 1,000
rows): a scheduled run never pays from a file it mostly failed to read. In a folder, files that are not exports (empty, header
only, unrecognised, unreadable) are skipped and reported; named on the command line they are
an error.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable

import duckdb

from pipeline import db, outcome, tmpspace
from pipeline.errors import ShortshipError
from pipeline.io.csvfile import CsvSource, numbered_parts, open_csv
from pipeline.io.errors import NotAnExport
from pipeline.io.headers import ALIASES, KINDS, normalize_header
from pipeline.io.records import MAX_LINE_BYTES, TOO_LONG

EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx"}

# how each typed table is keyed for replacement by a newer export
#   key: the columns that identify "the same thing seen again" (a newer file's rows for a key
#        replace all the rows of that key that older files gave)
#   dedupe: within one file, keep only the last record per key (False: every record is a row)
#   line_no: number each order's lines in export order (order_lines.line_no)
#   ignorable: the staging model marks rows that are not records to load (`ignored`)
MERGE = {
    "orders": {"table": "orders", "key": ["order_id"], "dedupe": True},
    "items": {"table": "order_lines", "key": ["order_id"], "dedupe": False, "line_no": True},
    "refunds": {"table": "refunds", "key": ["refund_id"], "dedupe": True},
    # a warehouse system writes a row per order line, and two lines of one order often share
    # one SKU: rows with the same order, tracking number, SKU and time in one file add up
    "shipments": {
        "table": "shipments",
        "key": ["order_id", "tracking_no", "sku", "shipped_at"],
        "dedupe": False,
    },
    "decisions": {"table": "decisions", "key": ["order_id"], "dedupe": True, "ignorable": True},
}

# How much a file may lose to rejects before its load stops (SPEC section 8). These numbers are
# about the quality of the input, not the platform's rules, so they are not in a policy file;
# they are the defaults of `--max-rejects` (load, run, spark-run), which changes them for a call.
REJECT_SHARE = Fraction(2, 100)  # a file stops when its rejects are more than this share of its rows
REJECT_FLOOR = 10                # ... and more than this many rows (a few bad rows in a small file load)
REJECT_ROWS = 1_000              # or, whatever the share, more than this many rows


@dataclass(frozen=True)
class RejectLimit:
    """How many rejected rows a file may have and still load.

    A file stops the load when its rejects are more than `share` of its rows (rows in) and more
    than `floor` rows, or more than `rows` rows; None switches that part off. As text (the
    `--max-rejects` option): a share `5%`, a count `2000`, both `5%,2000`, or `none`; the
    default is `2%,1000`. The text replaces the whole limit: `5%` alone has no count, `2000`
    alone no share. `floor` is always REJECT_FLOOR: a share never stops a file for ten rows or
    fewer (`0` stops it for one)."""

    share: Fraction | None = REJECT_SHARE
    rows: int | None = REJECT_ROWS
    floor: int = REJECT_FLOOR

    @classmethod
    def parse(cls, text: "str | RejectLimit | None") -> "RejectLimit":
        """A limit from its text (None: the default); a ShortshipError naming the option otherwise."""
        if text is None:
            return cls()
        if isinstance(text, RejectLimit):
            return text
        raw = str(text).strip().lower()
        bad = ShortshipError(
            f"--max-rejects {text!r}: expected a share (5%), a count of rows (2000), both (5%,2000) or none")
        if raw == "none":
            return cls(share=None, rows=None)
        share: Fraction | None = None
        rows: int | None = None
        parts = [p.strip() for p in raw.split(",")]
        if not 1 <= len(parts) <= 2:
            raise bad
        for part in parts:
            if part.endswith("%"):
                number = part[:-1].strip()
                if share is not None or not re.fullmatch(r"\d+(\.\d+)?", number):
                    raise bad
                try:
                    share = Fraction(Decimal(number)) / 100
                except (InvalidOperation, ValueError):
                    raise bad from None
                if share > 1:
                    raise bad
            elif re.fullmatch(r"\d+", part):
                if rows is not None:
                    raise bad
                rows = int(part)
            else:
                raise bad
        return cls(share=share, rows=rows)

    def exceeded(self, rows_in: int, rejected: int) -> bool:
        """Whether a file of `rows_in` rows with `rejected` of them rejected must stop the load."""
        if self.rows is not None and rejected > self.rows:
            return True
        return self.share is not None and rejected > self.floor and rejected > self.share * rows_in

    def __str__(self) -> str:
        if self.share is None and self.rows is None:
            return "none"
        parts = []
        if self.share is not None:
            percent = Decimal(self.share.numerator * 100) / Decimal(self.share.denominator)
            parts.append(f"{percent.normalize():f}%")
        if self.rows is not None:
            parts.append(str(self.rows))
        return ",".join(parts)


def _check_rejects(con, limit: RejectLimit, load_id: int, name: str, rows_in: int, rejected: int) -> None:
    """Stop the load (the transaction rolls back) when the file lost more than `limit` allows:
    one line naming the file, the count and the commonest reason."""
    if not limit.exceeded(rows_in, rejected):
        return
    # the reason without the value it quotes: "bad amount in paid_amount: 1,2,3 (...)" counts
    # as "bad amount in paid_amount"
    why, n = con.execute(
        "select split_part(reason, ': ', 1) as why, count(*) as n from rejects where load_id = ? "
        "group by why order by n desc, why limit 1", [load_id]
    ).fetchone()
    raise ShortshipError(
        f"{name}: {rejected:,} of {rows_in:,} rows rejected (commonest: {why}, {n:,}); "
        f"{outcome.NOTHING} — give --max-rejects to change the limit (now {limit})"
    )


_EXPORT_TIME = re.compile(r"(20\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?")


@dataclass
class FileResult:
    path: str
    kind: str
    status: str  # loaded; skipped (already loaded); not_export (found in a folder, not loaded)
    rows_in: int = 0
    loaded: int = 0
    rejected: int = 0
    replaced: int = 0
    superseded: int = 0  # rows of earlier loads this file replaced
    message: str = ""  # skipped: why; not_export: the reason (e.g. "the file is empty")
    sheet: str | None = None
    ignored: int = 0  # decisions: rows left undecided (no 判定), not loaded and not rejected

    def line(self) -> str:
        name = self.path + (f" [{self.sheet}]" if self.sheet else "")
        if self.status == "not_export":
            return f"{name}: skipped, not an export ({self.message})"
        if self.status == "skipped":
            return f"{name}: {self.kind}, {self.message}"
        s = (
            f"{name}: {self.kind}, {self.rows_in} rows in = {self.loaded} loaded"
            f" + {self.rejected} rejected + {self.replaced} replaced"
        )
        if self.ignored:
            s += f" + {self.ignored} ignored (no decision)"
        if self.superseded:
            s += f" ({self.superseded} older rows superseded)"
        return s


@dataclass(frozen=True)
class KnownSource:
    """A source of a file the load has read before (table export_files: same path, size,
    modification and change time, inode) and that load_manifest holds: it is skipped without
    opening the file."""

    kind: str
    sheet: str | None = None


def _stat_key(path: Path) -> tuple | None:
    """What identifies a file's bytes on disk without reading them (export_files)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _known_files(con) -> dict[tuple, tuple[str, list[tuple[str, str | None]]]]:
    """Files read before whose every source is loaded: stat key -> (sha256, sources)."""
    files: dict[tuple, tuple[str, list]] = {}
    for path, size, mtime, ctime, inode, sha, kind, sheet in con.execute(
        """select f.path, f.size_bytes, f.mtime_ns, f.ctime_ns, f.inode, f.sha256, f.kind, f.sheet
           from export_files f
           where not exists (select 1 from export_files g
                             where g.path = f.path and g.sha256 = f.sha256
                               and not exists (select 1 from load_manifest m
                                               where m.sha256 = g.sha256 and m.kind = g.kind
                                                 and m.sheet is not distinct from g.sheet))
           order by f.path, f.sheet nulls first"""
    ).fetchall():
        files.setdefault((path, size, mtime, ctime, inode), (sha, []))[1].append((kind, sheet))
    return files


def _done(value) -> Future:
    f: Future = Future()
    f.set_result(value)
    return f


def _remember_files(con, remember: list) -> None:
    """Record in export_files what each file read by this load holds (see KnownSource)."""
    rows = []
    for key, sources, sha_future in remember:
        sha = sha_future.result()
        rows += [[*key, sha, src.kind, src.sheet] for src in sources]
    if not rows:
        return
    con.execute("delete from export_files where path in (select unnest($paths))",
                {"paths": sorted({r[0] for r in rows})})
    con.executemany("insert into export_files values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


@dataclass
class Found:
    """A file to load: named on the command line (it must be an export) or found in a folder
    (skipped with a warning when it is not)."""

    path: Path
    named: bool


def find_exports(paths: Iterable[str | Path]) -> tuple[list[Found], list[FileResult]]:
    """Expand folders into the export files under them (sorted; hidden files and Excel lock
    files `~$...` aside); files are taken as given. Returns the files and the subfolders that
    could not be read (as not_export results). A path that does not exist is an error."""
    out: list[Found] = []
    unreadable: list[FileResult] = []
    empty_folders: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found: list[Path] = []

            def cannot(e: OSError) -> None:
                unreadable.append(FileResult(path=str(e.filename or p), kind="", status="not_export",
                                             message=f"cannot read the folder ({e.strerror or e})"))

            for top, dirs, files in os.walk(p, onerror=cannot):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    Path(top) / f for f in files
                    if Path(f).suffix.lower() in EXPORT_SUFFIXES and not f.startswith((".", "~$"))
                    and (Path(top) / f).is_file()
                )
            if not found:
                empty_folders.append(p)
            out.extend(Found(f, named=False) for f in sorted(found))
        elif p.is_file():
            out.append(Found(p, named=True))
        elif p.exists():
            raise ShortshipError(f"{p}: not a regular file")
        else:
            raise ShortshipError(f"{p}: no such file or folder")
    if not out:
        raise ShortshipError(
            f"{empty_folders[0] if empty_folders else 'no paths'}: no export files (.csv, .tsv, .txt, .xlsx) "
            f"in this folder" + (f" ({unreadable[0].path}: {unreadable[0].message})" if unreadable else "")
        )
    return out, unreadable


def export_time_of(path: Path) -> datetime:
    """The export's time: yyyyMMddHHmm[ss] in the file name, else the file's mtime."""
    m = _EXPORT_TIME.search(path.name)
    if m:
        y, mo, d, h, mi, s = m.groups()
        try:
            return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_source(path: Path, kind: str | None) -> list:
    """The sources in one file: a CSV is one, an xlsx workbook one per recognised sheet."""
    if path.suffix.lower() == ".xlsx":
        from pipeline.io import xlsx  # optional reader; see pipeline/io/xlsx.py

        return xlsx.open_workbook(path, kind)
    return [open_csv(path, kind)]


def ensure_raw_table(con: duckdb.DuckDBPyConnection, kind: str) -> None:
    """raw_<kind>: every canonical column of the alias table as text, plus extras."""
    cols = list(ALIASES[kind])
    con.execute(
        f"create table if not exists raw_{kind} (load_id integer not null, line bigint, "
        + ", ".join(f"{c} varchar" for c in cols)
        + ", extra map(varchar, varchar))"
    )
    have = {name for name, _ in db.table_columns(con, f"raw_{kind}")}
    for c in cols:
        if c not in have:  # the alias table gained a column since the database was made
            con.execute(f"alter table raw_{kind} add column {c} varchar")


def _csv_raw_select(src: CsvSource, parts: list[Path], load_id: int, extras: bool) -> tuple[str, dict, str, str]:
    """A SELECT over the numbered part files shaped exactly like raw_<kind> (all text).

    Returns (sql, params, rejects table, rejects scan table): DuckDB's store_rejects fills
    the two tables with the rows it could not parse while the SELECT runs."""
    n = src.field_count + 1
    fields = {f"c{i}": "VARCHAR" for i in range(n)}
    hm = src.header_map
    position = {canon: pos for pos, canon in enumerate(hm.columns) if canon}
    select = [f"{int(load_id)}::integer as load_id", "c0::bigint as line"]
    for canon in ALIASES[src.kind]:
        select.append(f"{hm.value_sql(canon, lambda p: f'c{p + 1}')} as {canon}" if canon in position
                      else f"null::varchar as {canon}")
    extra_keys, extra_vals = [], []
    for pos, canon in enumerate(hm.columns):
        if not canon:
            key = src.header[pos].strip() or f"column_{pos + 1}"
            while key in extra_keys:  # map keys must be unique: 备注, 备注_2, ...
                key = f"{key}_{pos + 1}"
            extra_keys.append(key)
            extra_vals.append(f"c{pos + 1}")
    params = {"path": [str(p) for p in parts], "delim": src.delimiter, "columns": fields}
    if extras and extra_keys:
        select.append(f"map($extra_keys, [{', '.join(extra_vals)}]) as extra")
        params["extra_keys"] = extra_keys
    else:
        select.append("null::map(varchar, varchar) as extra")
    rejects_table = f"_csv_rejects_{load_id}"
    scan_table = f"_csv_scans_{load_id}"
    read = (
        "read_csv($path, auto_detect=false, header=false, all_varchar=true, delim=$delim, "
        "quote='\"', escape='\"', columns=$columns, store_rejects=true, "
        f"rejects_table='{rejects_table}', rejects_scan='{scan_table}', max_line_size={MAX_LINE_BYTES + 64})"
    )
    return f"select {', '.join(select)} from {read}", params, rejects_table, scan_table


def _csv_parse_rejects(con, rejects_table: str, scan_table: str) -> list[tuple[int | None, str]]:
    """The rows DuckDB could not parse, as (source line, reason); drops DuckDB's tables."""
    try:
        bad = con.execute(
            f"""select try_cast(regexp_extract(csv_line, '^([0-9]+)', 1) as bigint) as line,
                       first(error_type || ': ' || error_message order by column_idx) as reason
                from {rejects_table} group by all order by line"""
        ).fetchall()
    finally:
        for t in (rejects_table, scan_table):
            con.execute(f"drop table if exists {t}")
    return [(line, _parse_reason(reason)) for line, reason in bad]


def _parse_reason(reason: str) -> str:
    r = reason.split("\n")[0]
    m = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", r)
    if m:
        exp, found = int(m.group(1)) - 1, int(m.group(2)) - 1
        return f"row has {found} fields, the header has {exp} (truncated or malformed row)"
    if "maximum line size" in r.lower() or "line size over" in r.lower():
        return TOO_LONG
    return f"cannot parse row: {r}"


def _merge(con, kind: str, load_id: int, export_time: datetime, track: bool = False) -> tuple[int, int, int]:
    """Merge the staged rows of this load into the typed table.

    Returns (loaded, replaced within this file or by a newer existing copy, superseded rows of
    earlier loads). Older loads' manifest counts move from loaded to replaced. With `track` (a
    detection is recorded: pipeline/incremental.py), the orders whose rows change in content
    are recorded in changed_orders.
    """
    spec = MERGE[kind]
    table, key = spec["table"], spec["key"]
    keycols = ", ".join(key)
    join = " and ".join(f"n.{k} is not distinct from o.{k}" for k in key)
    if spec.get("ignorable"):  # rows the staging model marks `ignored` are neither loaded nor rejected
        keep, drop = "reject_reason is null and not ignored", "reject_reason, ignored"
    else:
        keep, drop = "reject_reason is null", "reject_reason"
    good = f"select * exclude ({drop}) from _stage where {keep}"
    if spec.get("line_no"):
        # the window runs over (order_id, line) alone and is joined back on line (unique within
        # a load): a window over the whole staged rows would sort all their columns
        good = (
            "select s.* exclude (reject_reason), n.line_no from _stage s join ("
            "select line, row_number() over (partition by order_id order by line)::integer as line_no from _stage"
            ") n on s.line = n.line where s.reject_reason is null"
        )
    if spec["dedupe"]:
        # distinct hashes of the key: a collision only sends the rows through the dedupe below
        # (same result, slower); a repeated key always shows
        staged, distinct = con.execute(
            f"select count(*), count(distinct hash({keycols})) from _stage where {keep}"
        ).fetchone()
    else:  # every record is a row: no need to count distinct keys
        staged = distinct = con.execute(f"select count(*) from _stage where {keep}").fetchone()[0]
    dedupe = spec["dedupe"] and distinct < staged  # the same key twice in one file: the last line wins
    target_empty = not con.execute(f"select exists (select 1 from {table})").fetchone()[0]
    if target_empty and not dedupe:  # the first load of this kind: nothing to compare or replace
        con.execute(f"insert into {table} by name {good}")
        if track:
            con.execute(f"insert into changed_orders select distinct order_id from {table} where load_id = ?", [load_id])
        return staged, 0, 0
    if dedupe:
        con.execute(
            f"create or replace temp table _new as select * exclude (_rn) from ("
            f"select *, row_number() over (partition by {keycols} order by line desc) as _rn from ({good})"
            f") where _rn = 1"
        )
    else:
        con.execute(f"create or replace temp table _new as {good}")
    superseded = 0
    if not target_empty:
        # keys whose existing copy comes from a newer export: the incoming rows lose
        con.execute(
            f"""create or replace temp table _losing as
                select distinct {', '.join('n.' + k for k in key)}
                from _new n join {table} o on {join}
                join load_manifest m on m.load_id = o.load_id
                where m.export_time > $t""",
            {"t": export_time},
        )
        con.execute(f"delete from _new n where exists (select 1 from _losing o where {join})")
        con.execute("drop table _losing")
        if track:
            _record_changes(con, kind, table, key, join)
        # older rows of the winning keys are superseded
        superseded_by_load = con.execute(
            f"""select o.load_id, count(*) from {table} o
                where exists (select 1 from (select distinct {keycols} from _new) n where {join})
                group by o.load_id"""
        ).fetchall()
        superseded = sum(c for _, c in superseded_by_load)
        if superseded:
            con.execute(
                f"delete from {table} o where exists (select 1 from (select distinct {keycols} from _new) n where {join})"
            )
            for old_id, c in superseded_by_load:
                con.execute(
                    "update load_manifest set loaded = loaded - ?, replaced = replaced + ? where load_id = ?",
                    [c, c, old_id],
                )
    elif track:
        con.execute("insert into changed_orders select distinct order_id from _new")
    con.execute(f"insert into {table} by name select * from _new")
    loaded = con.execute("select count(*) from _new").fetchone()[0]
    con.execute("drop table _new")
    return loaded, staged - loaded, superseded


# the columns of a typed row that are not its content: where and when it was loaded from
PROVENANCE = ("load_id", "source_file", "line")


def _record_changes(con, kind: str, table: str, key: list[str], join: str) -> None:
    """The orders whose rows this load changes (table changed_orders, for the next detection):
    rows of _new that the table does not hold as they are, and rows of the table, for the keys
    of _new, that _new does not hold (a refund moved to another order changes both). A newer
    export that repeats what the table holds changes nothing, whatever its file and line; a
    decision is quoted with its file and line, so every new one counts."""
    if kind == "decisions":
        con.execute("insert into changed_orders select distinct order_id from _new")
        return
    content = [c for (c,) in con.execute(
        "select column_name from information_schema.columns "
        "where table_name = ? and table_schema = 'main' order by ordinal_position", [table]
    ).fetchall() if c not in PROVENANCE]
    staged = {r[0] for r in con.execute("describe _new").fetchall()}
    cols = ", ".join(content)
    keycols = ", ".join(key)
    # a column the staging model does not give is NULL in the table (insert by name)
    new = f"select {', '.join(c if c in staged else f'null as {c}' for c in content)} from _new"
    con.execute(f"create or replace temp table _old as select {cols} from {table} o "
                f"where exists (select 1 from (select distinct {keycols} from _new) n where {join})")
    old = f"select {cols} from _old"
    if MERGE[kind]["dedupe"] or MERGE[kind].get("line_no"):
        # a row's content holds its key (order_id, refund_id, order_id + line_no): the rows are
        # sets, and set differences are exact
        a, b = f"({new}) except ({old})", f"({old}) except ({new})"
    else:  # shipments: identical rows add up, so their number counts (EXCEPT ALL is slower)
        a = f"select {cols}, count(*) from ({new}) group by all except select {cols}, count(*) from _old group by all"
        b = f"select {cols}, count(*) from _old group by all except select {cols}, count(*) from ({new}) group by all"
    con.execute(f"insert into changed_orders select distinct order_id from (({a}) union all ({b}))")
    con.execute("drop table _old")


def _progress_bar(path: Path, show: bool):
    """A tqdm bar over a large file's transcoding ranges, on a terminal only."""
    if not show:
        return None, None
    from tqdm import tqdm

    bar = tqdm(desc=f"transcoding {path.name}", unit="part", leave=False, file=sys.stderr,
               disable=not sys.stderr.isatty())

    def tick(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, tick


class _Transcoder:
    """Transcodes the CSV sources of one load call in the background, one file after another,
    so that DuckDB types file k while file k+1 is transcoded (both keep the cores busy in
    turns: the transcoding's workers are processes, DuckDB's threads are its own).

    A file whose SHA-256 the manifest already holds, or that repeats an earlier file of the
    call, is not transcoded ahead (it will most likely be skipped); `get` then transcodes it
    in the caller's thread if the load wants it after all."""

    def __init__(self, plan: list, tmpdir: Path, known_shas: set[str], show_progress: bool):
        self._tmpdir = tmpdir
        self._show = show_progress
        self._pool = None  # made for the first file large enough to be cut into ranges
        self._pool_lock = threading.Lock()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="transcode")
        self._seen = set(known_shas)  # touched by the background thread only
        self._futures = {}
        for i, (path, sources, _size, sha_future) in enumerate(plan):
            for j, src in enumerate(sources):
                if isinstance(src, CsvSource):
                    self._futures[(i, j)] = self._thread.submit(self._ahead, src, (i, j), sha_future)

    def _ahead(self, src: CsvSource, key, sha_future):
        sha = sha_future.result()
        if sha in self._seen:
            return None
        self._seen.add(sha)
        return self._transcode(src, key)

    def _transcode(self, src: CsvSource, key):
        part_dir = self._tmpdir / f"parts_{key[0]}_{key[1]}"
        bar, tick = _progress_bar(src.path, self._show)
        try:
            parts, tr = numbered_parts(src, part_dir, tick=tick, pool=self._pool_for(src))
        finally:
            if bar is not None:
                bar.close()
        return parts, tr, part_dir

    def get(self, key, src: CsvSource):
        """The numbered parts of source `key` (waits for the background work)."""
        done = self._futures.pop(key).result()
        return done if done is not None else self._transcode(src, key)

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _pool_for(self, src: CsvSource):
        """The worker processes, started only when a file is large enough to use them."""
        from pipeline.io.encoding import PARALLEL_MIN_BYTES, new_pool

        with self._pool_lock:
            if self._pool is None and src.path.stat().st_size >= PARALLEL_MIN_BYTES:
                self._pool = new_pool()
            return self._pool


def _can_load_direct(con, kind: str) -> bool:
    """Whether a CSV source of `kind` can go straight into its typed table (_load_direct): the
    table holds no rows yet (a first load), so there is nothing to compare or replace. Not for
    decisions, whose undecided rows are neither loaded nor rejected."""
    spec = MERGE[kind]
    if spec.get("ignorable"):
        return False
    return not con.execute(f"select exists (select 1 from {spec['table']})").fetchone()[0]


def _load_direct(con, src: CsvSource, path: Path, kind: str, model: str, load_id: int, transcoded,
                 track: bool) -> tuple[int, int, int, int, int, int]:
    """Load a CSV source into its empty typed table in one statement: the staging model over the
    parsed CSV, its rows that typed inserted as they come, without a staged copy and a merge (an
    order's lines are numbered afterwards, by a window over their order ids and lines alone).
    The rows that did not type are found by their number (rows that parsed but are not in the
    table) and only then read again for their reasons; a key twice in the file (orders,
    refunds) keeps its last line, as the merge does. Returns (rows_in, loaded, rejected,
    replaced, superseded, ignored)."""
    spec = MERGE[kind]
    table, key = spec["table"], spec["key"]
    parts, tr, part_dir = transcoded()
    rows_in = tr.records
    refused = tr.rejects  # broken quoting, NUL bytes: these never reach DuckDB
    passed = tr.written  # the records DuckDB parses
    try:
        raw_sql, raw_params, rej_t, scan_t = _csv_raw_select(src, parts, load_id, extras=False)
        assert model.lower().startswith("with")
        staged_sql = f"with _raw_batch as ({raw_sql}), {model[4:]}"
        params = {"load_id": load_id, **raw_params}
        good = f"select * exclude (reject_reason) from ({staged_sql}) where reject_reason is null"
        if spec.get("line_no"):  # numbered just after (a window here would sort the wide rows); most are 1
            good = f"select * exclude (reject_reason), 1 as line_no from ({staged_sql}) where reject_reason is null"
        try:
            with db.optimizer(con, on=passed > db.TINY_ROWS), db.unordered(con):  # a tiny file: db.TINY_ROWS
                n_good = con.execute(f"insert into {table} by name {good}", params).fetchone()[0]
        except duckdb.Error as e:
            raise ShortshipError(f"{path}: cannot parse as CSV ({db._first_line(e)})") from None
        unparsed = _csv_parse_rejects(con, rej_t, scan_t)
        parse_rejects = sorted(refused + unparsed, key=lambda r: (r[0] is None, r[0] or 0))
        if parse_rejects:
            con.executemany("insert into rejects values (?, ?, ?, ?)",
                            [[load_id, str(path), line, reason] for line, reason in parse_rejects])
        typed_rejects = 0
        if n_good + len(unparsed) != passed:
            # rows that parsed but did not type: read again for their reasons (files with rejects only)
            try:
                con.execute(f"create or replace temp table _rejected as select load_id, source_file, line, "
                            f"reject_reason, order_id from ({staged_sql}) where reject_reason is not null", params)
                typed_rejects = con.execute(
                    "insert into rejects select load_id, source_file, line, reject_reason from _rejected "
                    "order by line").fetchone()[0]
            except duckdb.Error as e:
                raise ShortshipError(f"{path}: cannot parse as CSV ({db._first_line(e)})") from None
            finally:
                for t in (rej_t, scan_t):
                    con.execute(f"drop table if exists {t}")
    finally:
        shutil.rmtree(part_dir, ignore_errors=True)
    if rows_in != passed + len(refused) or passed != n_good + typed_rejects + len(unparsed):
        raise ShortshipError(
            f"{path}: the load's own counts disagree ({rows_in} records in the file, {len(refused)} refused by "
            f"the reader, {passed} passed to the parser, {n_good + typed_rejects} parsed + {len(unparsed)} "
            "unparsable): nothing was loaded"
        )
    if spec.get("line_no") and n_good:
        # an order's lines numbered in export order: a window over (order_id, line) of the rows
        # just inserted, written back by line (unique within a load) where it is not the 1 they
        # were inserted with (an order's first line: half the rows, and their update was 0.2 of
        # 0.85 CPU s at 1M orders); a rejected line counts in its order's numbering, as in the merge
        rejected_lines = "union all select order_id, line from _rejected" if typed_rejects else ""
        con.execute(
            f"""update {table} t set line_no = n.line_no
                from (select line, row_number() over (partition by order_id order by line)::integer as line_no
                      from (select order_id, line from {table} where load_id = $id {rejected_lines})
                      qualify line_no > 1) n
                where t.load_id = $id and t.line = n.line""", {"id": load_id})
    con.execute("drop table if exists _rejected")
    replaced = 0
    if spec["dedupe"] and n_good:
        keycols = ", ".join(key)
        # distinct hashes of the key: a collision only runs the delete below, which then deletes nothing
        distinct = con.execute(f"select count(distinct hash({keycols})) from {table} where load_id = ?",
                               [load_id]).fetchone()[0]
        if distinct < n_good:  # the same key twice in one file: the last line wins
            replaced = con.execute(
                f"""delete from {table} where load_id = $id and line in (
                        select line from (select line, row_number() over (partition by {keycols} order by line desc) as rn
                                          from {table} where load_id = $id) where rn > 1)""",
                {"id": load_id}).fetchone()[0]
    if track:
        con.execute(f"insert into changed_orders select distinct order_id from {table} where load_id = ?", [load_id])
    return rows_in, n_good - replaced, len(parse_rejects) + typed_rejects, replaced, 0, 0


def _load_one(con, src, path: Path, sha: str, size: int, keep_raw: bool, transcoded=None,
              limit: RejectLimit | None = None, track: bool = False) -> FileResult:
    """Load one source; a CSV source comes with `transcoded`, a callable returning its
    numbered parts (path list, TranscodeResult) and the folder they are in."""
    kind = src.kind
    load_id = con.execute("select nextval('load_id_seq')").fetchone()[0]
    export_time = export_time_of(path)
    paid_is_net = kind == "orders" and "paid_amount" in src.header_map.columns and (
        src.header_map.names[src.header_map.columns.index("paid_amount")] == normalize_header("买家实际支付金额")
    )
    ensure_raw_table(con, kind)
    con.execute(
        """insert into load_manifest (load_id, loaded_at, path, file_name, sheet, size_bytes, sha256, kind,
               encoding, export_time, paid_is_net, rows_in, loaded, rejected, replaced, header)
           values (?, now()::timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?)""",
        [load_id, str(path), path.name, src.sheet, size, sha, kind, getattr(src.encoding, "label", src.encoding),
         export_time, paid_is_net, src.header],
    )
    model = db.model_sql(f"staging/{kind}.sql")
    if isinstance(src, CsvSource) and not keep_raw and _can_load_direct(con, kind):
        rows_in, loaded, rejected, replaced, superseded, ignored = _load_direct(
            con, src, path, kind, model, load_id, transcoded, track)
        return _finish(con, src, path, kind, load_id, limit, rows_in, loaded, rejected, replaced, superseded, ignored)
    stage = f"create or replace temp table _stage as {model}"
    params: dict = {"load_id": load_id}
    try:
        if isinstance(src, CsvSource):
            parts, tr, part_dir = transcoded()
            rows_in = tr.records
            refused = tr.rejects  # broken quoting, NUL bytes: these never reach DuckDB
            passed = tr.written  # the records DuckDB parses
            raw_sql, raw_params, rej_t, scan_t = _csv_raw_select(src, parts, load_id, extras=keep_raw)
            try:
                if keep_raw:
                    con.execute(f"create or replace temp table _raw_batch as {raw_sql}", raw_params)
                else:  # one pass: the staging model reads the parsed CSV directly
                    assert model.lower().startswith("with")
                    stage = f"create or replace temp table _stage as with _raw_batch as ({raw_sql}), {model[4:]}"
                    params.update(raw_params)
                    con.execute(stage, params)
            except duckdb.Error as e:
                raise ShortshipError(f"{path}: cannot parse as CSV ({db._first_line(e)})") from None
            unparsed = _csv_parse_rejects(con, rej_t, scan_t)
            shutil.rmtree(part_dir, ignore_errors=True)
        else:
            con.execute(f"create or replace temp table _raw_batch as select * from raw_{kind} limit 0")
            rows_in, passed, refused = src.insert_raw(con, load_id, target="_raw_batch")
            unparsed = []
        if keep_raw or not isinstance(src, CsvSource):
            if keep_raw:
                con.execute(f"insert into raw_{kind} select * from _raw_batch")
            con.execute(stage, params)
    finally:
        con.execute("drop table if exists _raw_batch")
    staged, typed_rejects, ignored = con.execute(
        "select count(*), count(reject_reason), "
        + ("count(*) filter (where ignored and reject_reason is null)" if MERGE[kind].get("ignorable") else "0")
        + " from _stage"
    ).fetchone()
    # every record of the file: refused by the reader, or passed on and then parsed into a
    # staged row or refused by the parser
    if rows_in != passed + len(refused) or passed != staged + len(unparsed):
        raise ShortshipError(
            f"{path}: the load's own counts disagree ({rows_in} records in the file, {len(refused)} refused by "
            f"the reader, {passed} passed to the parser, {staged} parsed + {len(unparsed)} unparsable): "
            "nothing was loaded"
        )
    parse_rejects = sorted(refused + unparsed, key=lambda r: (r[0] is None, r[0] or 0))
    if parse_rejects:
        con.executemany(
            "insert into rejects values (?, ?, ?, ?)",
            [[load_id, str(path), line, reason] for line, reason in parse_rejects],
        )
    con.execute(
        "insert into rejects select load_id, source_file, line, reject_reason from _stage "
        "where reject_reason is not null order by line"
    )
    loaded, replaced, superseded = _merge(con, kind, load_id, export_time, track)
    con.execute("drop table if exists _stage")
    rejected = len(parse_rejects) + typed_rejects
    return _finish(con, src, path, kind, load_id, limit, rows_in, loaded, rejected, replaced, superseded, ignored)


def _finish(con, src, path: Path, kind: str, load_id: int, limit: RejectLimit | None, rows_in: int, loaded: int,
            rejected: int, replaced: int, superseded: int, ignored: int) -> FileResult:
    """Record a loaded source's counts in the manifest, check them and the reject limit."""
    con.execute(
        "update load_manifest set rows_in = ?, loaded = ?, rejected = ?, replaced = ?, ignored = ? where load_id = ?",
        [rows_in, loaded, rejected, replaced, ignored, load_id],
    )
    _check_counts(con, kind, load_id, path, rows_in)
    _check_rejects(con, limit or RejectLimit(), load_id, str(path) + (f" [{src.sheet}]" if src.sheet else ""),
                   rows_in, rejected)
    return FileResult(
        path=str(path), kind=kind, status="loaded", rows_in=rows_in, loaded=loaded,
        rejected=rejected, replaced=replaced, superseded=superseded, sheet=src.sheet, ignored=ignored,
    )


def _check_counts(con, kind: str, load_id: int, path: Path, rows_in: int) -> None:
    """The invariants of a load, checked against the database before the load may commit:
    the records in the file all accounted for (rows_in = loaded + rejected + replaced +
    ignored), the rows of the load in its typed table = loaded, its rejects rows = rejected,
    each with a line number. A load whose counts disagree raises (the transaction rolls back)."""
    table = MERGE[kind]["table"]
    m_in, loaded, rejected, replaced, ignored = con.execute(
        "select rows_in, loaded, rejected, replaced, ignored from load_manifest where load_id = ?", [load_id]
    ).fetchone()
    in_table = con.execute(f"select count(*) from {table} where load_id = ?", [load_id]).fetchone()[0]
    rej_rows, rej_no_line = con.execute(
        "select count(*), count(*) filter (where line is null) from rejects where load_id = ?", [load_id]
    ).fetchone()
    problems = []
    if m_in != rows_in or rows_in != loaded + rejected + replaced + ignored:
        problems.append(f"{rows_in} rows in but {loaded} loaded + {rejected} rejected + {replaced} replaced"
                        f" + {ignored} ignored")
    if in_table != loaded:
        problems.append(f"{loaded} loaded but {in_table} rows in {table}")
    if rej_rows != rejected:
        problems.append(f"{rejected} rejected but {rej_rows} rows in rejects")
    if rej_no_line:
        problems.append(f"{rej_no_line} rejects without a line number")
    if problems:
        raise ShortshipError(f"{path}: the load's own counts disagree ({'; '.join(problems)}): nothing was loaded")


def load_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    kind: str | None = None,
    progress: Callable[[str], None] | None = None,
    keep_raw: bool = False,
    max_rejects: RejectLimit | str | None = None,
) -> list[FileResult]:
    """Load export files and folders in one transaction. Returns one result per file/sheet
    loaded or already loaded, and one (status `not_export`, the reason in `message`) per file or
    subfolder found in a folder that is not an export and was skipped.

    With `keep_raw`, every record is also kept as exported (all text, unknown columns in the
    `extra` map) in `raw_<kind>`; without it those tables stay empty: the typed tables keep
    each row's source file and line, and the export files themselves are the raw record.

    Every file is opened and its header checked before anything is written, so a bad file
    stops the load with a ShortshipError and the database unchanged; so does a load whose own
    counts disagree (`_check_counts`), and a file that lost more rows to rejects than
    `max_rejects` allows (a RejectLimit or its text; None: the default, see RejectLimit).
    """
    if kind is not None and kind not in KINDS:
        raise ShortshipError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    limit = RejectLimit.parse(max_rejects)
    files, not_exports = find_exports(paths)
    # the SHA-256 of each file is computed by a thread while the files before it load (hashlib
    # releases the GIL), rather than by one more read of every file before the first loads
    hasher = ThreadPoolExecutor(1, thread_name_prefix="sha256")
    # a file read before and unchanged on disk, whose every source is loaded, is neither
    # opened nor hashed again (export_files); only files recognised from their header count
    known = _known_files(con) if kind is None else {}
    remember = []
    try:
        plan = []
        for f in files:
            key = _stat_key(f.path)
            hit = known.get(key) if key else None
            if hit is not None:
                plan.append((f.path, [KnownSource(k, sh) for k, sh in hit[1]], key[1], _done(hit[0])))
                continue
            try:
                sources = open_source(f.path, kind)
            except NotAnExport as e:
                if f.named:
                    raise
                not_exports.append(FileResult(path=str(f.path), kind="", status="not_export",
                                              message=_reason(e, f.path)))
                continue
            sha_future = hasher.submit(sha256_of, f.path)
            plan.append((f.path, sources, f.path.stat().st_size, sha_future))
            if kind is None and key is not None and sources:
                remember.append((key, sources, sha_future))
        if not plan:
            first = not_exports[0]
            raise ShortshipError(
                f"nothing to load: {len(not_exports)} file(s) or folder(s) skipped, none is an export "
                f"({first.path}: {first.message})"
            )
        return not_exports + _load_plan(con, _smallest_kind_first(plan), keep_raw, progress, limit, remember)
    finally:
        hasher.shutdown(wait=True, cancel_futures=True)


def _reason(e: ShortshipError, path: Path) -> str:
    """The message of an error about `path` without the path in front."""
    msg = str(e)
    return msg[len(str(path)) + 2:] if msg.startswith(f"{path}: ") else msg


def _smallest_kind_first(plan: list) -> list:
    """The files in the order they load: the kind with the fewest bytes first, so that DuckDB
    starts while the larger files are still being transcoded. Files of one kind keep their
    order (the newest export wins, ties go to the later file); kinds fill separate tables."""
    first_kind = [sources[0].kind if sources else "" for _, sources, _, _ in plan]
    bytes_of: dict[str, int] = {}
    for k, (_, _, size, _) in zip(first_kind, plan):
        bytes_of[k] = bytes_of.get(k, 0) + size
    order = sorted(range(len(plan)), key=lambda i: bytes_of[first_kind[i]])  # stable
    return [plan[i] for i in order]


def _load_plan(con, plan: list, keep_raw: bool, progress, limit: RejectLimit,
               remember: list | None = None) -> list[FileResult]:
    """Load the opened files of `plan` (path, sources, size, future of the SHA-256) in one
    transaction; `remember`: (stat key, sources, future of the SHA-256) of the files to record
    in export_files once they are loaded."""
    known = {r[0] for r in con.execute("select distinct sha256 from load_manifest").fetchall()}
    results: list[FileResult] = []

    def committed() -> None:  # the load stands (a load alone, not one joined to a run's transaction)
        loaded = [r for r in results if r.status == "loaded"]
        outcome.committed("the load", detail=f"{len(loaded)} file(s), {sum(r.loaded for r in loaded):,} row(s) loaded")

    with tmpspace.scratch("load") as tmp, db.transaction(con, on_commit=committed):
        transcoder = _Transcoder(plan, tmp, known, progress is not None)
        try:
            results.extend(_load_sources(con, plan, keep_raw, progress, transcoder, limit))
        finally:
            transcoder.close()
        _remember_files(con, remember or [])
    return results


def _load_sources(con, plan, keep_raw, progress, transcoder, limit: RejectLimit) -> list[FileResult]:
    """Each source of `plan` loaded, or skipped when the same file is loaded already."""
    results: list[FileResult] = []
    seen: set[str] = set()
    # what is loaded already, read once (one query per file grew with a folder's history)
    loaded: dict[tuple, str] = {}
    for sha, kind, sheet, path in con.execute(
            "select sha256, kind, sheet, path from load_manifest order by load_id").fetchall():
        loaded.setdefault((sha, kind, sheet), path)
    # a detection is recorded: the next one needs to know which orders the loads change
    track = con.execute("select exists (select 1 from detection_state)").fetchone()[0]
    for i, (path, sources, size, sha_future) in enumerate(plan):
        sha = sha_future.result()
        dup_in_call = sha in seen
        seen.add(sha)
        for j, src in enumerate(sources):
            done = loaded.get((sha, src.kind, src.sheet))
            if done or dup_in_call:
                prev = done if done else "earlier in this load"
                results.append(FileResult(
                    path=str(path), kind=src.kind, status="skipped", sheet=src.sheet,
                    message=f"already loaded ({prev}), nothing changed",
                ))
                continue
            if isinstance(src, KnownSource):  # cannot happen: _known_files lists loaded sources only
                raise ShortshipError(f"{path}: recorded as loaded, but load_manifest lacks it; nothing was loaded")
            if progress:
                progress(f"loading {path}" + (f" [{src.sheet}]" if src.sheet else ""))
            results.append(_load_one(con, src, path, sha, size, keep_raw,
                                     functools.partial(transcoder.get, (i, j), src), limit, track))
    return results


def relabel_sources(con: duckdb.DuckDBPyConnection, local: str, shown: str) -> None:
    """Name the files loaded from the folder `local` as `shown` (a Spark task's temporary copy
    of a shop folder -> the shop folder itself): `load_manifest.path` and every table's
    `source_file` that starts with `local` gets `shown` in its place, so that evidence texts,
    evidence pages and rejects name the file where it lies (and a page's facts do not change
    with the task's temporary folder). The files' place on disk (`export_files`) is forgotten:
    a temporary copy is never found again. Inside the caller's transaction, before flagging."""
    local = str(local).rstrip("/") + "/"
    shown = str(shown).rstrip("/") + "/"
    params = {"local": local, "shown": shown, "n": len(local)}
    tables = [t for (t,) in con.execute(
        "select c.table_name from information_schema.columns c join information_schema.tables t "
        "on t.table_name = c.table_name and t.table_schema = c.table_schema "
        "where c.table_schema = 'main' and c.column_name = 'source_file' and t.table_type = 'BASE TABLE' "
        "order by c.table_name").fetchall()]
    for table in tables:
        con.execute(f"update {table} set source_file = $shown || source_file[$n + 1:] "
                    f"where starts_with(source_file, $local)", params)
    con.execute("update load_manifest set path = $shown || path[$n + 1:] where starts_with(path, $local)", params)
    con.execute("delete from export_files where starts_with(path, $local)", {"local": local})
