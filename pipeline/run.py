"""`shortship run`: load → flag → liabilities → ledger → outputs → report, in one go.

Safety, in order of what can go wrong:

* One writer per database. `db.connect` takes DuckDB's file lock for the whole run; a second
  run on the same database waits up to `lock_wait` seconds (`--wait`) for it and then fails
  with one `Error:` line. It never shares the file. A database that does not exist is an error
  unless `create` (`--create`): a mistyped `--db` never starts a new ledger.
* The ledger's clock only moves forward: an as-of earlier than the latest as-of that wrote
  the ledger is refused before anything is written (liabilities.check_clock).
* A killed run leaves the database as it was. Everything the run writes to the database (the
  load, flags, liabilities, the ledger lines and the `runs` row) happens in ONE transaction:
  the library steps open their own transactions when called alone (`shortship load`, ...),
  and here they join the run's (see `_JoinedTransaction`). DuckDB writes a transaction to its
  WAL only at COMMIT, so a process killed before it leaves nothing behind.
* Every committed ledger line is published (the outbox, pipeline/export.py). The outputs are
  written, while the transaction is still open, into a hidden staging folder inside the output
  folder; after COMMIT they are published (each file moved over its old copy, files of the
  previous set that this one lacks removed, manifest.json last), and then the published ledger
  lines are marked. A run killed between the commit and the mark leaves lines unmarked: the
  next run (or `shortship export`) publishes them with its own.
* Ctrl-C is never half obeyed: before the commit it rolls the transaction back (database
  unchanged); from the COMMIT to the mark it is deferred (pipeline/interrupts.py), so the
  commit, the publication and the mark finish, and then the run stops with exit 130.
* Every message says what happened to the money: the run records in pipeline/outcome.py what
  it has committed and published as it goes (its new ledger lines and their yuan, the lines
  published), and an error or an interrupt, here or while the CLI prints the summary, says
  that state.
* A file that loses too much to rejects stops the run before anything is committed
  (`max_rejects`, pipeline/load.py RejectLimit).

Test hook (pipeline/interrupts.py `pause_at`): with SHORTSHIP_TEST_PAUSE_AT=<point> (load,
flag, liabilities, ledger, export, commit, publish) the run prints `paused at <point>` on
stderr and sleeps SHORTSHIP_TEST_PAUSE_SECONDS (default 60) there, so a test can kill it at a
known point: `commit` is right after the COMMIT, `publish` right after the outputs were
published and before the lines are marked (`renamed`: pipeline/publish.py, in the middle of the
publication: the changed files moved into place, the manifest not yet written; `summary`:
pipeline/cli.py, while it prints).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable

import duckdb

from pipeline import db, export, interrupts, outcome
from pipeline.clock import china_now, parse_as_of
from pipeline.errors import Interrupted, ShortshipError
from pipeline.flag import FlagSummary, flag_orders
from pipeline.liabilities import (STATUSES, append_ledger, check_clock, compute_liabilities, new_run_id,
                                  record_run)
from pipeline.load import FileResult, RejectLimit, find_exports, load_paths, relabel_sources
from pipeline.policy import FLAG_KINDS, Policy, load_policy
from pipeline.publish import Stage
from pipeline.setdata import EVIDENCE_DIR, SetData, SetInfo

ZERO = Decimal("0.00")

Progress = Callable[[str], None] | None
_pause = interrupts.pause_at  # the test hook (see the module doc)


class _JoinedTransaction:
    """A connection whose BEGIN / COMMIT / ROLLBACK are no-ops, so that a library step that
    opens its own transaction (load_paths, db.transaction) joins the run's transaction instead.
    Everything else goes to the real connection. A step that fails raises, and the run's
    transaction rolls back."""

    joined = True  # db.transaction: a COMMIT here commits nothing (no outcome is recorded)
    _TX = {"BEGIN", "BEGIN TRANSACTION", "START TRANSACTION", "COMMIT", "END", "END TRANSACTION",
           "ROLLBACK", "ABORT", "COMMIT TRANSACTION", "ROLLBACK TRANSACTION"}

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def execute(self, query: Any, *args: Any, **kwargs: Any):
        # (a transaction statement is short: the models, thousands of characters, are not
        # normalised to be compared, 0.2 ms each)
        if (isinstance(query, str) and len(query) < 64
                and " ".join(query.strip().rstrip(";").upper().split()) in self._TX):
            return self
        return self._con.execute(query, *args, **kwargs)

    def begin(self):
        return self

    def commit(self):
        return self

    def rollback(self):
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@dataclass
class RunSummary:
    run_id: str
    as_of: datetime
    policy_id: str
    db_path: str
    out_dir: str
    files: list[FileResult] = field(default_factory=list)
    orders: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)  # liabilities by status (owed ... excluded)
    awaiting_review: int = 0   # flags no data and no person has decided: the rows of review.csv
    decided: int = 0           # flags a person's decision settled (review_decision)
    owed_orders: int = 0
    owed_yuan: Decimal = ZERO          # penalty owed now (compensation_yuan of status owed)
    owed_points: int = 0
    total_yuan: Decimal = ZERO    # penalty + goods refund + freight, all liabilities
    curable_orders: int = 0
    curable_at_risk_yuan: Decimal = ZERO
    nearest_deadline: datetime | None = None
    rejects_this_run: int = 0
    rejects_total: int = 0
    payout_lines: int = 0
    payout_yuan: Decimal = ZERO
    payout_points: int = 0
    published_lines: int = 0  # ledger lines this run published (its own and any left unpublished)
    outputs: list[str] = field(default_factory=list)  # every file of the published set
    written: int = 0    # files of the set this run wrote (new or changed)
    unchanged: int = 0  # files of the set carried over as they were (same content)
    removed: int = 0    # files of the previous set this set no longer has
    data_problems: int = 0  # rows of sql/outputs/data_problems.sql (e.g. a refund above what was paid)
    data_problem_counts: dict[str, int] = field(default_factory=dict)  # the same by problem
    awaiting_data: dict[str, int] = field(default_factory=dict)  # orders of sql/outputs/awaiting.sql by what they wait for
    recomputed: int | None = None  # orders whose detection this run recomputed (None: every order)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    lang: str = "zh"  # the language of the printed summary (--lang)

    @property
    def flagged_total(self) -> int:
        return sum(self.flagged.values())

    @property
    def not_exports(self) -> list[FileResult]:
        """Files (and folders) found in the given folders that are not exports: skipped."""
        return [f for f in self.files if f.status == "not_export"]

    def lines(self) -> list[str]:
        """The printed summary, in the run's language (pipeline/locale)."""
        from pipeline.locale import messages

        m = messages(self.lang)
        _ = m.gettext
        loaded = [f for f in self.files if f.status == "loaded"]
        skipped = sum(1 for f in self.files if f.status == "skipped")
        kinds = ", ".join(f"{m.code('kind', k)} {self.flagged[k]}" for k in FLAG_KINDS if self.flagged.get(k))
        out = [
            _("run %(run)s: as of %(as_of)s, policy %(policy)s, %(s)s s") % {
                "run": self.run_id, "as_of": f"{self.as_of:%Y-%m-%d %H:%M:%S}", "policy": self.policy_id,
                "s": f"{self.seconds:.1f}"},
            _("files: %(loaded)s loaded, %(skipped)s already loaded") % {"loaded": len(loaded), "skipped": skipped}
            + (_(" (%(rows)s rows in, %(ok)s loaded, %(bad)s rejected)") % {
                "rows": sum(f.rows_in for f in loaded), "ok": sum(f.loaded for f in loaded),
                "bad": sum(f.rejected for f in loaded)} if loaded else ""),
            _("orders: %(orders)s; flagged: %(flagged)s") % {"orders": self.orders, "flagged": self.flagged_total}
            + (f" ({kinds})" if kinds else ""),
            _("status: %(counts)s; awaiting review %(review)s (review.csv), decided by review %(decided)s") % {
                "counts": ", ".join(f"{m.code('status', k)} {self.by_status.get(k, 0)}" for k in STATUSES),
                "review": self.awaiting_review, "decided": self.decided},
            _("owed: %(n)s order(s), penalty %(yuan)s yuan (%(points)s points)") % {
                "n": self.owed_orders, "yuan": self.owed_yuan, "points": self.owed_points},
            _("liabilities: %(yuan)s yuan in all (penalties, goods to refund, freight)") % {"yuan": self.total_yuan},
        ]
        if self.curable_orders:
            out.append(_("curable: %(n)s order(s), re-ship to avoid %(yuan)s yuan; nearest deadline %(deadline)s") % {
                "n": self.curable_orders, "yuan": self.curable_at_risk_yuan,
                "deadline": f"{self.nearest_deadline:%Y-%m-%d %H:%M:%S}"})
        else:
            out.append(_("curable: none"))
        out.append(_("ledger: %(n)s new line(s), %(yuan)s yuan (%(points)s points)") % {
            "n": self.payout_lines, "yuan": self.payout_yuan, "points": self.payout_points})
        earlier = self.published_lines - self.payout_lines
        out.append(_("published: %(n)s ledger line(s) in payouts.parquet") % {"n": self.published_lines}
                   + (_(" (%(n)s left unpublished by an earlier run)") % {"n": earlier} if earlier > 0 else ""))
        out.append(_("rejects: %(run)s this run, %(total)s in the database") % {
            "run": self.rejects_this_run, "total": self.rejects_total})
        if self.not_exports:
            out.append(_("skipped, not exports: %(files)s") % {
                "files": "; ".join(f"{f.path} ({f.message})" for f in self.not_exports)})
        if self.awaiting_data:
            out.append(_("awaiting data: %(n)s order(s) (%(what)s): nothing owed or paid until it arrives") % {
                "n": sum(self.awaiting_data.values()),
                "what": ", ".join(f"{m.code('hold', k)} {n}" for k, n in sorted(self.awaiting_data.items()))})
        if self.data_problems:
            out.append(_("data problems: %(n)s (%(what)s): never evidence for money, their orders go to review") % {
                "n": self.data_problems,
                "what": ", ".join(f"{m.code('problem', k)} {n}" for k, n in sorted(self.data_problem_counts.items()))})
        pages, shown = [], []
        for o in self.outputs:  # one pass (240,000 evidence pages: no set rebuilt per output)
            (pages if _is_page(o) else shown).append(o)
        if pages:  # one entry for the evidence pages, not one per order
            shown.append(_("%(folder)s (%(n)s pages)") % {"folder": str(Path(pages[0]).parent.parent),
                                                          "n": len(pages)})
        out.append(_("outputs: %(files)s") % {"files": ", ".join(shown)})
        out.append(_("output files: %(written)s written (new or changed), %(unchanged)s unchanged, %(removed)s removed")
                   % {"written": self.written, "unchanged": self.unchanged, "removed": self.removed})
        return out

    def to_json(self) -> dict[str, Any]:
        """One JSON object for schedulers: money as strings, times as ISO text."""
        loaded = [f for f in self.files if f.status == "loaded"]
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(sep=" "),
            "policy": self.policy_id,
            "db": self.db_path,
            "out": self.out_dir,
            "files": {
                "loaded": len(loaded),
                "skipped": sum(1 for f in self.files if f.status == "skipped"),
                "rows_in": sum(f.rows_in for f in loaded),
                "rows_loaded": sum(f.loaded for f in loaded),
                "rows_rejected": sum(f.rejected for f in loaded),
            },
            "orders": self.orders,
            "flagged": {"total": self.flagged_total, **{k: self.flagged.get(k, 0) for k in FLAG_KINDS}},
            "status": {k: self.by_status.get(k, 0) for k in STATUSES},
            "review": {"awaiting": self.awaiting_review, "decided": self.decided},
            "owed": {
                "orders": self.owed_orders,
                "yuan": str(self.owed_yuan),
                "points": self.owed_points,
            },
            "total_yuan": str(self.total_yuan),
            "curable": {
                "orders": self.curable_orders,
                "at_risk_yuan": str(self.curable_at_risk_yuan),
                "nearest_deadline": self.nearest_deadline.isoformat(sep=" ") if self.nearest_deadline else None,
            },
            "ledger": {"lines": self.payout_lines, "yuan": str(self.payout_yuan), "points": self.payout_points,
                       "published": self.published_lines},
            "rejects": {"this_run": self.rejects_this_run, "total": self.rejects_total},
            "skipped": [{"path": f.path, "reason": f.message} for f in self.not_exports],
            "data_problems": self.data_problems,
            "data_problem_counts": dict(sorted(self.data_problem_counts.items())),
            "awaiting_data": {"orders": sum(self.awaiting_data.values()), **dict(sorted(self.awaiting_data.items()))},
            # the files of the set; the evidence pages (thousands) as one count
            "outputs": [o for o in self.outputs if not _is_page(o)],
            "evidence_pages": sum(1 for o in self.outputs if _is_page(o)),
            "recomputed_orders": self.recomputed,
            "output_files": {"written": self.written, "unchanged": self.unchanged, "removed": self.removed},
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _is_page(path: str) -> bool:
    """An evidence page (evidence/NN/<order_id>.html) of the output set (string work only: a run
    lists one per order it has a page for, 240,000 in a large one)."""
    return os.path.basename(os.path.dirname(os.path.dirname(path))) == EVIDENCE_DIR


