"""The `shortship` command: thin Click commands over the library. Each parses its options,
calls one library function and prints the result.

Errors end in ONE line on stderr, never a traceback, for every command alike
(`ShortshipGroup.invoke` is the one handler): `Error: ...` and exit 1 for a problem the user
can fix (ShortshipError), a system error (permissions, a full disk, a read-only folder: the
OSError's file and reason) or a database error; Ctrl-C ends with one line and exit 130
(SIGTERM 143). The line says what the command had made permanent when it stopped (nothing;
committed, not yet published; committed and published, with the ledger lines and yuan), read
from the record the library keeps as it goes (pipeline/outcome.py), also when the signal lands
while the summary prints. Set SHORTSHIP_DEBUG=1 to see the traceback of an unexpected error.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pipeline.errors import Interrupted, ShortshipError
from pipeline.io.headers import KINDS

DEFAULT_DB = Path("data") / "shortship.duckdb"


def _one_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _os_error_line(e: OSError) -> str:
    where = e.filename if e.filename is not None else None
    reason = e.strerror or _one_line(e) or type(e).__name__
    return f"{where}: {reason}" if where is not None else reason


def _with_state(e: BaseException, message: str) -> str:
    """`message`, and what the command had committed or published when it failed, when it had
    (an error before anything was committed keeps its own words)."""
    from pipeline import outcome

    if outcome.anything() and not outcome.told(e):
        return f"{message}; {outcome.describe()}"
    return message


def _print(lines) -> None:
    """A command's summary on stdout. Test hook: SHORTSHIP_TEST_PAUSE_AT=summary pauses after
    its first line (pipeline/interrupts.py), to signal a command while it prints."""
    from pipeline.interrupts import pause_at

    for i, text in enumerate(lines):
        click.echo(text)
        if i == 0:
            pause_at("summary")


class ShortshipGroup(click.Group):
    """The one place where exceptions become one line and an exit status."""

    def invoke(self, ctx: click.Context):
        from pipeline import interrupts, outcome

        outcome.reset()
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            self._fail(interrupts.exit_status(), f"interrupted; {outcome.describe()}")
        except BaseException as e:  # noqa: BLE001 - this is the last line of defence
            if isinstance(e, SystemExit):
                raise
            if isinstance(e, Interrupted):
                self._fail(interrupts.exit_status(), _with_state(e, _one_line(e)))
            if interrupts.interrupted():
                # DuckDB reports an interrupt inside a query as "Query interrupted"
                self._fail(interrupts.exit_status(), f"interrupted; {outcome.describe()}")
            if isinstance(e, ShortshipError):
                self._fail(1, _with_state(e, _one_line(e)))
            if isinstance(e, OSError):
                self._fail(1, _with_state(e, _os_error_line(e)))
            import duckdb

            if isinstance(e, duckdb.Error):
                self._fail(1, _with_state(e, f"database error: {_one_line(e)}"))
            if isinstance(e, MemoryError):
                self._fail(1, _with_state(e, "out of memory (set SHORTSHIP_MEMORY_LIMIT lower, or free memory)"))
            if os.environ.get("SHORTSHIP_DEBUG"):
                raise
            self._fail(1, _with_state(
                e, f"unexpected {type(e).__name__}: {_one_line(e)} (set SHORTSHIP_DEBUG=1 for details)"))

    @staticmethod
    def _fail(status: int, message: str):
        click.echo(f"Error: {message}", err=True)
        raise click.exceptions.Exit(status)


# --- options shared by the commands -----------------------------------------------------------

def db_option(fn):
    # a plain path: a folder or a missing file is reported by pipeline.db in one line
    return click.option(
        "--db", "db_path", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
        help="DuckDB file.",
    )(fn)


def create_option(fn):
    return click.option(
        "--create", is_flag=True,
        help="Start a new database if --db does not exist (without it a missing database is an error).",
    )(fn)


def out_option(fn):
    return click.option(
        "--out", "out_dir", type=click.Path(path_type=Path), default=Path("out"), show_default=True,
        help="Output folder.",
    )(fn)


def tmp_option(fn):
    return click.option(
        "--tmp", "tmp_dir", type=click.Path(path_type=Path), default=None, envvar="SHORTSHIP_TMP",
        help="Folder for temporary files (default: .shortship-tmp beside the database; env SHORTSHIP_TMP).",
    )(fn)


def lang_option(fn):
    return click.option(
        "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, envvar="SHORTSHIP_LANG",
        help="Language of the report, the workbook and the files for people.",
    )(fn)


def policy_option(fn):
    return click.option(
        "--policy", default="tmall", show_default=True,
        help="Policy preset (tmall, taobao, jd) or a TOML file.",
    )(fn)


def keep_raw_option(fn):
    return click.option(
        "--keep-raw", is_flag=True,
        help="Also keep every record as exported (all text, unknown columns too) in raw_<kind>.",
    )(fn)


def as_of_option(fn):
    return click.option(
        "--as-of", "as_of", default=None,
        help="The run's clock, China time: YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS' (default: now).",
    )(fn)


def max_rejects_option(fn):
    return click.option(
        "--max-rejects", "max_rejects", default=None, metavar="LIMIT",
        help="How much of a file may be rejected before the load stops with nothing committed: a share (5%), "
             "a count of rows (2000), both (5%,2000) or none. Default 2%,1000: more than 2% of the file's rows "
             "and more than 10 rows, or more than 1,000 rows.",
    )(fn)


def wait_option(fn):
    return click.option(
        "--wait", "lock_wait", type=click.FloatRange(min=0), default=30.0, show_default=True,
        envvar="SHORTSHIP_LOCK_WAIT",
        help="Seconds to wait for another shortship process using the database (env SHORTSHIP_LOCK_WAIT).",
    )(fn)


def writer_options(fn):
    """--db, --create, --wait and --tmp: every command that writes to a database."""
    for opt in (tmp_option, wait_option, create_option, db_option):
        fn = opt(fn)
    return fn


def reader_options(fn):
    for opt in (wait_option, db_option):
        fn = opt(fn)
    return fn


def progress_printer():
    """Progress lines on a terminal, nothing in cron."""
    if sys.stderr.isatty():
        return lambda msg: click.echo(msg, err=True)
    return None


@click.group(cls=ShortshipGroup)
@click.version_option(package_name="shortship")
def cli():
    """shortship: find short, wrong and missed shipments and what the shop owes."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Kind of every file (default: from its header).")
