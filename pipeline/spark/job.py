"""`shortship spark-run`: the single-machine run for many shops at once, on Apache Spark.

The input is one or more folders of shop folders (`INPUT/<shop>/...exports...`); the shop is the
folder's name. Every run reads every export of each shop folder, as the shop's own database
would hold them, so a shop folder plays the part of the shop's database.

How the work is spread (design (a) of issue 16, see the README for the measurements):

1. the export files are read in parallel by Spark's `binaryFile` source (any file system Spark
   reads: local, HDFS, S3 ...), one row per file with its bytes;
2. the earlier ledger lines of the shops (`OUT/ledger/shop=*/batch=*`) are read beside them;
3. both are grouped by shop (`cogroup(...).applyInArrow`): one shop goes wholly to one task, which
   runs the single-machine library on it (`shop.run_shop`: load_paths, flag_orders,
   compute_liabilities, append_ledger in a DuckDB of its own) and returns its outputs as Arrow;
4. the results are kept (persisted) and written: the shop's new ledger lines are APPENDED as a new
   partition `ledger/shop=<shop>/batch=<batch>/` (never rewriting one; Spark's job commit makes a
   batch appear whole or not at all), then `flags/`, `liabilities/`, `summary/`, `rejects/` replace
   the partitions of the shops of this run (`shop=<shop>/`; other shops' partitions stay).

A shop whose files the user must fix (the single-machine run would stop with `Error: ...`) is
reported and skipped: its outputs and its ledger are left as they were; the other shops go on.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline import outcome, resources
from pipeline.clock import china_now, parse_as_of
from pipeline.errors import ShortshipError
from pipeline.load import EXPORT_SUFFIXES, RejectLimit
from pipeline.policy import FLAG_KINDS, Policy, load_policy
from pipeline.publish import remove_emptied_folders
from pipeline.spark.shop import OUTPUTS, OVERVIEW, ZERO, ShopStats, empty_outputs, run_shop

REBUILT = ("flags", "liabilities", "summary", "rejects", OVERVIEW)  # replaced per shop at each run
LEDGER = "ledger"  # appended: one partition per shop and batch
STATE = "state"  # each shop's database (replaced per shop at each run)
PEOPLE = "people"  # people/<shop>/: each shop's people's files (review.csv, reship.csv, ..., report.html)
PEOPLE_OUTPUTS = ("people", "people_stale", "people_manifest")  # a task's rows for them
OVERVIEW_PAGE = "overview.html"  # the page across every shop of --out
MANIFEST = "manifest.json"
BATCH_TIME = "%Y%m%dT%H%M%S"

Progress = Callable[[str], None] | None


def _require_pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ShortshipError(
            "spark-run needs pyspark: pip install 'shortship[spark]' (pyspark >= 4, Java 17 or later)"
        ) from None


@dataclass
class SparkRunSummary:
    run_id: str
    batch: str
    as_of: datetime
    policy_id: str
    out_dir: str
    master: str
    shops: list[ShopStats] = field(default_factory=list)
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    lang: str = "zh"

    @property
    def ok(self) -> list[ShopStats]:
        return [s for s in self.shops if not s.error]

    @property
    def failed(self) -> list[ShopStats]:
        return [s for s in self.shops if s.error]

    def total(self, name: str) -> Any:
        return sum((getattr(s, name) for s in self.ok), ZERO if isinstance(getattr(ShopStats(""), name), Decimal) else 0)

    def flagged(self) -> dict[str, int]:
        return {k: sum(s.flagged.get(k, 0) for s in self.ok) for k in FLAG_KINDS}

    def lines(self) -> list[str]:
        flagged = self.flagged()
        kinds = ", ".join(f"{k} {n}" for k, n in flagged.items() if n)
        deadlines = [s.nearest_deadline for s in self.ok if s.nearest_deadline]
        ledger_shops = sum(1 for s in self.ok if s.payout_lines)
        out = [
            f"spark-run {self.run_id}: as of {self.as_of:%Y-%m-%d %H:%M:%S}, policy {self.policy_id}, "
            f"{len(self.shops)} shop(s) on {self.master}, {self.seconds:.1f} s",
            f"files: {self.total('files_loaded')} loaded ({self.total('rows_in')} rows in, "
            f"{self.total('rows_loaded')} loaded, {self.total('rows_rejected')} rejected)",
            f"orders: {self.total('orders')}; flagged: {sum(flagged.values())}" + (f" ({kinds})" if kinds else ""),
            f"owed: {self.total('owed_orders')} order(s), penalty {self.total('owed_yuan')} yuan "
            f"({self.total('owed_points')} points)",
            f"liabilities: {self.total('total_yuan')} yuan in all (penalties, goods to refund, freight)",
            (f"curable: {self.total('curable_orders')} order(s), re-ship to avoid {self.total('curable_at_risk_yuan')} "
             f"yuan; nearest deadline {min(deadlines):%Y-%m-%d %H:%M:%S}") if deadlines else "curable: none",
            f"ledger: batch {self.batch}: {self.total('payout_lines')} new line(s) in {ledger_shops} shop(s), "
            f"{self.total('payout_yuan')} yuan ({self.total('payout_points')} points)",
            f"rejects: {self.total('rejects')}",
            f"people's files: {len(self.ok)} shop folder(s) under {self.out_dir}/{PEOPLE}/, "
            f"{self.total('people_written')} file(s) written, {self.total('people_removed')} removed",
            f"outputs: {', '.join(self.outputs)}",
        ]
        for s in self.failed:
            out.append(f"failed: shop {s.shop}: {s.error}")
        return out

    def to_json(self) -> dict[str, Any]:
        def shop_json(s: ShopStats) -> dict[str, Any]:
            d = {k: (str(v) if isinstance(v, Decimal) else v.isoformat(sep=" ") if isinstance(v, datetime) else v)
                 for k, v in s.__dict__.items()}
            d["seconds"] = round(s.seconds, 3)
            return d

        return {
            "run_id": self.run_id,
            "batch": self.batch,
            "as_of": self.as_of.isoformat(sep=" "),
            "policy": self.policy_id,
            "out": self.out_dir,
            "master": self.master,
            "shops": len(self.shops),
            "failed": {s.shop: s.error for s in self.failed},
            "orders": self.total("orders"),
            "flagged": {"total": sum(self.flagged().values()), **self.flagged()},
            "owed": {"orders": self.total("owed_orders"), "yuan": str(self.total("owed_yuan")),
                     "points": self.total("owed_points")},
            "total_yuan": str(self.total("total_yuan")),
            "ledger": {"lines": self.total("payout_lines"), "yuan": str(self.total("payout_yuan")),
                       "points": self.total("payout_points")},
            "rejects": self.total("rejects"),
            "people_files": {"written": self.total("people_written"), "removed": self.total("people_removed")},
            "outputs": self.outputs,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "per_shop": [shop_json(s) for s in self.shops],
        }


# --- the session -------------------------------------------------------------------------

_PANDAS_WARNING = "PySpark does not yet fully support pandas"


def spark_session(master: str | None = None, app_name: str = "shortship"):
    """A SparkSession: `master` when given, else spark-submit's, else local[*].

    Where the Python workers find shortship is the deployment's business, as for any PySpark
    program: the executors' environment (`spark.pyspark.python`: an image or an archive with the
    wheel installed) or the wheel shipped with `--py-files` (see the README). Only in local mode,
    where the workers run on this machine, do they default to this interpreter (and so to this
    installation) unless `spark.pyspark.python` / PYSPARK_PYTHON say otherwise; on a cluster this
    interpreter's path means nothing. Each task checks that it runs the driver's code (`_shop_task`)."""
    _require_pyspark()
    import warnings

    warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    try:
        # the JVM first: started by spark-submit when it runs this program, its settings (--master,
        # --conf, spark-defaults.conf) are only visible to SparkConf once the gateway is up
        SparkContext._ensure_initialized()
        conf = SparkConf()
        submitted = conf.get("spark.master", None)
        if (master or submitted or "local[*]").startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = (SparkSession.builder.appName(app_name)
                   .config("spark.ui.showConsoleProgress", "false")
                   # pyspark warns about pandas >= 3 on import although spark-run uses Arrow only
                   .config("spark.executorEnv.PYTHONWARNINGS", f"ignore:{_PANDAS_WARNING}:FutureWarning"))
        if master:
            builder = builder.master(master)
        elif not submitted:
            builder = builder.master("local[*]")
        spark = builder.getOrCreate()
    except Exception as e:  # no Java, a bad master URL ...
        raise ShortshipError(f"cannot start Spark ({_first_line(e)}); is Java 17+ installed and --master right?") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "at ")):
            return line[:300]
    return type(e).__name__


# --- the file system (Hadoop's, so that any URI Spark reads works) -----------------------

class _FS:
    def __init__(self, spark):
        self.jvm = spark._jvm
        self.conf = spark._jsc.hadoopConfiguration()

    def path(self, uri: str):
        p = self.jvm.org.apache.hadoop.fs.Path(uri)
        fs = p.getFileSystem(self.conf)
        return fs, fs.makeQualified(p)

    def escape(self, value: str) -> str:
        return self.jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils.escapePathName(value)

    def unescape(self, value: str) -> str:
        return self.jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils.unescapePathName(value)


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))  # what Spark's file sources skip


def list_shops(fs: _FS, inputs: Iterable[str], out: str) -> tuple[dict[str, str], list[str]]:
    """({shop: qualified URI of its folder}, [qualified URI of each input]) over the input folders
    (each a folder of shop folders)."""
    shops: dict[str, str] = {}
    roots: list[str] = []
    for root in inputs:
        try:
            rfs, rpath = fs.path(str(root))
            exists = rfs.exists(rpath)
        except Exception as e:
            raise ShortshipError(f"{root}: cannot read ({_first_line(e)})") from None
        if not exists:
            raise ShortshipError(f"{root}: no such folder")
        if not rfs.getFileStatus(rpath).isDirectory():
            raise ShortshipError(f"{root}: not a folder (spark-run takes folders with one folder per shop)")
        if out == rpath.toString() or out.startswith(rpath.toString().rstrip("/") + "/"):
            raise ShortshipError(f"{out}: --out is inside the input folder {root}; give a folder outside it")
        roots.append(rpath.toString())
        for st in rfs.listStatus(rpath):
            name = st.getPath().getName()
            if _hidden(name):
                continue
            if st.isDirectory():
                if name in shops:
                    raise ShortshipError(f"shop {name} is in two inputs: {shops[name]} and {st.getPath().toString()}")
                shops[name] = st.getPath().toString()
            elif Path(name).suffix.lower() in EXPORT_SUFFIXES:
                raise ShortshipError(
                    f"{st.getPath().toString()}: an export outside any shop folder "
                    f"(spark-run takes folders with one folder per shop)")
    if not shops:
        raise ShortshipError(f"{', '.join(map(str, inputs))}: no shop folders")
    return shops, roots


def ledger_batches(fs: _FS, out: str) -> dict[str, list[str]]:
    """{shop: [batch, ...]} of the ledger under `out` (from the folder names alone)."""
    lfs, lpath = fs.path(f"{out}/{LEDGER}")
    if not lfs.exists(lpath):
        return {}
    found: dict[str, list[str]] = {}
    for st in lfs.globStatus(fs.jvm.org.apache.hadoop.fs.Path(lpath, "shop=*/batch=*")) or []:
        batch_dir = st.getPath()
        shop = fs.unescape(batch_dir.getParent().getName()[len("shop="):])
        found.setdefault(shop, []).append(fs.unescape(batch_dir.getName()[len("batch="):]))
    return found


def batch_as_of(batch: str) -> datetime | None:
    try:
        return datetime.strptime(batch.split("-", 1)[0], BATCH_TIME)
    except ValueError:
        return None


def check_clock(batches: dict[str, list[str]], shops: Iterable[str], clock: datetime, ledger_uri: str) -> None:
    """The ledger's clock only moves forward: refuse an as-of earlier than a shop's latest batch."""
    latest = None
    for shop in shops:
        times = [t for t in map(batch_as_of, batches.get(shop, ())) if t]
        if times and max(times) > clock and (latest is None or max(times) > latest[1]):
            latest = (shop, max(times))
    if latest:
        shop, when = latest
        raise ShortshipError(
            f"--as-of {clock:%Y-%m-%d %H:%M:%S} is earlier than {when:%Y-%m-%d %H:%M:%S}, the latest as-of in the "
            f"ledger of shop {shop} ({ledger_uri}); the ledger's clock only moves forward")


# --- Arrow <-> bytes ---------------------------------------------------------------------

def _to_ipc(table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes):
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


# --- the job -----------------------------------------------------------------------------

def spark_run(
    inputs: Iterable[str | Path],
    out: str | Path,
    as_of: datetime | str | None = None,
    policy: Policy | str | None = None,
    master: str | None = None,
    partitions: int | None = None,
    spark=None,
    progress: Progress = None,
    _fail_once: tuple[str, str] | None = None,
    max_rejects: RejectLimit | str | None = None,
    lang: str = "zh",
) -> SparkRunSummary:
    """Run every shop folder under `inputs` on Spark and write the datasets under `out`
    (see the module doc). `spark`: an existing session (tests); else one is started with
    `master`. `_fail_once` (tests: shop, folder): the task of that shop fails on its first
    attempt, and so does the writer of its ledger lines half way (each leaves a file in the
    folder), to show that Spark's retries leave the results whole. `max_rejects`: how much of a
    file may be rejected before its shop stops (pipeline/load.py RejectLimit; None: the
    default); such a shop fails and is left as it was, as a bad file does. `lang`: the language
    of the people's files and of overview.html (zh, the default, or en)."""
    t0 = time.monotonic()
    outcome.reset()
    inputs = [str(p) for p in inputs]
    if not inputs:
        raise ShortshipError("no input folders given")
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    clock = parse_as_of(as_of)
    limit = RejectLimit.parse(max_rejects)
    if partitions is not None and partitions < 1:
        raise ShortshipError(f"--partitions {partitions}: must be at least 1")
    from pipeline.locale import LANGS

    if lang not in LANGS:
        raise ShortshipError(f"--lang {lang}: expected one of {', '.join(LANGS)}")
    user_tell = progress or (lambda msg: None)
    marks: list[tuple[str, float]] = []

    def tell(msg: str) -> None:  # a stage begins: tell the terminal, time the one before
        marks.append((msg, time.monotonic()))
        user_tell(msg)

    _require_pyspark()
    if spark is None:
        tell("starting Spark")
        spark = spark_session(master)
    from pyspark.errors import PySparkException
    from py4j.protocol import Py4JJavaError

    try:
        summary = _run(spark, inputs, str(out), clock, pol, partitions, tell, t0, _fail_once, limit, lang)
    except (PySparkException, Py4JJavaError) as e:
        raise ShortshipError(f"{out}: Spark job failed ({_first_line(e)})") from None
    marks.append(("end", time.monotonic()))
    summary.timings = {name: b - a for (name, a), (_, b) in zip(marks, marks[1:])}
    summary.seconds = time.monotonic() - t0
    return summary


