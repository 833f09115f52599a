"""spark-run gives every shop the single-machine answer, row for row.

One scenario (module fixture), 12 generated shops in several layouts (legacy GBK and current
UTF-8, Excel-wrapped ids, a BOM, header spaces, ids mangled into scientific notation, overlapping
daily exports, a shop folder named in Chinese with a space), run on Spark in local mode and,
shop by shop, by `shortship run` on a database of its own:

A. six shops' early exports (some kinds not yet exported), as of 2024-05-06 12:00, tmall;
B. every export of the 12 shops, as of 2024-06-06, tmall (the six shops of A continue their
   ledger: top-ups and reversals; the others start theirs); the task of one shop fails once
   and so does the writer of its ledger lines, half way (Spark tries again);
C. four of those shops again (nothing new), beside a shop folder holding a broken file and an
   empty one;
E. the same four shops, one of which has a review decision put in its folder (its review.csv
   from `people/<shop>/`, one row decided), as a shop does in the review loop.

Compared for every shop after A and B: flags, liabilities, summary, rejects and the run's
ledger lines (payout_id included), and the people's files (`people/<shop>/`: review.csv,
reship.csv, courier_claims.csv, root_causes.parquet, report.html, the evidence pages) byte for
byte; after C: nothing new; after E: the decided shop's ledger and people's files are what
`shortship run` gives on one machine with the same decision, and no other shop's moved. What
necessarily differs and is left out: run_id (in report.html: the run's id is replaced by a
placeholder on both sides, nothing else), the ledger lines' created_at, rejects.load_id
(numbered per load call) and the folder part of rejects.source_file; manifest.json (the run and
batch ids, and which set wrote each file) is not compared.

The single-machine side runs `shortship run` itself (`run_pipeline`, every output written) for
one shop of each run, and for the others the same database work (`pipeline.run.run_steps`, which
`run_pipeline` runs) with the rows read by the queries that write flags.parquet,
liabilities.parquet, summary.parquet, rejects.parquet and payouts.parquet (export.output_queries,
export.pending_payouts_select) and the people's files by the writers `run_pipeline` uses
(export.write_people_files, into the shop's own output folder from run to run, so that an
evidence page keeps the clock at which its facts last changed, as on one machine); the workbook
is not compared.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from tests.spark.helpers import require_spark

require_spark()

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from pipeline.cli import cli  # noqa: E402
from pipeline.errors import ShortshipError  # noqa: E402
from pipeline.generate import generate  # noqa: E402
from pipeline.run import run_pipeline  # noqa: E402
from pipeline.spark.job import spark_run  # noqa: E402

pytestmark = [pytest.mark.spark]

N_SHOPS = 12  # every layout and quirk of make_shops at least once (the cycle is 8 shops: 0-11 hold each)
ORDERS = 120
AS_OF_A = "2024-05-06 12:00:00"
AS_OF_B = "2024-06-06 00:00:00"
FAILING = "shop02"
PART = ["shop01", "shop02", "童趣 玩具店", "shop08"]  # run C (the rerun)
EARLY = ["shop01", "shop02", "shop03", "童趣 玩具店", "shop07", "shop08"]  # run A (shop07: split daily exports)
FULL_RUN = "shop01"  # the shop whose single-machine side is a whole `shortship run` in every run
DECIDED = FULL_RUN  # the shop whose folder gets a review decision (run E)
# the people's files (pipeline/export.py PEOPLE) as a shop's output folder holds them
PEOPLE_FILES = {"review.csv", "reship.csv", "courier_claims.csv", "root_causes.parquet", "report.html",
                "overview.html"}
FILES = {"flags": "flags", "liabilities": "liabilities", "summary": "summary", "rejects": "rejects",
         "ledger": "payouts"}
KEYS = {"flags": ["order_id"], "liabilities": ["order_id"], "summary": ["shop_name", "day"],
        "rejects": ["source_file", "line", "reason"], "ledger": ["payout_id"]}
DROP = {"flags": {"run_id"}, "liabilities": {"run_id"}, "summary": set(), "rejects": {"load_id"},
        "ledger": {"run_id", "created_at"}}


def shop_name(i: int) -> str:
    return "童趣 玩具店" if i == 3 else f"shop{i + 1:02d}"


def make_shops(root: Path) -> None:
    """N_SHOPS shops, one generate each, in several real layouts and quirks."""
    for i in range(N_SHOPS):
        legacy = i % 2 == 0
        quirks = []
        if legacy and i % 4 == 0:
            quirks.append("excel_ids")
        if legacy and i % 8 == 2:
            quirks.append("header_spaces")
        if not legacy and i % 4 == 1:
            quirks.append("bom")
        if i in (0, 5, 10):
            quirks.append("sci_ids")  # rejected rows
        split = i == 6
        if split:
            quirks.append("split_daily")  # overlapping daily exports: the newest copy wins
        generate(root / shop_name(i), ORDERS, seed=500 + i, fmt="legacy" if legacy else "current",
                 encoding="gbk" if legacy else "utf-8", shops=1, start=date(2024, 5, 1),
                 days=2 if split else 6, quirks=quirks, workers=1)


def early_copy(full: Path, early: Path) -> None:
    """What had been exported by run A: refunds and (for some shops) shipments come later; the
    daily exports up to May 3rd."""
    for i in range(N_SHOPS):
        if shop_name(i) not in EARLY:
            continue
        src, dst = full / shop_name(i), early / shop_name(i)
        dst.mkdir(parents=True)
        for f in sorted(src.iterdir()):
            if i == 6:
                keep = any(f"202405{d:02d}" in f.name for d in (2, 3)) or not f.name.endswith(".csv")
            else:
                keep = not f.name.startswith("ExportRefundList") and not (i % 3 == 0 and f.name.startswith("shipments"))
            if keep:
                shutil.copy2(f, dst / f.name)


def read_spark(out: Path, name: str) -> pa.Table:
    part = [("shop", pa.string())] + ([("batch", pa.string())] if name == "ledger" else [])
    d = ds.dataset(out / name, format="parquet", partitioning=ds.partitioning(pa.schema(part), flavor="hive"))
    return d.to_table()


def shop_rows(t: pa.Table, name: str, shop_col: str | None = None) -> list[dict]:
    """The rows of one shop's output in a comparable form."""
    rows = []
    for r in t.to_pylist():
        r = {k: v for k, v in r.items() if k not in DROP[name] and k not in ("shop", "batch")}
        if name == "rejects":
            r["source_file"] = Path(r["source_file"]).name
        rows.append(r)
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in KEYS[name]))