@writer_options
@keep_raw_option
@max_rejects_option
def load(paths, kind, db_path, create, lock_wait, tmp_dir, keep_raw, max_rejects):
    """Load export files (or every export in folders) into the database."""
    from pipeline import db
    from pipeline.load import RejectLimit, find_exports, load_paths

    find_exports(paths)  # a mistyped path fails before the database is touched
    limit = RejectLimit.parse(max_rejects)
    con = db.connect(db_path, wait=lock_wait, create=create, tmp=tmp_dir)
    try:
        results = load_paths(con, paths, kind=kind, progress=progress_printer(), keep_raw=keep_raw,
                             max_rejects=limit)
    finally:
        con.close()
    for r in results:
        if r.status == "not_export":  # found in a folder, not an export: skipped
            click.echo(f"warning: {r.line()}", err=True)
    _print(r.line() for r in results if r.status != "not_export")


@cli.command("flag")
@writer_options
@as_of_option
@policy_option
def flag_cmd(db_path, create, lock_wait, tmp_dir, as_of, policy):
    """Flag short, wrong, empty, lost and unshipped orders (rebuilds the flags table)."""
    from pipeline import db
    from pipeline.clock import parse_as_of
    from pipeline.flag import flag_orders, new_run_id
    from pipeline.policy import load_policy

    pol = load_policy(policy)
    when = parse_as_of(as_of)
    con = db.connect(db_path, wait=lock_wait, create=create, tmp=tmp_dir)
    try:
        summary = flag_orders(con, when, pol, new_run_id(when), command="flag", progress=progress_printer())
    finally:
        con.close()
    _print(summary.lines())