def _run(spark, inputs, out, clock, pol, partitions, tell, t0, fail_once, limit, lang) -> SparkRunSummary:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from pipeline.liabilities import new_run_id

    fs = _FS(spark)
    ofs, opath = fs.path(out)
    out = opath.toString()
    if ofs.exists(opath) and not ofs.getFileStatus(opath).isDirectory():
        raise ShortshipError(f"{out}: --out is not a folder")
    tell("listing shop folders")
    shops, roots = list_shops(fs, inputs, out)
    batches = ledger_batches(fs, out)
    check_clock(batches, shops, clock, f"{out}/{LEDGER}")

    started = china_now()
    run_id = new_run_id(started)
    batch = f"{clock:{BATCH_TIME}}-{run_id.rsplit('-', 1)[-1]}"
    summary = SparkRunSummary(run_id=run_id, batch=batch, as_of=clock, policy_id=pol.id, out_dir=out,
                              master=spark.sparkContext.master, lang=lang)

    schemas = {name: t.schema for name, t in empty_outputs().items()}
    spark_schemas = {name: from_arrow_schema(s, prefer_timestamp_ntz=True) for name, s in schemas.items()}
    ledger_arrow = schemas[LEDGER]

    n_parts = partitions or min(len(shops), 10_000)
    spark.conf.set("spark.sql.shuffle.partitions", str(n_parts))
    # a few shops' bytes must not be merged into one task: one task per partition of shops
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    threads = int(spark.conf.get("spark.task.cpus", "1"))

    # 1. the export files, one row per file, with the shop and the path inside the shop folder
    inside = None  # the path below its input folder: <shop>/<name>
    for root in roots:
        prefix = root.rstrip("/") + "/"
        below = F.substring(F.col("path"), len(prefix) + 1, 1 << 30)
        cond = F.col("path").startswith(prefix)
        inside = F.when(cond, below) if inside is None else inside.when(cond, below)
    suffix = F.lower(F.col("path"))
    is_export = None
    for s in sorted(EXPORT_SUFFIXES):
        c = suffix.endswith(s)
        is_export = c if is_export is None else (is_export | c)
    files = (
        spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(roots)
        .where(is_export)
        .select(inside.alias("inside"), "modificationTime", "content")
        .select(F.regexp_extract("inside", r"^([^/]+)/", 1).alias("shop"), F.lit("file").alias("kind"),
                F.regexp_extract("inside", r"^[^/]+/(.+)$", 1).alias("name"),
                F.unix_millis(F.col("modificationTime")).alias("mtime"), F.col("content"))
        .where(F.col("shop").isin(list(shops)) & (F.col("name") != ""))
    )
    # and each shop's database as its previous run left it
    if ofs.exists(fs.path(f"{out}/{STATE}")[1]):
        state = (spark.read.schema("chunk int, data binary, shop string").parquet(f"{out}/{STATE}")
                 .where(F.col("shop").isin(list(shops)))
                 .select("shop", F.lit("state").alias("kind"), F.col("chunk").cast("string").alias("name"),
                         F.lit(None).cast("long").alias("mtime"), F.col("data").alias("content")))
        files = files.unionByName(state)
    # and the manifest.json of each shop's published people's files
    manifests = _people_manifests(fs, out, shops)
    if manifests:
        prefix = fs.path(f"{out}/{PEOPLE}")[1].toString().rstrip("/") + "/"
        people = (spark.read.format("binaryFile").load(list(manifests))
                  .select(F.regexp_extract(F.substring(F.col("path"), len(prefix) + 1, 1 << 30),
                                           r"^(.+)/manifest\.json$", 1).alias("shop"),
                          F.lit("people_manifest").alias("kind"), F.lit(MANIFEST).alias("name"),
                          F.lit(None).cast("long").alias("mtime"), F.col("content"))
                  .where(F.col("shop").isin(list(shops))))
        files = files.unionByName(people)

    # 2. the shops' earlier ledger lines
    ledger_full = from_arrow_schema(
        ledger_arrow.remove(ledger_arrow.get_field_index("shop")), prefer_timestamp_ntz=True
    ).add("shop", "string").add("batch", "string")
    if batches:
        earlier = (spark.read.schema(ledger_full).parquet(f"{out}/{LEDGER}")
                   .where(F.col("shop").isin(list(shops))))
    else:
        earlier = spark.createDataFrame([], ledger_full)

    # 3. one shop per group, the library inside
    task = _shop_task(clock, pol, run_id, started, shops, threads, fail_once, limit, resources.fingerprint(),
                      lang=lang, batch=batch)
    # The results are kept by a local checkpoint, not a cache: writing ledger/ and state/, which
    # this plan reads, would drop a cache of it and run every shop again.
    tell(f"running {len(shops)} shop(s) in {n_parts} partition(s)")
    results = (
        files.groupBy("shop").cogroup(earlier.groupBy("shop"))
        .applyInArrow(task, "shop string, output string, part int, name string, data binary")
        .localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
    )
    stats_rows = results.where(F.col("output") == "stats").select("data").collect()
    found = {s.shop: s for s in (pickle.loads(r.data) for r in stats_rows)}
    for shop, uri in shops.items():  # a shop folder with no export file (as `shortship run` says)
        found.setdefault(shop, ShopStats(
            shop=shop, error=f"{uri}: no export files (.csv, .tsv, .txt, .xlsx) in this folder"))
    summary.shops = sorted(found.values(), key=lambda s: s.shop)
    # the people's files go to the driver one partition at a time: those of the shop groups, as
    # checkpointed (coalesced, one partition held every shop's pages: 20 shops of 20,000 orders
    # ran the driver out of its (default) heap on local[1])
    per_shop = results
    # writing is light: as many tasks as cores (each writes the partitions of several shops)
    results = results.coalesce(max(1, min(n_parts, spark.sparkContext.defaultParallelism)))

    # 4. the ledger first: a new partition per shop, appended
    tell(f"appending ledger batch {batch}")
    _decoded(results, LEDGER, spark_schemas[LEDGER], fail_once).withColumn("batch", F.lit(batch)) \
        .write.mode("append").option("compression", "zstd").partitionBy("shop", "batch").parquet(f"{out}/{LEDGER}")
    summary.outputs.append(f"{out}/{LEDGER}")
    # the ledger dataset is the payout system's: its new batch is committed and published at once
    lines, yuan = summary.total("payout_lines"), summary.total("payout_yuan")
    outcome.committed(f"the ledger batch {batch}", lines=lines, yuan=yuan)
    outcome.published(lines, yuan, where=f"{out}/{LEDGER}")
    outcome.marked()
    tell("keeping each shop's database")
    results.where(F.col("output") == STATE).select("shop", F.col("part").alias("chunk"), "data") \
        .write.mode("overwrite").option("partitionOverwriteMode", "dynamic") \
        .partitionBy("shop").parquet(f"{out}/{STATE}")
    for name in REBUILT:
        tell(f"writing {name}")
        _decoded(results, name, spark_schemas[name], None) \
            .write.mode("overwrite").option("partitionOverwriteMode", "dynamic").option("compression", "zstd") \
            .partitionBy("shop").parquet(f"{out}/{name}")
        summary.outputs.append(f"{out}/{name}")
        # a shop of this run with no rows now must not keep the rows of an earlier run
        for s in summary.ok:
            if s.rows.get(name, 0) == 0:
                dfs, dpath = fs.path(f"{out}/{name}/shop={fs.escape(s.shop)}")
                if dfs.exists(dpath):
                    dfs.delete(dpath, True)
    tell("writing the people's files")
    _publish_people(fs, out, per_shop, [s.shop for s in summary.ok], set(manifests.values()) if manifests else set())
    summary.outputs.append(f"{out}/{PEOPLE}")
    tell("writing overview.html")
    _write_overview(spark, fs, out, spark_schemas[OVERVIEW], clock, lang)
    summary.outputs.append(f"{out}/{OVERVIEW_PAGE}")
    return summary