def single_rows(out: Path, name: str) -> list[dict]:
    t = pq.read_table(out / f"{FILES[name]}.parquet")
    if "shop" in t.column_names:
        t = t.rename_columns(["shop_name" if c == "shop" else c for c in t.column_names])
    return shop_rows(t, name)


def spark_snapshot(out: Path, shops, batch: str) -> dict:
    """{shop: {output: rows}} of the datasets as they are now (the ledger: this batch's lines)."""
    snap = {s: {} for s in shops}
    for name in FILES:
        t = read_spark(out, name) if (out / name).exists() else None
        for s in shops:
            if t is None:
                snap[s][name] = []
                continue
            mine = t.filter(pa.compute.equal(t.column("shop"), s))
            if name == "ledger":
                mine = mine.filter(pa.compute.equal(mine.column("batch"), batch))
            snap[s][name] = shop_rows(mine, name)
    return snap


def single_run(root: Path, shops, work: Path, as_of: str, policy: str) -> dict:
    """Each shop on one machine, on a database of its own that carries over from run to run."""
    from pipeline import db, export
    from pipeline.clock import parse_as_of
    from pipeline.liabilities import new_run_id
    from pipeline.policy import load_policy
    from pipeline.run import run_steps

    snap = {}
    for s in shops:
        out, db_path = work / s / "out", work / s / "shop.duckdb"
        if s == FULL_RUN:
            done = run_pipeline([root / s], db_path, out, policy=policy, as_of=as_of, create=True)
            snap[s] = {name: single_rows(out, name) for name in FILES}
            snap[s]["run_id"] = done.run_id
            snap[s]["people"] = people_of(out)
            continue
        con = db.connect(db_path, create=True)
        try:
            run_id = new_run_id()
            with db.transaction(con):
                run_steps(con, [root / s], parse_as_of(as_of), load_policy(policy), run_id, "test")
            queries = export.output_queries(con)
            con.execute(f"create or replace temp table _pending as {export.PENDING_PAYOUTS}")
            queries["payouts.parquet"] = (export.pending_payouts_select(con), {})
            tables = {}
            for name, file in FILES.items():
                query, params = queries[f"{file}.parquet"]
                t = con.sql(query, params=params or None).to_arrow_table()
                if "shop" in t.column_names:
                    t = t.rename_columns(["shop_name" if c == "shop" else c for c in t.column_names])
                tables[name] = t
            # published, as `shortship run` marks them, so the next run's lines are its own
            export.mark_published(con, "test", tables["ledger"].column("payout_id").to_pylist())
            snap[s] = {name: shop_rows(t, name) for name, t in tables.items()}
            # the people's files, by the writers `shortship run` uses, into the shop's own folder
            export.write_people_files(con, out, lang="zh", run_id=run_id, as_of=parse_as_of(as_of),
                                      policy=load_policy(policy))
            snap[s]["run_id"] = run_id
            snap[s]["people"] = people_of(out)
        finally:
            con.close()
    return snap


