"""Where the time of the "flagging orders" stage goes, model by model (issue 21).

Runs a first (full) detection, the liabilities and the ledger on a copy of a database that
`shortship load` filled, and times every statement: CPU seconds (user + sys of the process, all
DuckDB threads) and wall seconds. The machine may be shared: compare CPU seconds, repeat, and
give `--threads 1` for steadier figures.

`--memory` also follows DuckDB's memory after every statement (duckdb_memory(), read through a
second cursor): the scratch tables (tag IN_MEMORY_TABLE) and what DuckDB wrote to its temporary
files. The detection runs in one transaction, and DuckDB frees the scratch tables of a
transaction only at its COMMIT (a table dropped inside it keeps its memory): so the scratch of
every model adds up, and what exceeds the memory limit is spilled to disk. It prints the peak of
both and the models that added the most.

Usage: python bench/flag_models.py LOADED.duckdb [--as-of '2026-12-07 00:00:00'] [--threads N] [--top 15]
       [--memory]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pipeline import db, flag, liabilities
from pipeline.clock import parse_as_of
from pipeline.policy import load_policy


MEMORY = ("select coalesce(sum(memory_usage_bytes) filter (where tag = 'IN_MEMORY_TABLE'), 0), "
          "coalesce(sum(temporary_storage_bytes), 0) from duckdb_memory()")


class Timed:
    """The connection, with every execute timed (statement text, CPU s, wall s); with `memory`
    (another cursor of the database), each statement's scratch (bytes of IN_MEMORY_TABLE) and
    temporary storage after it are kept in `memory_log` (statement text, scratch, spilled)."""

    def __init__(self, con, log: list, memory=None):
        self._con, self._log, self._memory = con, log, memory
        self.memory_log: list[tuple[str, int, int]] = []

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args, **kwargs):
        c0, w0 = time.process_time(), time.perf_counter()
        self._con.execute(sql, *args, **kwargs)
        text = " ".join(str(sql).split())
        self._log.append((time.process_time() - c0, time.perf_counter() - w0, text))
        if self._memory is not None:
            self.memory_log.append((text, *self._memory.execute(MEMORY).fetchone()))
        return self

    def fetchone(self):
        return self._con.fetchone()

    def fetchall(self):
        return self._con.fetchall()

    @property
    def description(self):
        return self._con.description


def label(sql: str) -> str:
    """CREATE ... TEMP TABLE fl_x AS ... -> fl_x; INSERT INTO flags BY NAME ... -> flags; else the text."""
    words = sql.split()
    if sql.upper().startswith("CREATE OR REPLACE TEMP TABLE") and len(words) > 5:
        return words[5]
    if sql.upper().startswith("INSERT INTO") and len(words) > 2:
        return f"insert {words[2]}"
    return sql[:60]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--as-of", default="2026-12-07 00:00:00")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--memory", action="store_true", help="follow the scratch tables' memory and the spill")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work.duckdb"
        shutil.copyfile(a.db, work)
        con = db.connect(work, create=False)
        if a.threads:
            con.execute("set threads = ?", [a.threads])
        log: list = []
        tc = Timed(con, log, memory=con.cursor() if a.memory else None)
        pol, as_of, run_id = load_policy(None), parse_as_of(a.as_of), "bench-flag-models"
        c0 = time.process_time()
        flag.flag_orders(tc, as_of, pol, run_id, incremental=True)
        c1 = time.process_time()
        tc.execute("BEGIN")
        liabilities.record_run(tc, run_id, as_of, pol, "bench")
        liabilities.compute_liabilities(tc, as_of, pol, run_id)
        liabilities.append_ledger(tc, run_id, pol)
        tc.execute("COMMIT")
        c2 = time.process_time()
        con.close()
    print(f"flagging: {c1 - c0:.2f} CPU s; liabilities and ledger: {c2 - c1:.2f} CPU s; {len(log)} statements")
    for cpu, wall, sql in sorted(log, reverse=True)[: a.top]:
        print(f"{cpu:7.2f} CPU s {wall:7.2f} wall s  {label(sql)}")
    if a.memory:
        print_memory(tc.memory_log, a.top)


def print_memory(memory_log: list[tuple[str, int, int]], top: int) -> None:
    """The peak of the scratch tables and of the spill, and the statements after which the
    scratch grew the most."""
    if not memory_log:
        return
    mb = 1_000_000
    grew, before = [], 0
    for sql, scratch, _ in memory_log:
        grew.append((scratch - before, sql))
        before = scratch
    print(f"scratch tables: peak {max(m[1] for m in memory_log) // mb} MB; "
          f"spilled to temporary files: peak {max(m[2] for m in memory_log) // mb} MB "
          "(the scratch of one transaction is freed at its COMMIT)")
    for added, sql in sorted(grew, reverse=True)[:top]:
        if added > 0:
            print(f"{added // mb:7d} MB  {label(sql)}")


if __name__ == "__main__":
    main()