# --- the people's files and the page across shops ------------------------------------------

def _people_manifests(fs: _FS, out: str, shops: Iterable[str]) -> dict[str, str]:
    """{URI of people/<shop>/manifest.json: shop} of the shops of the run that have one."""
    pfs, ppath = fs.path(f"{out}/{PEOPLE}")
    if not pfs.exists(ppath):
        return {}
    wanted = set(shops)
    found = {}
    for st in pfs.listStatus(ppath):
        name = st.getPath().getName()
        if st.isDirectory() and name in wanted:
            m = fs.jvm.org.apache.hadoop.fs.Path(st.getPath(), MANIFEST)
            if pfs.exists(m):
                found[m.toString()] = name
    return found


def _people_dir(fs: _FS, out: str, shop: str):
    """The folder people/<shop>/ (the shop folder's name as it is: a person opens it)."""
    _, ppath = fs.path(f"{out}/{PEOPLE}")
    return fs.jvm.org.apache.hadoop.fs.Path(ppath, shop)


def _plain_fs(fs: _FS, uri: str):
    """A file system of its own for files people open: no `.crc` file beside each file on a
    local disk (Hadoop's checksums are for its own readers). Close it after use."""
    _, path = fs.path(uri)
    own = fs.jvm.org.apache.hadoop.fs.FileSystem.newInstance(path.toUri(), fs.conf)
    own.setWriteChecksum(False)
    return own