def people_of(folder: Path) -> dict[str, bytes]:
    """{relative path: bytes} of the people's files in an output folder (manifest.json aside)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and (p.name in PEOPLE_FILES or p.relative_to(folder).parts[0] == "evidence")}


def same_but_run_ids(got: dict[str, bytes], want: dict[str, bytes], got_run: str, want_run: str) -> list[str]:
    """The files whose bytes differ, report.html compared with each side's run id replaced by a
    placeholder (the one thing in the people's files that names the run)."""
    diff = sorted(set(got) ^ set(want))
    for rel in sorted(set(got) & set(want)):
        a, b = got[rel], want[rel]
        if rel == "report.html":
            assert got_run.encode() in a and want_run.encode() in b, "the report names its run"
            a, b = a.replace(got_run.encode(), b"RUN"), b.replace(want_run.encode(), b"RUN")
        if a != b:
            diff.append(rel)
    return diff


def decide_first_row(review: Path, target: Path, decision: str = "商家") -> str:
    """A person fills the decision of review.csv's first row and puts the file with the shop's
    exports (UTF-8 with BOM, as Excel saves it). Returns the order decided."""
    rows = list(csv.reader(io.StringIO(review.read_text(encoding="utf-8-sig"))))
    head, first = rows[0], rows[1]
    first[head.index("判定")] = decision
    first[head.index("判定人")] = "小王"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([head, first])
    target.write_bytes(buf.getvalue().encode("utf-8-sig"))
    return re.sub(r"\D", "", first[head.index("订单编号")])


@pytest.fixture(scope="module")
def people_partitions():
    """(shops, partitions) of each spark-run's people's files as they travel to the driver (one
    partition at a time), for the runs of this module."""
    from pipeline.spark import job

    seen: list[tuple[int, int]] = []
    publish = job._publish_people

    def recorded(fs, out_, results, shops, had_manifest):
        seen.append((len(shops), results.rdd.getNumPartitions()))
        return publish(fs, out_, results, shops, had_manifest)

    job._publish_people = recorded
    try:
        yield seen
    finally:
        job._publish_people = publish


@pytest.fixture(scope="module")
def scenario(spark, tmp_path_factory, people_partitions):
    base = tmp_path_factory.mktemp("spark_scenario")
    full, early, part, single, out = (base / n for n in ("full", "early", "part", "single", "out"))
    make_shops(full)
    early_copy(full, early)
    for s in PART:
        shutil.copytree(full / s, part / s)
    marks = base / "marks"
    marks.mkdir()
    res = {"base": base, "out": out, "marks": marks, "runs": {}, "people_partitions": people_partitions}
    all_shops = [shop_name(i) for i in range(N_SHOPS)]

    def both(key, root, shops, as_of, policy, **kw):
        summary = spark_run([root], out, as_of=as_of, policy=policy, spark=spark, **kw)
        res["runs"][key] = {
            "summary": summary,
            "spark": spark_snapshot(out, shops, summary.batch),
            "people": {s: people_of(out / "people" / s) for s in shops},
            "single": single_run(root, shops, single, as_of, policy),
            "shops": shops,
        }

    both("A", early, EARLY, AS_OF_A, "tmall")
    both("B", full, all_shops, AS_OF_B, "tmall", _fail_once=(FAILING, str(marks)))
    res["single_dir"] = single
    res["ledger_files_before_D"] = sorted(p.relative_to(out) for p in (out / "ledger").rglob("*.parquet"))
    res["flags_before_D"] = read_spark(out, "flags")
    bad = part / "坏店"
    bad.mkdir()
    shutil.copy2(Path(__file__).resolve().parent.parent / "fixtures" / "bad" / "missing_column.csv",
                 bad / "ExportOrderList202405140930.csv")
    (part / "空店").mkdir()  # a shop folder with nothing to load
    res["D"] = spark_run([part], out, as_of=AS_OF_B, policy="tmall", spark=spark)
    res["ledger_files_after_D"] = sorted(p.relative_to(out) for p in (out / "ledger").rglob("*.parquet"))
    res["flags_after_D"] = read_spark(out, "flags")
    # E: a person decides one order of DECIDED's review.csv and puts it with the shop's exports
    shutil.rmtree(bad)
    shutil.rmtree(part / "空店")
    res["decided_order"] = decide_first_row(out / "people" / DECIDED / "review.csv", part / DECIDED / "review.csv")
    res["people_before_E"] = {s: people_of(out / "people" / s) for s in PART}
    res["E"] = spark_run([part], out, as_of=AS_OF_B, policy="tmall", spark=spark)
    res["people_E"] = {s: people_of(out / "people" / s) for s in PART}
    res["single_E"] = run_pipeline([part / DECIDED], single / DECIDED / "shop.duckdb", single / DECIDED / "out",
                                   policy="tmall", as_of=AS_OF_B)
    res["single_E_people"] = people_of(single / DECIDED / "out")
    return res


def test_people_files_reach_the_driver_a_shop_at_a_time(scenario, spark):
    # not in the partitions coalesced for writing (as many as cores): one of those held every
    # shop's pages, and 20 shops of 20,000 orders ran the driver out of its (default) heap on local[1]
    b = scenario["people_partitions"][1]  # run B: every shop
    assert b == (N_SHOPS, N_SHOPS)
    assert b[1] > spark.sparkContext.defaultParallelism


@pytest.mark.parametrize("run", ["A", "B"])
def test_every_shop_equals_its_single_machine_run(scenario, run):
    r = scenario["runs"][run]
    assert not r["summary"].failed
    assert sorted(s.shop for s in r["summary"].shops) == sorted(r["shops"])
    for shop in r["shops"]:
        for name in FILES:
            got, want = r["spark"][shop][name], r["single"][shop][name]
            assert got == want, f"run {run}, shop {shop}, {name}: {len(got)} rows on Spark, {len(want)} on one machine"


@pytest.mark.parametrize("run", ["A", "B"])
def test_every_shops_people_files_are_its_single_machine_files(scenario, run):
    """people/<shop>/ holds the bytes the shop's own output folder holds on one machine."""
    r = scenario["runs"][run]
    spark_run_id = r["summary"].run_id
    for shop in r["shops"]:
        got = r["people"][shop]
        want = r["single"][shop]["people"]
        assert {"review.csv", "reship.csv", "courier_claims.csv", "report.html"} <= set(got), shop
        assert same_but_run_ids(got, want, spark_run_id, r["single"][shop]["run_id"]) == [], (run, shop)
        # the task's temporary copies are named nowhere
        assert not any(b"shortship-spark-" in data for data in got.values()), (run, shop)


def test_people_files_carry_over_what_did_not_change(scenario):
    """The folder is one incremental set, as on one machine: pages whose facts did not change
    from run A to run B keep their bytes (and the clock of their facts), the manifest lists
    exactly the folder's files, and no checksum or staging file is left beside them."""
    import json

    runs, out = scenario["runs"], scenario["out"]
    pages = [(s, rel) for s in EARLY for rel in runs["A"]["people"][s] if rel.startswith("evidence/")]
    assert pages, "the early shops have evidence pages"
    kept = [(s, rel) for s, rel in pages if runs["B"]["people"][s].get(rel) == runs["A"]["people"][s][rel]]
    assert kept and f"本页事实截至 {AS_OF_A[:16]}".encode() in runs["B"]["people"][kept[0][0]][kept[0][1]]
    for shop in [shop_name(i) for i in range(N_SHOPS)]:
        folder = out / "people" / shop
        listed = {f["path"] for f in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]}
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
        assert listed == on_disk, shop