def _fill_from_db(s: RunSummary, con, data: SetData) -> None:
    s.orders = con.execute("select count(*) from orders").fetchone()[0]
    s.flagged = dict(con.execute("select kind, count(*) from flags group by kind").fetchall())
    s.by_status = dict(con.execute("select status, count(*) from liabilities group by status").fetchall())
    s.awaiting_review, s.decided = con.execute(
        "select count(*) filter (where responsibility = 'undetermined' and decision is null "
        "and (hold is null or hold = 'data_problem')), "
        "count(*) filter (where decision is not null) from flags").fetchone()
    (s.owed_orders, s.owed_yuan, s.owed_points, s.total_yuan, s.curable_orders,
     s.curable_at_risk_yuan, s.nearest_deadline) = con.execute(
        """select count(*) filter (where status = 'owed'),
                  coalesce(sum(compensation_yuan) filter (where status = 'owed'), 0)::decimal(18, 2),
                  coalesce(sum(points) filter (where status = 'owed'), 0)::bigint,
                  coalesce(sum(total_yuan), 0)::decimal(18, 2),
                  count(*) filter (where status = 'curable'),
                  coalesce(sum(at_risk_yuan) filter (where status = 'curable'), 0)::decimal(18, 2),
                  min(deadline) filter (where status = 'curable')
           from liabilities"""
    ).fetchone()
    s.payout_lines, s.payout_yuan, s.payout_points = con.execute(
        """select count(*), coalesce(sum(yuan), 0)::decimal(18, 2), coalesce(sum(points), 0)::bigint
           from payouts where run_id = ?""",
        [s.run_id],
    ).fetchone()
    s.rejects_total = con.execute("select count(*) from rejects").fetchone()[0]
    # the counts of sql/outputs/data_problems.sql and awaiting.sql: the output set's (computed once)
    s.data_problem_counts = dict(data.problems[1])
    s.data_problems = sum(s.data_problem_counts.values())
    s.awaiting_data = dict(data.awaiting[1])