def _write_bytes(pfs, path, data: bytes) -> None:
    stream = pfs.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def _publish_people(fs: _FS, out: str, results, shops: list[str], had_manifest: set[str]) -> None:
    """Publish each shop's people's files under people/<shop>/, as `shortship run` publishes its
    output folder: only the files whose bytes changed are written, the files of the previous set
    that this set lacks are removed, and manifest.json is written last. The old manifest is
    removed before the first file is touched, so a run that dies half way leaves no manifest
    vouching for files it did not write: the next run writes every file of that shop again (and
    removes what its set lacks). The files travel from the tasks through the driver (any file
    system Spark writes), one shop's partition at a time."""
    from pyspark.sql import functions as F

    if not shops:
        return
    rows = results.where(F.col("output").isin(*PEOPLE_OUTPUTS) & F.col("shop").isin(shops))
    manifests = {r.shop: bytes(r.data) for r in rows.where(F.col("output") == "people_manifest")
                 .select("shop", "data").collect()}
    pfs = _plain_fs(fs, f"{out}/{PEOPLE}")
    try:
        _publish_people_files(fs, pfs, out, rows, manifests, had_manifest)
    finally:
        pfs.close()


def _publish_people_files(fs: _FS, pfs, out: str, rows, manifests: dict[str, bytes], had_manifest: set[str]) -> None:
    from pyspark.sql import functions as F

    for shop in manifests:
        folder = _people_dir(fs, out, shop)
        old = fs.jvm.org.apache.hadoop.fs.Path(folder, MANIFEST)
        if pfs.exists(old):
            pfs.delete(old, False)
        elif shop not in had_manifest and pfs.exists(folder):
            # no manifest to say what the folder holds (a run that died half way): what this
            # set lacks goes
            keep = {e["path"] for e in json.loads(manifests[shop])["files"]}
            base = folder.toString().rstrip("/") + "/"
            it = pfs.listFiles(folder, True)
            while it.hasNext():
                p = it.next().getPath()
                rel = p.toString()[len(base):] if p.toString().startswith(base) else None
                if rel is not None and rel not in keep:
                    pfs.delete(p, False)
    folders: dict[str, tuple] = {}  # shop -> (its folder, the same as a local path or None)
    for r in rows.where(F.col("output") != "people_manifest").select("shop", "output", "name", "data") \
            .toLocalIterator(prefetchPartitions=False):
        got = folders.get(r.shop)
        if got is None:
            folder = _people_dir(fs, out, r.shop)
            uri = folder.toUri()
            got = folders[r.shop] = (folder, uri.getPath() if uri.getScheme() == "file" else None)
        folder, local = got
        if local is not None:
            # a local disk: written here, a few calls per file instead of several calls into the
            # JVM (20 shops of 20,000 orders: 13,000 files, 130 s through Hadoop's file system)
            _local_people_file(local, r.name, bytes(r.data) if r.output == "people" else None)
            continue
        path = fs.jvm.org.apache.hadoop.fs.Path(folder, r.name)
        if r.output == "people":
            _write_bytes(pfs, path, bytes(r.data))
        elif pfs.exists(path):  # people_stale
            pfs.delete(path, False)
            parent = path.getParent()
            while parent.toString() != folder.toString() and pfs.exists(parent) and not pfs.listStatus(parent):
                pfs.delete(parent, False)  # a folder the set no longer uses (evidence/NN/)
                parent = parent.getParent()
    for shop, data in manifests.items():
        _write_bytes(pfs, fs.jvm.org.apache.hadoop.fs.Path(_people_dir(fs, out, shop), MANIFEST), data)


