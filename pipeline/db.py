"""The DuckDB connection, the schema, and running the models under `sql/` in order.

One writer at a time: DuckDB locks its file for the process that opened it read-write; a
second process waits here (with a message on a terminal) and then fails with one clear line.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb

from pipeline import interrupts, resources, tmpspace
from pipeline.errors import ShortshipError

DEFAULT_DB = Path("data") / "shortship.duckdb"
LOCK_WAIT_SECONDS = 30.0
DEFAULT_MEMORY_LIMIT = "3GB"  # env SHORTSHIP_MEMORY_LIMIT overrides
# table macros whose models live in sql/staging/<name>.sql: name -> (parameters, the view over the
# whole typed tables)
TABLE_MACROS = {"line_amounts": (("lines_table", "orders_table"), ("order_lines", "orders"))}


def sql_path(name: str):
    """Where the model `sql/<name>` lies (a Traversable: a Path unless the package is zipped)."""
    return resources.sql(name)


@lru_cache(maxsize=None)
def read_sql(name: str) -> str:
    """The text of `sql/<name>` (a model's header comment included; the models are found by
    pipeline.resources, installed or in the checkout). Read once per process."""
    p = resources.sql(name)
    try:
        return p.read_text(encoding="utf-8")
    except (FileNotFoundError, KeyError):  # KeyError: a zip without it
        raise ShortshipError(f"missing SQL model {p}") from None


def connect(
    path: str | Path,
    wait: float = LOCK_WAIT_SECONDS,
    read_only: bool = False,
    create: bool = True,
    tmp: str | Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting up to `wait` seconds for another writer.

    A database that does not exist is created only with `create` (the CLI passes its
    `--create` flag, so that a mistyped `--db` never starts a new ledger); its folder is made
    only then. DuckDB's spill files go to this process's scratch folder (pipeline.tmpspace,
    under `tmp` or beside the database). Every failure is a ShortshipError naming the path."""
    path = Path(path)
    memory = str(path) == ":memory:"
    if not memory:
        _check_db_path(path, create and not read_only, read_only)
        if create and not read_only and not path.exists():
            _start_from_template(path)
    scratch = None
    if not memory:
        try:
            scratch = tmpspace.use(tmpspace.root_for(path, tmp))
        except ShortshipError:
            if not read_only:
                raise
            scratch = tmpspace.process_dir()  # reading a database in a folder we may not write
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise ShortshipError(f"{path}: cannot open database ({_first_line(e)})") from None
            if time.monotonic() >= deadline:
                raise ShortshipError(
                    f"{path}: database is in use by another shortship process (waited {wait:.0f} s)"
                ) from None
            if not told and sys.stderr.isatty():
                print(f"waiting for another shortship process to release {path} ...", file=sys.stderr)
                told = True
            time.sleep(0.2)
        except duckdb.Error as e:
            raise ShortshipError(f"{path}: cannot open database ({_first_line(e)})") from None
    try:
        con.execute("set enable_progress_bar = false")  # our own progress goes to a terminal only
        # stay well inside an ordinary machine: DuckDB spills to disk beyond this
        con.execute("set memory_limit = ?", [memory_limit()])
        if scratch is not None:
            con.execute("set temp_directory = ?", [str(scratch / "duckdb")])
        if not read_only:
            ensure_schema(con)
    except duckdb.Error as e:
        con.close()
        raise ShortshipError(f"{path}: cannot use database ({_first_line(e)})") from None
    return con


# A file of at most this many records is loaded by a statement DuckDB does not optimise: the
# staging model (a CTE chain of macros over every column) costs some 15 ms more to optimise than
# it saves on a few hundred rows (pipeline/load.py)
TINY_ROWS = 2000


def plan_lightly(con: duckdb.DuckDBPyConnection) -> None:
    """Statements on this connection run as planned, without DuckDB's optimiser (until it is
    set back with `set enable_optimizer = true`): for a tiny run (pipeline/run.py TINY_RUN_ORDERS),
    whose dozens of long models each cost more to optimise (join orders, statistics, rewritten
    expressions) than to run on a few hundred rows. The results are the same: the optimiser
    changes how a statement runs, not what it returns, and every output is in a stated order
    (the run's outputs were compared file by file with and without it)."""
    con.execute("set enable_optimizer = false")


@contextmanager
def _setting(con: duckdb.DuckDBPyConnection, name: str, on: bool) -> Iterator[None]:
    """The block's statements with the boolean setting `name` (one of DuckDB's, named here, never
    a user's value) `on`, whatever the connection's setting, which is set back after it."""
    was = con.execute(f"select current_setting('{name}')").fetchone()[0]
    if was == on:
        yield
        return
    con.execute(f"set {name} = {'true' if on else 'false'}")
    back = f"set {name} = {'true' if was else 'false'}"
    try:
        yield
    except BaseException:
        try:
            con.execute(back)
        except duckdb.Error:
            pass  # the failure aborted the transaction (nothing runs until its rollback): its error is told
        raise
    con.execute(back)