@dataclass
class StepsResult:
    files: list[FileResult]  # one per file or sheet: loaded, skipped, or not an export
    rejected: int            # rows this run rejected: by its loads, and decisions its flagging refused
    flags: FlagSummary


def run_steps(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    clock: datetime,
    pol: Policy,
    run_id: str,
    command: str,
    progress: Progress = None,
    keep_raw: bool = False,
    say: Callable[[str], None] = lambda msg: None,
    max_rejects: RejectLimit | str | None = None,
    sources: tuple[str, str] | None = None,
    plan_lightly: bool = False,
) -> StepsResult:
    """Everything a run writes to the database, in order, inside the caller's open transaction:
    the ledger's clock checked, the exports loaded, the orders flagged, the liabilities
    computed, the ledger appended (new / top_up / reversal), the run recorded. `shortship run`
    and a Spark task (pipeline/spark/shop.py) both run exactly this; a new step goes here.
    A file that loses more rows to rejects than `max_rejects` allows (None: the default limit)
    stops it with a ShortshipError, before anything is committed. `sources` (local folder,
    shown name): the files loaded from a temporary copy are named where they lie
    (load.relabel_sources; a Spark task), before anything quotes them. `plan_lightly`: when
    the database holds few orders after the load (TINY_RUN_ORDERS), the statements after it
    are not optimised (db.plan_lightly); the caller sets the optimiser back if it wants it."""
    check_clock(con, clock)
    tx = _JoinedTransaction(con)
    say("loading exports")
    files = load_paths(tx, paths, progress=progress, keep_raw=keep_raw, max_rejects=max_rejects)
    if sources is not None:
        relabel_sources(con, *sources)
    rejected = sum(f.rejected for f in files if f.status == "loaded")
    _pause("load")
    if plan_lightly and con.execute("select count(*) from orders").fetchone()[0] <= TINY_RUN_ORDERS:
        db.plan_lightly(con)
    say("flagging orders")
    flagged = flag_orders(tx, clock, pol, run_id, progress=progress, incremental=True)
    # decisions for orders this run does not flag move to rejects during flagging
    rejected += flagged.decisions_rejected
    _pause("flag")
    say("computing liabilities")
    compute_liabilities(tx, clock, pol, run_id)
    _pause("liabilities")
    say("appending the payout ledger")
    append_ledger(tx, run_id, pol)
    record_run(con, run_id, clock, pol, command)
    _pause("ledger")
    return StepsResult(files=files, rejected=rejected, flags=flagged)