def test_a_decision_in_one_shops_folder_moves_that_shops_ledger_and_no_other(scenario):
    e, out, order = scenario["E"], scenario["out"], scenario["decided_order"]
    assert not e.failed
    ledger = read_spark(out, "ledger")
    new = ledger.filter(pa.compute.equal(ledger.column("batch"), e.batch))
    assert set(new.column("shop").to_pylist()) == {DECIDED}
    assert order in new.column("order_id").to_pylist()
    assert [s.shop for s in e.ok if s.payout_lines] == [DECIDED]
    # the decided order left the shop's review.csv, and its evidence quotes the file where it lies
    before, after = scenario["people_before_E"], scenario["people_E"]
    assert order.encode() in before[DECIDED]["review.csv"] and order.encode() not in after[DECIDED]["review.csv"]
    flags = read_spark(out, "flags")
    evidence = flags.filter(pa.compute.equal(flags.column("order_id"), order)).column("evidence")[0].as_py()
    assert str(scenario["base"] / "part" / DECIDED / "review.csv") in evidence
    # what `shortship run` gives on one machine with the same decision, byte for byte
    single = scenario["single_E"]
    assert same_but_run_ids(after[DECIDED], scenario["single_E_people"],
                            e.run_id, single.run_id) == []
    assert single.payout_lines == next(s.payout_lines for s in e.ok if s.shop == DECIDED)
    # the other shops' people's files did not move (their report names the new run only)
    for shop in PART:
        if shop != DECIDED:
            assert same_but_run_ids(after[shop], before[shop], e.run_id, scenario["D"].run_id) == [], shop