def optimizer(con: duckdb.DuckDBPyConnection, on: bool = True):
    """The block's statements optimised (`on`) or not, whatever the connection's setting, which
    is set back after it. Optimised: a Parquet file written by COPY carries what the optimiser
    knows of its columns (no NULLs: no definition levels), so its bytes, which decide whether
    it is published again, must not depend on the size of the run (plan_lightly). Not: a
    tiny file's load (pipeline/load.py), see TINY_ROWS."""
    return _setting(con, "enable_optimizer", on)


def unordered(con: duckdb.DuckDBPyConnection):
    """The block's statements free to write rows in any order (preserve_insertion_order off),
    set back after it. For a first load's insert into an empty table (pipeline/load.py): kept
    in the file's order, DuckDB writes the rows in batches that the checkpoint at commit then
    writes once more (0.8 s of 1.9 million order lines); unordered, they are written once. No
    query depends on where a row lies in a table: a file's order is its `line` column."""
    return _setting(con, "preserve_insertion_order", False)


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: Any) -> Iterator[str]:
    """`table` (an Arrow table) readable by the connection's queries as `name`, for the block."""
    con.register(name, table)
    try:
        yield name
    finally:
        con.unregister(name)


def memory_limit() -> str:
    """The memory DuckDB may use for the run (env SHORTSHIP_MEMORY_LIMIT, else DEFAULT_MEMORY_LIMIT)."""
    return os.environ.get("SHORTSHIP_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)


_SIZE_UNITS = {"b": 1, "bytes": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4,
               "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


@contextmanager
def memory_lent(con: duckdb.DuckDBPyConnection, nbytes: int) -> Iterator[None]:
    """DuckDB's memory limit lowered by `nbytes` (at most half of it) while other processes of
    the run need them (the render workers: the limit is the run's, not one process's), then set
    back to memory_limit(). When the limit cannot be read as a size, or DuckDB cannot lower it
    now, it is left as it is: the run goes on."""
    lowered = False
    try:
        shown = con.execute("select current_setting('memory_limit')").fetchone()[0]
        m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", str(shown))
        if m and m.group(2).lower() in _SIZE_UNITS:
            limit = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
            con.execute("set memory_limit = ?", [f"{max(limit - nbytes, limit // 2)}B"])
            lowered = True
    except duckdb.Error:
        pass
    try:
        yield
    finally:
        if lowered:
            con.execute("set memory_limit = ?", [memory_limit()])


def _check_db_path(path: Path, create: bool, read_only: bool = False) -> None:
    """One clear line for a --db that is a folder, missing, or under a folder we cannot make."""
    if path.is_dir():
        raise ShortshipError(f"{path}: --db is a folder, not a database file")
    if path.exists():
        if not path.is_file():
            raise ShortshipError(f"{path}: --db is not a regular file")
        return
    if read_only:
        raise ShortshipError(f"{path}: no such database")
    if not create:
        raise ShortshipError(f"{path}: no such database (give --create to start a new one)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ShortshipError(f"{path}: cannot create the database (a part of its folder path is a file)") from None
    except OSError as e:
        raise ShortshipError(f"{path.parent}: cannot create the database's folder ({e.strerror})") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ShortshipError(f"{path.parent}: cannot create the database there (permission denied)")


def _start_from_template(path: Path) -> None:
    """A new database starts as a copy of an empty one that holds this schema (made once per
    schema and DuckDB version, kept in tmpspace.cache_dir()): the seventy-odd statements of the
    schema cost a small run more than copying half a megabyte. The copy is linked into place only
    when nothing is there yet (a process creating the same database at the same moment keeps
    its own). Anything that goes wrong leaves `path` absent: DuckDB creates it as before."""
    cache = tmpspace.cache_dir()
    if cache is None:
        return
    template = cache / f"schema-{schema_digest()}.duckdb"
    part = path.parent / f".{path.name}.{os.getpid()}.new"
    try:
        if not template.is_file():
            _make_template(template)
        shutil.copyfile(template, part)
        os.link(part, path)  # fails if a database appeared meanwhile: that one is kept
    except (OSError, duckdb.Error):
        pass
    finally:
        try:
            part.unlink()
        except OSError:
            pass


def _make_template(template: Path) -> None:
    tmp = template.parent / f".{template.name}.{os.getpid()}.tmp"
    for p in (tmp, Path(f"{tmp}.wal")):
        p.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        ensure_schema(con)
        con.execute("checkpoint")
    finally:
        con.close()
    if Path(f"{tmp}.wal").exists():  # not checkpointed whole: not a template
        raise OSError("template not checkpointed")
    os.replace(tmp, template)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _schema_scripts() -> list[tuple[str, str]]:
    """(name, text) of every file of sql/schema, in name order, and of the table macros' models."""
    out = [(name, read_sql(name)) for name in resources.sql_names("schema")]
    return out + [(f"staging/{name}.sql", read_sql(f"staging/{name}.sql")) for name in TABLE_MACROS]


@lru_cache(maxsize=None)
def schema_digest() -> str:
    """A digest of what ensure_schema runs (the schema files and the table macros' models)."""
    h = hashlib.sha256()
    for name, text in _schema_scripts():
        h.update(f"{name}\0{text}\0".encode())
    h.update(duckdb.__version__.encode())
    return h.hexdigest()[:32]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create macros and tables (idempotent): every file of sql/schema in name order. A database
    whose `schema_state` row names this very schema is left as it is: the statements (some
    seventy) run once per schema, not once per connection."""
    version = schema_digest()
    try:
        if con.execute("select digest from schema_state").fetchall() == [(version,)]:
            return
    except duckdb.CatalogException:
        pass  # a new database, or one from before the table
    had_outbox = _has_table(con, "payout_publications")
    for name, text in _schema_scripts():
        if name.startswith("schema/"):
            run_script(con, text)
    for name, (params, tables) in TABLE_MACROS.items():
        # line_amounts_of('order_lines', 'orders') reads the tables named by its arguments
        con.execute(f"create or replace macro {name}_of({', '.join(params)}) as table {model_sql(f'staging/{name}.sql')}")
        args = ", ".join(f"'{t}'" for t in tables)
        con.execute(f"create or replace view {name} as select * from {name}_of({args})")
    if not had_outbox:
        # a database from before the outbox: its ledger lines went out in each run's
        # payouts.parquet already; mark them published so the first outbox run does not
        # publish the whole ledger again
        con.execute(
            "insert into payout_publications select 'before-outbox', payout_id, created_at from payouts"
        )
    con.execute("create table if not exists schema_state (digest varchar not null)")
    con.execute("delete from schema_state")
    con.execute("insert into schema_state values (?)", [version])


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, type) of each column of `table` in order: the table a query naming it reads (a temp
    table first); it must exist. By pragma_table_info: a third of the cost of
    information_schema.columns, a view planned over every column of the catalog, which a small
    run asked eight times."""
    return [(r[0], r[1]) for r in con.execute("select name, type from pragma_table_info(?)", [table]).fetchall()]


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name = ?", [name]
    ).fetchone()[0] > 0


_COMMENT = re.compile(r"--[^\n]*")


def split_statements(script: str) -> list[str]:
    """Split a script on `;` at line ends (our SQL keeps `;` out of strings)."""
    body = _COMMENT.sub("", script)
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def run_script(con: duckdb.DuckDBPyConnection, script: str, params: dict[str, Any] | None = None) -> None:
    for stmt in split_statements(script):
        if params:
            con.execute(stmt, bound(stmt, params))
        else:
            con.execute(stmt)


def bound(sql: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters a statement names ($name): DuckDB refuses any it does not use."""
    return {k: v for k, v in (params or {}).items() if f"${k}" in sql}


@lru_cache(maxsize=None)
def model_sql(name: str) -> str:
    """A model file (CTEs ending in `select * from final`) as one statement, comments kept out
    (split once per process, like read_sql)."""
    stmts = split_statements(read_sql(name))
    if len(stmts) != 1:
        raise ShortshipError(f"sql/{name}: a model file holds exactly one select")
    return stmts[0]


def materialize(
    con: duckdb.DuckDBPyConnection,
    model: str,
    table: str,
    params: dict[str, Any] | None = None,
    temp: bool = False,
) -> int:
    """CREATE OR REPLACE `table` AS the model `sql/<model>`; returns its row count."""
    kw = "TEMP TABLE" if temp else "TABLE"
    # CREATE TABLE AS answers with its row count (one statement, not a count after it)
    row = _model_statement(con, f"CREATE OR REPLACE {kw} {table} AS", model, params)
    if row is None:  # a DuckDB that does not answer with the count
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return row[0]


def insert_model(
    con: duckdb.DuckDBPyConnection,
    model: str,
    table: str,
    params: dict[str, Any] | None = None,
) -> int:
    """INSERT INTO `table` BY NAME the rows of the model `sql/<model>` (no copy through a temp
    table); returns the number of rows inserted."""
    row = _model_statement(con, f"INSERT INTO {table} BY NAME", model, params)
    return row[0] if row is not None else 0


def _model_statement(con: duckdb.DuckDBPyConnection, head: str, model: str,
                     params: dict[str, Any] | None) -> tuple | None:
    """`head` followed by the model `sql/<model>`, with the parameters it names; its answer row."""
    sql = model_sql(model)
    return con.execute(f"{head} {sql}", bound(sql, params)).fetchone()


@contextmanager
def transaction(
    con: duckdb.DuckDBPyConnection, on_commit: Callable[[], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (the database is left as it was).

    The COMMIT and `on_commit` (which records what became permanent, pipeline/outcome.py) run
    as one critical section: a Ctrl-C or SIGTERM there is held until both are done. A
    connection joined to a run's transaction (`joined`, pipeline/run.py) commits nothing, and
    `on_commit` is not called."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        with interrupts.deferred():
            con.execute("COMMIT")
            if on_commit is not None and not getattr(con, "joined", False):
                on_commit()