def run_pipeline(
    paths: Iterable[str | Path],
    db_path: str | Path,
    out_dir: str | Path,
    policy: Policy | str | None = None,
    as_of: datetime | str | None = None,
    xlsx: bool = False,
    progress: Progress = None,
    lock_wait: float = db.LOCK_WAIT_SECONDS,
    command: str | None = None,
    keep_raw: bool = False,
    create: bool = False,
    tmp: str | Path | None = None,
    lang: str = "zh",
    max_rejects: RejectLimit | str | None = None,
) -> RunSummary:
    """Load the exports under `paths`, flag, compute liabilities, append the ledger, write the
    outputs and the report. Raises ShortshipError (one line) on anything the user can fix; the
    database and `out_dir` are then as they were (the message says so, or says what the run
    had committed and published when it stopped after its commit: pipeline/outcome.py).
    `max_rejects`: how much a file may lose to rejects (pipeline/load.py RejectLimit; None:
    the default)."""
    t0 = time.monotonic()
    outcome.reset()
    paths = [Path(p) for p in paths]
    if not paths:
        raise ShortshipError("no input paths given")
    # cheap checks first, before waiting for the database
    found, _ = find_exports(paths)
    limit = RejectLimit.parse(max_rejects)
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    clock = parse_as_of(as_of)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ShortshipError(f"{out_dir}: --out is a file, not a folder")
    if progress is not None:
        user_progress = progress

        def progress(msg: str) -> None:  # stage lines with the time since the start
            user_progress(f"[{time.monotonic() - t0:6.1f} s] {msg}")

    tell = progress or (lambda msg: None)
    marks: list[tuple[str, float]] = []

    def say(msg: str) -> None:  # a stage begins: tell the terminal, time the one before
        marks.append((msg, time.monotonic()))
        tell(msg)

    started = china_now()
    run_id = new_run_id(started)
    summary = RunSummary(run_id=run_id, as_of=clock, policy_id=pol.id, db_path=str(db_path), out_dir=str(out_dir),
                         lang=lang)
    command = command or "run " + " ".join(str(p) for p in paths)
    info = SetInfo(run_id=run_id, batch_id=run_id, as_of=clock, policy=pol, lang=lang, xlsx=xlsx)

    con = db.connect(db_path, wait=lock_wait, create=create, tmp=tmp)
    if _small(db_path, found):
        con.execute("set threads = 1")
    stage: Stage | None = None
    committed = False
    try:
        stage = Stage(out_dir, run_id)
        con.execute("BEGIN TRANSACTION")
        try:
            steps = run_steps(con, paths, clock, pol, run_id, command, progress, keep_raw, say, limit,
                              plan_lightly=True)
            summary.files, summary.rejects_this_run = steps.files, steps.rejected
            summary.recomputed = steps.flags.recomputed
            say("writing outputs")
            data = export.stage_outputs(con, stage, info, progress)
            _fill_from_db(summary, con, data)
            _pause("export")
            say("committing")
        except BaseException:
            _rollback(con)
            raise
        with interrupts.deferred():
            con.execute("COMMIT")
            committed = True
            outcome.committed("the run", lines=summary.payout_lines, yuan=summary.payout_yuan)
            _pause("commit")
            say("publishing outputs")
            done = export.publish(stage, export.manifest_header(info))
            summary.outputs = done.names()
            summary.written, summary.unchanged, summary.removed = done.written, done.unchanged, done.removed
            published, published_yuan = export.published_payouts(con, out_dir)
            outcome.published(len(published), published_yuan)
            _pause("publish")
            export.mark_published(con, info.batch_id, published)
            outcome.marked()
            summary.published_lines = len(published)
    except BaseException as e:
        raise _run_error(e, db_path, committed) from None
    finally:
        if stage is not None:
            stage.remove()
        con.close()
    summary.seconds = time.monotonic() - t0
    marks.append(("end", time.monotonic()))
    summary.timings = {name: b - a for (name, a), (_, b) in zip(marks, marks[1:])}
    return summary


