"""The `shortship` command: thin Click commands over the library. Each parses its options,
calls one library function and prints the result; errors are one `Error:` line on stderr."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from pipeline.errors import ShortshipError
from pipeline.io.headers import KINDS


def fail_cleanly(fn):
    """Turn a ShortshipError into `Error: ...` and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ShortshipError as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def db_option(fn):
    return click.option(
        "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
        default=Path("data") / "shortship.duckdb", show_default=True, help="DuckDB file.",
    )(fn)


def out_option(fn):
    return click.option(
        "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
        default=Path("out"), show_default=True, help="Output folder.",
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


def open_existing(db_path, lock_wait=None, read_only=False, first="shortship load"):
    """A connection to a database that must already exist (steps after `load`)."""
    from pipeline import db

    if not Path(db_path).is_file():
        raise ShortshipError(f"{db_path}: no such database (run `{first}` first)")
    wait = db.LOCK_WAIT_SECONDS if lock_wait is None else lock_wait
    return db.connect(db_path, wait=wait, read_only=read_only)


def progress_printer():
    """Progress lines on a terminal, nothing in cron."""
    if sys.stderr.isatty():
        return lambda msg: click.echo(msg, err=True)
    return None


@click.group()
@click.version_option(package_name="shortship")
def cli():
    """shortship: find short, wrong and missed shipments and what the shop owes."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Kind of every file (default: from its header).")
@db_option
@keep_raw_option
@fail_cleanly
def load(paths, kind, db_path, keep_raw):
    """Load export files (or every export in folders) into the database."""
    from pipeline import db
    from pipeline.load import load_paths

    con = db.connect(db_path)
    try:
        results = load_paths(con, paths, kind=kind, progress=progress_printer(), keep_raw=keep_raw)
    finally:
        con.close()
    for r in results:
        click.echo(r.line())


@cli.command()
@db_option
@as_of_option
@policy_option
@fail_cleanly
def liabilities(db_path, as_of, policy):
    """Work out what the shop owes for each flagged order and append the payout ledger."""
    from pipeline import db
    from pipeline.clock import parse_as_of
    from pipeline.liabilities import append_ledger, compute_liabilities, new_run_id, record_run
    from pipeline.policy import load_policy

    pol = load_policy(policy)
    when = parse_as_of(as_of)
    con = open_existing(db_path, first="shortship load` and `shortship flag")
    try:
        run_id = new_run_id()
        with db.transaction(con):
            record_run(con, run_id, when, pol, "liabilities")
            summary = compute_liabilities(con, when, pol, run_id)
            lines = append_ledger(con, run_id, pol)
    finally:
        con.close()
    for text in summary.lines():
        click.echo(text)
    click.echo(f"payout lines written: {len(lines)} (run {run_id})")


def wait_option(fn):
    return click.option(
        "--wait", "lock_wait", type=click.FloatRange(min=0), default=30.0, show_default=True,
        envvar="SHORTSHIP_LOCK_WAIT",
        help="Seconds to wait for another shortship process using the database (env SHORTSHIP_LOCK_WAIT).",
    )(fn)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@db_option
@out_option
@policy_option
@as_of_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (for schedulers).")
@click.option("--xlsx", is_flag=True, help="Also write liabilities.xlsx for finance.")
@keep_raw_option
@wait_option
@fail_cleanly
def run(paths, db_path, out_dir, policy, as_of, as_json, xlsx, keep_raw, lock_wait):
    """Load, flag, compute liabilities, append the ledger, write outputs and the report."""
    import json

    from pipeline.run import run_pipeline

    summary = run_pipeline(
        paths, db_path, out_dir, policy=policy, as_of=as_of, xlsx=xlsx,
        progress=progress_printer(), lock_wait=lock_wait, keep_raw=keep_raw,
    )
    if as_json:
        click.echo(json.dumps(summary.to_json(), ensure_ascii=False, sort_keys=False))
    else:
        for text in summary.lines():
            click.echo(text)


@cli.command("export")
@db_option
@out_option
@click.option("--xlsx", is_flag=True, help="Also write liabilities.xlsx for finance.")
@click.option("--run-id", default=None, help="Ledger lines of this run in payouts.parquet (default: the latest run).")
@wait_option
@fail_cleanly
def export_cmd(db_path, out_dir, xlsx, run_id, lock_wait):
    """Write the Parquet outputs (flags, liabilities, payouts, summary, rejects)."""
    from pipeline.export import export_outputs

    con = open_existing(db_path, lock_wait, read_only=True, first="shortship run` or `shortship load")
    try:
        written = export_outputs(con, out_dir, run_id=run_id, xlsx=xlsx, progress=progress_printer())
    finally:
        con.close()
    for p in written:
        click.echo(str(p))


@cli.command()
@db_option
@out_option
@click.option("--run-id", default=None, help="The run whose ledger lines are counted (default: the latest run).")
@wait_option
@fail_cleanly
def report(db_path, out_dir, run_id, lock_wait):
    """Write report.html: one page, readable offline."""
    from pipeline.report import report_to

    con = open_existing(db_path, lock_wait, read_only=True, first="shortship run` or `shortship load")
    try:
        path = report_to(con, out_dir, run_id=run_id)
    finally:
        con.close()
    click.echo(str(path))


@cli.command("flag")
@db_option
@as_of_option
@policy_option
@fail_cleanly
def flag_cmd(db_path, as_of, policy):
    """Flag short, wrong, empty, lost and unshipped orders (rebuilds the flags table)."""
    from pipeline.clock import parse_as_of
    from pipeline.flag import flag_orders, new_run_id
    from pipeline.policy import load_policy

    pol = load_policy(policy)
    when = parse_as_of(as_of)
    con = open_existing(db_path)
    try:
        summary = flag_orders(con, when, pol, new_run_id(when), command="flag", progress=progress_printer())
    finally:
        con.close()
    for text in summary.lines():
        click.echo(text)


@cli.command("evaluate")
@click.option("--truth", "truth_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The generator's truth.parquet.")
@db_option
@fail_cleanly
def evaluate_cmd(truth_path, db_path):
    """Precision and recall of the flags against a generator's ground truth."""
    from pipeline.evaluate import evaluate

    con = open_existing(db_path, read_only=True)
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
              "excel_dates, sci_ids, split_daily.")
@click.option("--split-daily", is_flag=True, help="Same as the split_daily quirk: overlapping daily exports.")
@click.option("--rates", default=None, help="Case rates, e.g. 'all=0.01,serial_claimer=0.02'.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default: up to 2).")
@click.option("--overwrite", is_flag=True, help="Replace files an earlier generate left in --out.")
@fail_cleanly
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
@fail_cleanly
def spark_run_cmd(inputs, out_dir, as_of, policy, master, partitions, as_json):
    """Run many shops on Apache Spark: INPUT holds one folder per shop (needs shortship[spark])."""
    import json

    from pipeline.spark.job import spark_run

    summary = spark_run(inputs, out_dir, as_of=as_of, policy=policy, master=master, partitions=partitions,
                        progress=progress_printer())
    if as_json:
        click.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        for text in summary.lines():
            click.echo(text)
    if summary.failed:
        first = summary.failed[0]
        raise ShortshipError(f"{len(summary.failed)} shop(s) failed and were left as they were "
                             f"(first: shop {first.shop}: {first.error})")

def main():
    cli(prog_name="shortship")


if __name__ == "__main__":
    main()
