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


def as_of_option(fn):
    return click.option(
        "--as-of", "as_of", default=None,
        help="The run's clock, China time: YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS' (default: now).",
    )(fn)


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
@fail_cleanly
def load(paths, kind, db_path):
    """Load export files (or every export in folders) into the database."""
    from pipeline import db
    from pipeline.load import load_paths

    con = db.connect(db_path)
    try:
        results = load_paths(con, paths, kind=kind, progress=progress_printer())
    finally:
        con.close()
    for r in results:
        click.echo(r.line())


def main():
    cli(prog_name="shortship")


if __name__ == "__main__":
    main()