# A run whose database and input files together are smaller than this is a small shop's: its
# statements cost their planning, not their execution, and DuckDB's second worker thread only
# adds the cost of handing work over (some 0.07 s of CPU in a run of 200 orders)
SMALL_RUN_BYTES = 16 << 20
# A database holding at most this many orders after the load is a tiny shop's (a few days of
# a few hundred orders a day, the tests' inputs): DuckDB's optimiser costs its flagging and
# outputs more than it saves them (db.plan_lightly: some 0.25 s of CPU of 1.5 in a run of 200
# orders). Counted in orders, not bytes: one run of 200 orders leaves a database of 4.7 MB.
# Not for the whole load: without the optimiser the numbering of an order's lines is a join by
# WHERE, its cost the square of the lines (1.3 s at 20,000 orders); only a tiny file's staging
# insert goes without it (pipeline/load.py, db.TINY_ROWS).
TINY_RUN_ORDERS = 2000


def _small(db_path, found) -> bool:
    total = 0
    for p in [Path(db_path), Path(f"{db_path}.wal"), *(f.path for f in found)]:
        try:
            total += p.stat().st_size
        except OSError:
            pass  # not there (a new database, no WAL), or gone: nothing to read
        if total >= SMALL_RUN_BYTES:
            return False
    return True


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # the transaction is gone with the error; nothing was committed either way


def _run_error(e: BaseException, db_path, committed: bool) -> BaseException:
    """What a failed run says: one line, and what the run had committed and published
    (pipeline/outcome.py: nothing; committed, not yet published; committed and published)."""
    after = outcome.describe()
    if isinstance(e, KeyboardInterrupt) or interrupts.interrupted():
        # a signal inside the critical section waited for its end: the state says how far it got
        return outcome.tell(Interrupted(f"interrupted; {after}"))
    if isinstance(e, ShortshipError):
        return outcome.tell(ShortshipError(f"{e}; {after}")) if committed else e
    if isinstance(e, duckdb.Error):
        return outcome.tell(ShortshipError(f"{db_path}: run failed ({db._first_line(e)}); {after}"))
    if isinstance(e, OSError):
        where = e.filename if e.filename is not None else db_path
        return outcome.tell(ShortshipError(f"{where}: {e.strerror or e}; {after}"))
    return e