def _local_people_file(folder: str, name: str, data: bytes | None) -> None:
    """Write the people's file `name` (a path relative to the shop's `folder`, on a local disk),
    or with `data` None remove it and the folders it leaves empty inside `folder`: what
    _publish_people_files does through Hadoop's file system elsewhere."""
    path = os.path.join(folder, *name.split("/"))
    if data is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    remove_emptied_folders(Path(path), Path(folder))  # a folder the set no longer uses (evidence/NN/)


def people_href(shop: str) -> str:
    """The link from overview.html to a shop's report (people/<shop>/report.html)."""
    from urllib.parse import quote

    return f"{PEOPLE}/{quote(shop)}/report.html"


def _write_overview(spark, fs: _FS, out: str, schema, clock: datetime, lang: str) -> None:
    """<out>/overview.html over every shop of the overview dataset (also the shops this run
    did not run: their row as their latest run left it), written whole and renamed into place."""
    from pipeline.report.overview import build_overview

    ofs, opath = fs.path(f"{out}/{OVERVIEW}")
    if ofs.exists(opath):
        rows = spark.read.schema(schema).parquet(f"{out}/{OVERVIEW}").toArrow()
    else:
        rows = []
    html = build_overview(rows, lang, as_of=clock, report_href=people_href).encode("utf-8")
    _, page = fs.path(f"{out}/{OVERVIEW_PAGE}")
    tmp = fs.jvm.org.apache.hadoop.fs.Path(page.getParent(), f".{OVERVIEW_PAGE}.tmp")
    pfs = _plain_fs(fs, out)
    try:
        _write_bytes(pfs, tmp, html)
        if pfs.exists(page):
            pfs.delete(page, False)
        pfs.rename(tmp, page)
    finally:
        pfs.close()