@cli.command()
@writer_options
@as_of_option
@policy_option
def liabilities(db_path, create, lock_wait, tmp_dir, as_of, policy):
    """Work out what the shop owes for each flagged order and append the payout ledger."""
    from pipeline import db
    from pipeline.clock import parse_as_of
    from pipeline.liabilities import liabilities_step
    from pipeline.policy import load_policy

    pol = load_policy(policy)
    when = parse_as_of(as_of)
    con = db.connect(db_path, wait=lock_wait, create=create, tmp=tmp_dir)
    try:
        summary, lines, run_id = liabilities_step(con, when, pol)
    finally:
        con.close()
    _print([*summary.lines(),
            f"payout lines written: {len(lines)} (run {run_id}); `shortship export` or the next run publishes them"])


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@writer_options
@out_option
@policy_option
@as_of_option
@lang_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (for schedulers).")
@click.option("--xlsx", is_flag=True, help="Also write liabilities.xlsx for finance.")
@keep_raw_option
@max_rejects_option
def run(paths, db_path, create, lock_wait, tmp_dir, out_dir, policy, as_of, lang, as_json, xlsx, keep_raw,
        max_rejects):
    """Load, flag, compute liabilities, append the ledger, write outputs and the report."""
    import json

    from pipeline.run import run_pipeline

    summary = run_pipeline(
        paths, db_path, out_dir, policy=policy, as_of=as_of, xlsx=xlsx, progress=progress_printer(),
        lock_wait=lock_wait, keep_raw=keep_raw, create=create, tmp=tmp_dir, lang=lang, max_rejects=max_rejects,
    )
    for r in summary.not_exports:  # found in a folder, not an export: skipped
        click.echo(f"warning: {r.line()}", err=True)
    if as_json:
        _print([json.dumps(summary.to_json(), ensure_ascii=False, sort_keys=False)])
    else:
        _print(summary.lines())


@cli.command("export")
@writer_options
@out_option
@lang_option
@click.option("--xlsx", is_flag=True, help="Also write liabilities.xlsx for finance.")
def export_cmd(db_path, create, lock_wait, tmp_dir, out_dir, lang, xlsx):
    """Write the outputs from what the database holds and publish the ledger lines not yet published."""
    from pipeline import db
    from pipeline.export import export_outputs

    con = db.connect(db_path, wait=lock_wait, create=create, tmp=tmp_dir)
    try:
        written = export_outputs(con, out_dir, xlsx=xlsx, progress=progress_printer(), lang=lang)
    finally:
        con.close()
    _print(str(p) for p in written)


@cli.command()
@reader_options
@out_option
@lang_option
@click.option("--run-id", default=None, help="The run whose ledger lines are counted (default: the latest run).")
def report(db_path, lock_wait, out_dir, lang, run_id):
    """Write report.html: one page, readable offline."""
    from pipeline import db
    from pipeline.export import report_to

    con = db.connect(db_path, wait=lock_wait, read_only=True, create=False)
    try:
        path = report_to(con, out_dir, run_id=run_id, lang=lang)
    finally:
        con.close()
    click.echo(str(path))


@cli.command("evaluate")
@click.option("--truth", "truth_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The generator's truth.parquet.")
@reader_options
def evaluate_cmd(truth_path, db_path, lock_wait):
    """Precision and recall of the flags against a generator's ground truth."""
    from pipeline import db
    from pipeline.evaluate import evaluate

    con = db.connect(db_path, wait=lock_wait, read_only=True, create=False)
    try:
        report = evaluate(con, truth_path)
    finally:
        con.close()
    for text in report.lines():
        click.echo(text)


@cli.command("generate")
@click.option("--orders", type=click.IntRange(min=1), required=True, help="Number of orders.")
@click.option("--seed", type=int, required=True, help="Random seed: one seed, byte-identical files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the exports, shipments file and truth.parquet.")
@click.option("--format", "fmt", type=click.Choice(["legacy", "current"]), default="legacy", show_default=True,
              help="legacy: the 2017 layouts; current: 千牛-style layouts.")
@click.option("--encoding", type=click.Choice(["gbk", "utf-8"], case_sensitive=False), default=None,
              help="Encoding of the Taobao exports (default: gbk for legacy, utf-8 for current).")
@click.option("--shops", type=click.IntRange(1, 200), default=3, show_default=True, help="Number of shops.")
@click.option("--start", default=None, help="First day of the period, YYYY-MM-DD (default 2017-05-01 / 2025-05-01).")
@click.option("--days", type=click.IntRange(1, 3660), default=30, show_default=True, help="Length of the period.")
@click.option("--quirks", default="", help="Comma-separated: excel_ids, trailing_comma, header_spaces, bom, "
              "excel_dates, sci_ids, split_daily, resaved_ids (ids quoted as a re-saved copy has them).")