def test_overview_ranks_every_shop_by_what_it_owes(scenario):
    """<out>/overview.html lists every shop of --out (also those the last run did not run), ranked
    by what it owes, each amount the sum of its owed liabilities, each linking to its report."""
    from decimal import Decimal

    out = scenario["out"]
    page = (out / "overview.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-rank="(\d+)" data-shop="([^"]*)" data-owed-yuan="([^"]*)" '
                      r'data-review-orders="(\d+)"\s+data-review-yuan="([^"]*)"', page)
    shops = [shop_name(i) for i in range(N_SHOPS)]
    assert sorted(r[1] for r in rows) == sorted(shops)
    owed = [Decimal(r[2]) for r in rows]
    keys = [(-Decimal(r[2]), -Decimal(r[4]), -int(r[3])) for r in rows]
    assert keys == sorted(keys) and owed[0] > owed[-1]
    li = read_spark(out, "liabilities")
    for _, shop, yuan, _, _ in rows:
        mine = li.filter(pa.compute.and_(pa.compute.equal(li.column("shop"), shop),
                                         pa.compute.equal(li.column("status"), "owed")))
        assert Decimal(yuan) == sum(mine.column("total_yuan").to_pylist(), Decimal("0.00")), shop
        assert (out / "people" / shop / "report.html").exists()
    assert 'href="people/%E7%AB%A5%E8%B6%A3%20%E7%8E%A9%E5%85%B7%E5%BA%97/report.html"' in page
    assert "店铺排名" in page  # Chinese by default