def _decoded(results, name: str, schema, fail_once):
    """The rows of output `name` of every shop, as a DataFrame with `schema`."""
    from pyspark.sql import functions as F

    def decode(batches):
        for b in batches:
            for data in b.column("data").to_pylist():
                table = _from_ipc(data)
                if fail_once and table.num_rows > 1 and table.column("shop")[0].as_py() == fail_once[0]:
                    from pyspark import TaskContext

                    if TaskContext.get().attemptNumber() == 0:
                        Path(fail_once[1], f"{name}-writer-failed").touch()
                        yield table.slice(0, 1).to_batches()[0]  # half written, then the task dies
                        raise RuntimeError(f"test: the {name} writer of shop {fail_once[0]} fails once")
                for rb in table.to_batches(max_chunksize=65_536):
                    yield rb

    return results.where(F.col("output") == name).select("data").mapInArrow(decode, schema)


def code_mismatch(driver: str) -> str | None:
    """Why this process must not run a shop for a driver whose code has fingerprint `driver`
    (None: it runs the same code). An executor with another shortship (an older wheel in its
    environment, a stale archive) would compute other rules than the driver's."""
    here = resources.fingerprint()
    if here == driver:
        return None
    return (f"this executor runs other shortship code than the driver (code {here} from {resources.location()}; "
            f"the driver's is {driver}): give the executors the driver's wheel (installed in their "
            f"environment, or with --py-files)")