@click.option("--split-daily", is_flag=True, help="Same as the split_daily quirk: overlapping daily exports.")
@click.option("--rates", default=None, help="Case rates, e.g. 'all=0.01,serial_claimer=0.02'.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default: up to 2).")
@click.option("--overwrite", is_flag=True, help="Replace files an earlier generate left in --out.")
def generate_cmd(orders, seed, out_dir, fmt, encoding, shops, start, days, quirks, split_daily, rates, workers,
                 overwrite):
    """Synthetic exports with ground truth (truth.parquet) for tests and benchmarks."""
    import datetime as dt

    from pipeline.generate import generate, parse_rates_option

    first = None
    if start:
        try:
            first = dt.date.fromisoformat(start)
        except ValueError:
            raise ShortshipError(f"--start {start!r}: expected a date as YYYY-MM-DD") from None
    q = [x.strip() for x in quirks.split(",") if x.strip()]
    if split_daily and "split_daily" not in q:
        q.append("split_daily")
    summary = generate(out_dir, orders, seed, fmt=fmt, encoding=encoding, shops=shops, start=first, days=days,
                       rates=parse_rates_option(rates), quirks=q, progress=progress_printer(), workers=workers,
                       overwrite=overwrite)
    for text in summary.lines_text():
        click.echo(text)


@cli.command("evidence")
@click.argument("order_ids", nargs=-1, required=True)
@reader_options
@out_option
@lang_option
def evidence_cmd(order_ids, db_path, lock_wait, out_dir, lang):
    """Write evidence/NN/<ORDER_ID>.html for each order: its timeline and source rows, for 举证."""
    from pipeline import db
    from pipeline.export import evidence_to

    con = db.connect(db_path, wait=lock_wait, read_only=True, create=False)
    try:
        written = evidence_to(con, list(order_ids), out_dir, lang=lang)
    finally:
        con.close()
    for p in written:
        click.echo(str(p))


@cli.command("spark-run")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True,
              help="Output folder: a path or a URI Spark writes (hdfs://..., s3a://...).")
@as_of_option
@policy_option
@click.option("--master", default=None,
              help="Spark master URL, e.g. local[2], yarn, spark://host:7077 (default: spark-submit's, else local[*]).")
@click.option("--partitions", type=click.IntRange(min=1), default=None,
              help="Tasks the shops are spread over (default: one per shop, at most 10000).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (for schedulers).")
@max_rejects_option
@lang_option
def spark_run_cmd(inputs, out_dir, as_of, policy, master, partitions, as_json, max_rejects, lang):
    """Run many shops on Apache Spark: INPUT holds one folder per shop (needs shortship[spark])."""
    import json

    from pipeline.spark.job import spark_run

    summary = spark_run(inputs, out_dir, as_of=as_of, policy=policy, master=master, partitions=partitions,
                        progress=progress_printer(), max_rejects=max_rejects, lang=lang)
    if as_json:
        _print([json.dumps(summary.to_json(), ensure_ascii=False)])
    else:
        _print(summary.lines())
    if summary.failed:
        first = summary.failed[0]
        raise ShortshipError(f"{len(summary.failed)} shop(s) failed and were left as they were "
                             f"(first: shop {first.shop}: {first.error})")


def main():
    from pipeline import interrupts

    # numpy (imported by pyarrow) starts a pool of OpenBLAS threads at import, one per core, that
    # shortship never uses (no linear algebra): about 0.05 s of CPU at each start. A value the
    # user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    interrupts.install()
    try:
        cli(prog_name="shortship")  # ends with SystemExit
    finally:
        # the process ends here: the interpreter's last collections would walk every object of
        # the modules a run imported (duckdb, pyarrow, numpy, jinja2: some 0.05 s of CPU at each
        # exit) to free memory the operating system takes back anyway. Frozen objects are not
        # walked; everything the command wrote is closed and flushed before this point.
        import gc

        gc.freeze()


if __name__ == "__main__":
    main()