def test_the_scenario_is_not_trivial(scenario):
    """Flags of every kind, rejected rows, and ledger lines of every reason over the runs."""
    runs = scenario["runs"]
    flags = [f for s in runs["B"]["single"].values() for f in s["flags"]]
    assert {f["kind"] for f in flags} == {"short", "wrong", "empty", "not_received", "unshipped"}
    assert sum(len(s["rejects"]) for s in runs["B"]["single"].values()) > 0
    reasons = {line["reason"] for r in runs.values() for s in r["spark"].values() for line in s["ledger"]}
    assert {"new", "reversal"} <= reasons
    # B added lines on top of A's for most shops: deltas against the earlier batch
    assert sum(1 for s in runs["B"]["spark"].values() if s["ledger"]) >= N_SHOPS // 2


def test_ledger_holds_every_line_of_every_run_once(scenario):
    """The whole ledger of each shop (all batches) equals the shop's database ledger."""
    out = scenario["out"]
    ledger = read_spark(out, "ledger")
    for shop in PART + ["shop05", shop_name(N_SHOPS - 1)]:
        mine = ledger.filter(pa.compute.equal(ledger.column("shop"), shop))
        con = duckdb.connect(str(scenario["single_dir"] / shop / "shop.duckdb"), read_only=True)
        try:
            want = shop_rows(con.sql("select * from payouts").to_arrow_table(), "ledger")
        finally:
            con.close()
        assert shop_rows(mine, "ledger") == want
        ids = mine.column("payout_id").to_pylist()
        assert len(ids) == len(set(ids))
        # one batch per run that had lines for the shop, named after the run's as-of
        batches = set(mine.column("batch").to_pylist())
        assert all(b.startswith(("20240506T120000-", "20240606T000000-")) for b in batches)


def test_a_failed_task_and_a_half_written_batch_are_retried_whole(scenario):
    marks = scenario["marks"]
    assert (marks / "task-failed").exists()
    assert (marks / "ledger-writer-failed").exists()
    # the run's results for that shop are still exactly the single-machine ones (test above);
    # and its batch holds each line once
    b = scenario["runs"]["B"]
    assert b["spark"][FAILING]["ledger"] == b["single"][FAILING]["ledger"]
    assert b["spark"][FAILING]["ledger"]


def test_rerun_writes_nothing_new_and_a_broken_shop_is_left_as_it_was(scenario):
    d = scenario["D"]
    out = scenario["out"]
    assert scenario["ledger_files_after_D"] == scenario["ledger_files_before_D"]
    assert sum(s.payout_lines for s in d.ok) == 0
    assert [s.shop for s in d.failed] == ["坏店", "空店"]
    assert "ExportOrderList202405140930.csv" in d.failed[0].error
    assert "no export files" in d.failed[1].error
    assert not (out / "flags" / "shop=坏店").exists()
    # every shop's rows are what run B wrote
    assert shop_rows(scenario["flags_after_D"], "flags") == shop_rows(scenario["flags_before_D"], "flags")


