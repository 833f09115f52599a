"""The output set (SPEC section 6): one place declares it, one step writes it.

The output stage is three layers, each calling only the one below:

1. here: which files make a set (`WRITERS`; the people's files of one database: `PEOPLE`), the
   set's rows computed once (pipeline/setdata.py `SetData`: the rows the report and the
   workbook show beside the files that hold them), then each writer called with them, then the
   publication. `shortship run` (pipeline/run.py), `shortship export`, `shortship report` and
   `shortship evidence` all go through these functions, as does `write_people_files` (the
   people's files of one database into a folder, e.g. a shop's in a Spark task);
2. the writers, side by side, none calling another: pipeline/tables.py (the Parquet files and
   the payouts batch), pipeline/act (reship.csv, courier_claims.csv, root_causes.parquet and
   the evidence pages), pipeline/export_xlsx.py (liabilities.xlsx), pipeline/review.py
   (review.csv), pipeline/report (report.html; overview.html, a database
   of several shops). Each is a function
   `(con, stage, info, data) -> None` that puts its files into the stage;
3. pipeline/publish.py: the staging folder, the publication (only what changed is moved into
   place; manifest.json last), the outbox's marks.

| file                       | grain                                                   |
|----------------------------|---------------------------------------------------------|
| flags.parquet              | one row per flagged order                               |
| liabilities.parquet        | one row per flagged order                               |
| payouts.parquet            | one row per ledger line this set publishes              |
| payouts/<batch>.parquet    | the same, kept for every batch ever published           |
| summary.parquet            | one row per shop × day                                  |
| rejects.parquet            | one row per rejected input row                          |
| reship.csv, courier_claims.csv, root_causes.parquet, evidence/NN/<order_id>.html            |
| liabilities.xlsx (with --xlsx), review.csv, report.html                                   |
| overview.html              | one row per shop (only for a database of several shops) |
| manifest.json              | the set: run, batch, as-of, policy, every file's rows and sha256 |

A file is written (and published) only when its content changes: see pipeline/publish.py.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Callable

import duckdb

from pipeline import interrupts, outcome, setdata
from pipeline.act import stage_act, stage_evidence
from pipeline.act.evidence import page_name, page_path, stage_pages
from pipeline.errors import ShortshipError
from pipeline.export_xlsx import stage_xlsx
from pipeline.publish import (STAGING_PREFIX, Published, Stage, mark_published, publish, publish_files,  # noqa: F401
                              published_payouts)
from pipeline.report.overview import stage_overview
from pipeline.report import stage_report
from pipeline.review import stage_review_csv
from pipeline.setdata import SetData, SetInfo
from pipeline.tables import (PARQUET_FILES, PENDING_PAYOUTS, output_queries, pending_payouts_select,  # noqa: F401
                             stage_payouts, stage_tables)

# A writer puts its files into the stage (pipeline/publish.py Stage); `info` says what the set
# is (run, batch, clock, policy, language), `data` holds the rows computed once for the set.
Writer = Callable[[duckdb.DuckDBPyConnection, Stage, SetInfo, SetData], None]

# Every writer of a run's output set, in order (name, writer). Add new outputs here. The
# evidence pages come first: their worker processes render while the rest of the set's rows are
# computed and the other files written (EARLY, stage_outputs).
WRITERS: list[tuple[str, Writer]] = [
    ("evidence/", stage_evidence),
    ("reship.csv, courier_claims.csv, root_causes.parquet", stage_act),
    ("Parquet files", stage_tables),
    ("payouts.parquet", stage_payouts),
    ("liabilities.xlsx", stage_xlsx),
    ("review.csv", stage_review_csv),
    ("report.html", stage_report),
    ("overview.html", stage_overview),
]

# The writers that need only the evidence pages' rows (SetData.evidence): they start first.
EARLY = (stage_evidence,)

# The people's files of one database (review, re-ship, claims, report, evidence: SPEC section 9;
# overview.html when the database holds more than one shop).
PEOPLE: list[tuple[str, Writer]] = [
    ("evidence/", stage_evidence),
    ("reship.csv, courier_claims.csv, root_causes.parquet", stage_act),
    ("review.csv", stage_review_csv),
    ("report.html", stage_report),
    ("overview.html", stage_overview),
]


def new_batch_id() -> str:
    """A batch id for a publication that is not a run's (`shortship export`)."""
    from pipeline.clock import china_now

    return f"export-{china_now():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def set_data(con: duckdb.DuckDBPyConnection, info: SetInfo) -> SetData:
    """The rows of the set, computed once (pipeline/setdata.py)."""
    return setdata.compute(con, info)