def _shop_task(clock, pol, run_id, started, shops, threads, fail_once, limit, code, lang="zh", batch=None):
    """The function each group (one shop) runs, with the run's settings in its closure (`code`:
    the driver's code fingerprint; `lang`: the people's files' language; `batch`: the run's
    batch, naming the people's files it writes)."""

    def task(left, earlier):
        import pyarrow as pa
        import pyarrow.compute as pc

        empty = pa.table({"shop": pa.array([], pa.string()), "output": pa.array([], pa.string()),
                          "part": pa.array([], pa.int32()), "name": pa.array([], pa.string()),
                          "data": pa.array([], pa.binary())})
        if left.num_rows == 0:  # a shop with ledger lines but not in this run
            return empty
        shop = left.column("shop")[0].as_py()
        mismatch = code_mismatch(code)
        if mismatch:  # the shop fails, left as it was
            return pa.table({"shop": [shop], "output": ["stats"], "part": pa.array([0], pa.int32()),
                             "name": pa.array([None], pa.string()),
                             "data": [pickle.dumps(ShopStats(shop=shop, error=mismatch))]},
                            schema=empty.schema)
        if fail_once and fail_once[0] == shop:
            from pyspark import TaskContext

            if TaskContext.get().attemptNumber() == 0:
                Path(fail_once[1], "task-failed").touch()
                raise RuntimeError(f"test: the task of shop {shop} fails once")
        # the bytes stay in Arrow's buffers (no Python copy of every file)
        files = left.filter(pc.equal(left.column("kind"), "file"))
        content = files.column("content")
        rows = sorted((name, mtime, content[i].as_buffer()) for i, (name, mtime) in enumerate(
            zip(files.column("name").to_pylist(), files.column("mtime").to_pylist())))
        pieces = left.filter(pc.equal(left.column("kind"), "state"))
        chunks = pieces.column("content")
        state = [chunks[i].as_buffer() for i in sorted(range(pieces.num_rows),
                                                        key=lambda i: int(pieces.column("name")[i].as_py()))]
        manifest = left.filter(pc.equal(left.column("kind"), "people_manifest")).column("content")
        prior = earlier.drop_columns(["shop"]) if earlier.num_rows else None
        local = os.environ.get("SPARK_LOCAL_DIRS", "").split(",")[0] or None
        tables, stats, new_state, people = run_shop(
            shop, rows, prior, clock, pol, run_id, created_at=started, state=state or None,
            shop_uri=shops.get(shop, shop), threads=threads, tmp_root=local, max_rejects=limit,
            lang=lang, people_manifest=manifest[0].as_py() if len(manifest) else None, batch=batch)
        out = [("stats", 0, None, pickle.dumps(stats))]
        out += [(name, 0, None, _to_ipc(t)) for name, t in (tables or {}).items()]
        out += [(STATE, i, None, piece) for i, piece in enumerate(new_state or ())]
        if people is not None:
            out += [("people", 0, rel, data) for rel, data in people.files]
            out += [("people_stale", 0, rel, b"") for rel in people.stale]
            out.append(("people_manifest", 0, MANIFEST, people.manifest))
        return pa.table({"shop": pa.array([shop] * len(out), pa.string()),
                         "output": pa.array([o[0] for o in out], pa.string()),
                         "part": pa.array([o[1] for o in out], pa.int32()),
                         "name": pa.array([o[2] for o in out], pa.string()),
                         "data": pa.array([o[3] for o in out], pa.binary())})

    return task