def test_columns_are_the_single_machine_columns(scenario):
    out, single = scenario["out"], scenario["single_dir"] / "shop01" / "out"
    for name, file in FILES.items():
        want = pq.read_schema(single / f"{file}.parquet").names
        want = ["shop_name" if c == "shop" else c for c in want]
        part = next((out / name / "shop=shop01").rglob("*.parquet"))
        assert pq.read_schema(part).names == want, name


def test_summary_counts_match_the_datasets(scenario):
    b = scenario["runs"]["B"]
    s, single = b["summary"], b["single"].values()
    assert s.total("orders") == sum(d["orders"] for r in single for d in r["summary"])
    assert sum(s.flagged().values()) == sum(len(r["flags"]) for r in single) > 0
    assert s.total("payout_lines") == sum(len(r["ledger"]) for r in single)
    assert s.total("rejects") == sum(len(r["rejects"]) for r in single)
    text = "\n".join(s.lines())
    assert f"{N_SHOPS} shop(s)" in text and f"batch {s.batch}" in text


def test_an_earlier_as_of_is_refused_naming_both(scenario, spark):
    before = sorted(p.relative_to(scenario["out"]) for p in scenario["out"].rglob("*.parquet"))
    result = CliRunner().invoke(cli, ["spark-run", str(scenario["base"] / "part"), "--out", str(scenario["out"]),
                                      "--as-of", "2024-06-01", "--policy", "tmall"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "2024-06-01 00:00:00" in lines[0] and "2024-06-06 00:00:00" in lines[0]
    assert sorted(p.relative_to(scenario["out"]) for p in scenario["out"].rglob("*.parquet")) == before


def test_cli_names_a_missing_input(tmp_path, spark):
    result = CliRunner().invoke(cli, ["spark-run", str(tmp_path / "nope"), "--out", str(tmp_path / "out"),
                                      "--as-of", "2024-06-01"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'nope'}: no such folder"


def test_out_inside_the_input_is_refused(tmp_path, spark):
    (tmp_path / "in" / "shop").mkdir(parents=True)
    with pytest.raises(ShortshipError, match="--out is inside the input folder"):
        spark_run([tmp_path / "in"], tmp_path / "in" / "out", as_of="2024-06-01", spark=spark)


def test_an_export_outside_a_shop_folder_is_refused(tmp_path, spark):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ExportOrderList201903121048.csv").write_text("x")
    with pytest.raises(ShortshipError, match="outside any shop folder"):
        spark_run([tmp_path / "in"], tmp_path / "out", as_of="2024-06-01", spark=spark)


def test_local_people_file_writes_and_removes_with_the_folders_it_empties(tmp_path):
    from pipeline.spark.job import _local_people_file

    shop = tmp_path / "people" / "店一"
    _local_people_file(str(shop), "evidence/07/1.html", b"<p>1</p>")
    _local_people_file(str(shop), "evidence/07/2.html", b"<p>2</p>")
    _local_people_file(str(shop), "review.csv", b"a,b\n")
    assert (shop / "evidence" / "07" / "1.html").read_bytes() == b"<p>1</p>"
    _local_people_file(str(shop), "evidence/07/1.html", None)  # its folder still holds 2.html
    assert not (shop / "evidence" / "07" / "1.html").exists() and (shop / "evidence" / "07").is_dir()
    _local_people_file(str(shop), "evidence/07/2.html", None)  # the folders it empties go, not the shop's
    assert not (shop / "evidence").exists() and (shop / "review.csv").exists()
    _local_people_file(str(shop), "evidence/07/2.html", None)  # already gone: nothing to do
    _local_people_file(str(shop), "review.csv", None)
    assert shop.is_dir() and not any(shop.iterdir())