def stage_outputs(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo,
                  progress: Callable[[str], None] | None = None,
                  writers: list[tuple[str, Writer]] | None = None) -> SetData:
    """Write the output set (`writers`, default WRITERS) into `stage`. Returns the set's rows.
    The writers of EARLY come first, on the rows they need (setdata.compute_evidence); the
    work they hand over (Stage.defer: the evidence pages' worker processes) goes on while the
    rest of the rows are computed (setdata.compute_rest) and the other writers write."""
    writers = writers or WRITERS
    try:
        if progress:
            progress("computing the rows of the evidence pages")
        data = SetData()
        setdata.compute_evidence(con, info, data)
        with stage.deferring():
            for name, writer in writers:
                if writer in EARLY:
                    _write(con, stage, info, data, name, writer, progress)
            if progress:
                progress("computing the rows of the files for people")
            setdata.compute_rest(con, info, data)
            for name, writer in writers:
                if writer not in EARLY:
                    _write(con, stage, info, data, name, writer, progress)
            if progress and stage.pending:
                progress("writing the evidence pages still to render")
    except BaseException:
        try:
            setdata.drop_temp(con)
        except duckdb.Error:
            pass  # a failed COPY aborted the transaction: the first error is the one to tell
        raise
    setdata.drop_temp(con)
    return data


def _write(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData, name: str, writer: Writer,
           progress: Callable[[str], None] | None) -> None:
    if progress:
        progress(f"writing {name}")
    writer(con, stage, info, data)


def manifest_header(info: SetInfo) -> dict:
    return {
        "run_id": info.run_id,
        "batch_id": info.batch_id,
        "as_of": info.as_of.isoformat(sep=" ") if info.as_of else None,
        "policy": info.policy_id,
        "lang": info.lang,
    }


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
    info = setdata.set_info(con, batch_id=new_batch_id(), lang=lang, xlsx=xlsx)
    outcome.reset()
    stage = Stage(out_dir, info.batch_id)
    try:
        stage_outputs(con, stage, info, progress)
        # from the publication to the mark, a Ctrl-C waits (as in `shortship run`), and what was
        # published is recorded for the message that follows it (pipeline/outcome.py)
        with interrupts.deferred():
            done = publish(stage, manifest_header(info))
            ids, yuan = published_payouts(con, stage.out_dir)
            outcome.published(len(ids), yuan)
            mark_published(con, info.batch_id, ids)
            outcome.marked()
    finally:
        stage.remove()
    return done.paths


def write_people_files(con: duckdb.DuckDBPyConnection, out_dir: str | Path, *, lang: str = "zh",
                       run_id: str | None = None, as_of=None, policy=None,
                       progress: Callable[[str], None] | None = None, batch_id: str | None = None) -> Published:
    """The people's files of the database `con` (review.csv, reship.csv, courier_claims.csv,
    root_causes.parquet, report.html, evidence/NN/<order_id>.html, overview.html of a database
    of several shops: `PEOPLE`) into the folder `out_dir`, published as one set with its
    manifest.json (only what changed is written). `run_id` (default the latest run), `as_of`
    and `policy` (default: that run's) say which run the report describes; `batch_id` names the
    set (`written_by`; default a new `export-…` id). Reads the database only: usable on a
    read-only connection."""
    info = setdata.set_info(con, batch_id=batch_id or new_batch_id(), run_id=run_id, lang=lang, as_of=as_of,
                            policy=policy)
    stage = Stage(out_dir, info.batch_id)
    try:
        stage_outputs(con, stage, info, progress, writers=PEOPLE)
        return publish(stage, manifest_header(info))
    finally:
        stage.remove()


def report_to(con: duckdb.DuckDBPyConnection, out_dir: str | Path, run_id: str | None = None,
              lang: str = "zh") -> Path:
    """`shortship report`: report.html alone into `out_dir`, atomically (staged, renamed)."""
    info = setdata.set_info(con, batch_id=new_batch_id(), run_id=run_id, lang=lang)
    stage = Stage(out_dir, info.batch_id)
    try:
        try:
            data = set_data(con, info)
        finally:
            setdata.drop_temp(con)
        stage_report(con, stage, info, data)
        publish_files(stage)
    finally:
        stage.remove()
    return stage.out_dir / "report.html"


def evidence_to(con: duckdb.DuckDBPyConnection, order_ids: list[str], out_dir: str | Path, lang: str = "zh",
                policy=None) -> list[Path]:
    """`shortship evidence ORDER_ID...`: the pages of the orders asked for, written atomically
    into <out>/evidence/ (staged, then each renamed over its old copy). An order the database
    does not hold is an error naming it; nothing is written then."""
    ids = list(dict.fromkeys(o.strip() for o in order_ids if o and o.strip()))
    if not ids:
        raise ShortshipError("no order ids given")
    for o in ids:
        page_name(o)
    known = {r[0] for r in con.execute(
        "select order_id from (select order_id from orders union select order_id from flags) "
        "where order_id in (select unnest($ids::varchar[]))", {"ids": ids}).fetchall()}
    missing = [o for o in ids if o not in known]
    if missing:
        raise ShortshipError(f"order {missing[0]} is not in the database"
                             + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else ""))
    info = setdata.set_info(con, batch_id=new_batch_id(), lang=lang, policy=policy)
    why = setdata.evidence_orders(con, ids)
    stage = Stage(out_dir, info.batch_id)
    try:
        try:
            stage_pages(con, stage, info, {o: why.get(o, []) for o in ids}, every=True)
        finally:
            setdata.drop_temp(con)
        publish_files(stage)
    finally:
        stage.remove()
    return [stage.out_dir / page_path(o) for o in ids]
