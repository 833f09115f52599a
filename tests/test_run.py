"""`shortship run` end to end: outputs and their types, the report against the Parquet totals,
repeat runs, bad options, a run killed half way, and two runs on one database at once."""
from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.act import FILES as ACT_FILES
from pipeline.cli import cli

from .conftest import FIXTURES, ROOT

SAMPLE = FIXTURES / "run_sample"
AS_OF = "2019-03-10 12:00:00"
LATER = "2019-03-13 12:00:00"  # order ...002's ship-by (03-12 09:00) has passed: curable -> owed
PARQUET = ("flags.parquet", "liabilities.parquet", "payouts.parquet", "summary.parquet", "rejects.parquet")
MONEY = pa.decimal128(18, 2)

# the contract of SPEC section 6: column -> arrow type
CONTRACT = {
    "flags.parquet": {
        "order_id": pa.string(), "shop": pa.string(), "kind": pa.string(), "responsibility": pa.string(),
        "confidence": pa.float64(), "rules": pa.list_(pa.string()), "evidence": pa.string(),
        "missing_qty": pa.int64(), "affected_amount": MONEY,
    },
    "liabilities.parquet": {
        "order_id": pa.string(), "shop": pa.string(), "platform": pa.string(), "kind": pa.string(),
        "responsibility": pa.string(), "status": pa.string(), "base_amount": MONEY,
        "compensation_yuan": MONEY, "points": pa.int64(), "floor_applied": pa.bool_(),
        "cap_applied": pa.bool_(), "goods_refund_yuan": MONEY, "freight_yuan": MONEY, "total_yuan": MONEY,
        "deadline": pa.timestamp("us"), "policy": pa.string(),
    },
    "payouts.parquet": {
        "payout_id": pa.int64(), "run_id": pa.string(), "order_id": pa.string(), "points": pa.int64(),
        "yuan": MONEY, "reason": pa.string(),
    },
    "summary.parquet": {
        "shop": pa.string(), "day": pa.date32(), "orders": pa.int64(), "flagged": pa.int64(),
        "flagged_short": pa.int64(), "flagged_wrong": pa.int64(), "flagged_empty": pa.int64(),
        "flagged_not_received": pa.int64(), "flagged_unshipped": pa.int64(),
        "compensation_yuan": MONEY, "points": pa.int64(), "goods_refund_yuan": MONEY,
        "freight_yuan": MONEY, "total_yuan": MONEY,
    },
    "rejects.parquet": {"source_file": pa.string(), "line": pa.int64(), "reason": pa.string()},
}


# --- helpers ------------------------------------------------------------------------------

def run_cli(*args: str, create: bool = True):
    return CliRunner().invoke(cli, ["run", *args, *(["--create"] if create else [])], catch_exceptions=False)


def check_contract(out: Path) -> dict[str, pa.Table]:
    tables = {}
    for name in PARQUET:
        t = pq.read_table(out / name)
        for col, typ in CONTRACT[name].items():
            assert col in t.schema.names, f"{name} lacks {col}"
            assert t.schema.field(col).type == typ, f"{name}.{col}: {t.schema.field(col).type} != {typ}"
        # every money-like column is DECIMAL(18,2) and every points column int64
        for field in t.schema:
            if field.name.endswith(("_yuan", "_amount")) or field.name == "yuan":
                assert field.type == MONEY, f"{name}.{field.name} is {field.type}"
            if field.name == "points":
                assert field.type == pa.int64()
        tables[name] = t
    return tables


def dec_sum(table: pa.Table, col: str) -> Decimal:
    return sum((v for v in table.column(col).to_pylist() if v is not None), Decimal("0.00"))


def int_sum(table: pa.Table, col: str) -> int:
    return sum(v for v in table.column(col).to_pylist() if v is not None)


class _TotalsParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.totals: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "totals":
            self.totals = {k[5:]: v for k, v in a.items() if k.startswith("data-")}


def report_totals(path: Path) -> dict[str, str]:
    p = _TotalsParser()
    p.feed(path.read_text(encoding="utf-8"))
    assert p.totals is not None, "report.html has no #totals section"
    return p.totals


def db_state(db_path: Path) -> dict:
    """Row counts and full contents of the result tables (and the loaded tables' counts)."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        state = {}
        for t in ("flags", "liabilities", "payouts", "runs"):
            state[t] = con.execute(f"select * from {t} order by all").fetchall()
        for t in ("orders", "order_lines", "refunds", "shipments", "rejects", "load_manifest"):
            state[t + "_count"] = con.execute(f"select count(*) from {t}").fetchone()[0]
        return state
    finally:
        con.close()


def files_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def spawn(*args: str, env_extra: dict | None = None, create: bool = True) -> subprocess.Popen:
    env = dict(os.environ, **(env_extra or {}))
    env.pop("SHORTSHIP_LOCK_WAIT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", *args, *(["--create"] if create else [])],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    """Read the process's stderr until a line containing `needle` (fails on timeout or exit)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            line = proc.stderr.readline()
            if line == "" and proc.poll() is not None:
                break
            seen.append(line)
            if needle in line:
                return line
        elif proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"never saw {needle!r}; stderr so far: {''.join(seen)!r}; rc={proc.poll()}")


# --- a completed run, shared -------------------------------------------------------------

@pytest.fixture(scope="module")
def done(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    db_path, out = base / "shop.duckdb", base / "out"
    r = run_cli(str(SAMPLE), "--db", str(db_path), "--out", str(out), "--as-of", AS_OF, "--json")
    assert r.exit_code == 0, r.output + r.stderr
    return {"db": db_path, "out": out, "json": json.loads(r.stdout)}


def test_run_writes_every_output_with_the_contract_types(done):
    out = done["out"]
    names = {p.name for p in out.iterdir()}
    assert names == set(PARQUET) | set(ACT_FILES) | {"report.html", "overview.html", "review.csv", "manifest.json", "payouts"}, names
    t = check_contract(out)
    flags = t["flags.parquet"]
    assert flags.num_rows >= 2
    kinds = dict(zip(flags.column("order_id").to_pylist(), flags.column("kind").to_pylist()))
    # the fixture's planted cases
    assert kinds.get("1001000000000000001") == "short"   # 少件/漏发 refund, refund completed
    assert kinds.get("1001000000000000002") == "short"   # shipments: 1 of 2 cars shipped
    assert "1001000000000000007" not in kinds           # 七天无理由: not a shipping fault
    # order ids kept whole as strings (no Excel wrapper, no float)
    assert all(re.fullmatch(r"\d{19}", o) for o in flags.column("order_id").to_pylist())
    liab = t["liabilities.parquet"]
    assert liab.num_rows == flags.num_rows
    status = dict(zip(liab.column("order_id").to_pylist(), liab.column("status").to_pylist()))
    assert status["1001000000000000002"] == "curable"    # ship-by 03-12 09:00 is after the as-of
    assert status["1001000000000000001"] == "owed"
    assert status["1001000000000000006"] == "cured"      # re-shipped before the ship-by
    assert status["1001000000000000008"] == "owed"       # re-shipped, but after the ship-by
    assert kinds.get("1001000000000000003") == "wrong" and status["1001000000000000003"] == "owed"
    assert kinds.get("1001000000000000004") == "unshipped" and status["1001000000000000004"] == "owed"
    # payouts of this run equal what is owed (first run: every owed order is new)
    pay = t["payouts.parquet"]
    assert pay.num_rows >= 1
    assert set(pay.column("run_id").to_pylist()) == {done["json"]["run_id"]}
    assert int_sum(pay, "points") == int_sum(liab, "points")
    # rejects: the two bad order rows of the fixture
    rej = t["rejects.parquet"]
    assert rej.num_rows == 2
    assert sorted(rej.column("line").to_pylist()) == [10, 11]


def test_report_totals_equal_the_parquet_totals(done):
    out = done["out"]
    totals = report_totals(out / "report.html")
    liab = pq.read_table(out / "liabilities.parquet")
    flags = pq.read_table(out / "flags.parquet")
    summary = pq.read_table(out / "summary.parquet")
    pay = pq.read_table(out / "payouts.parquet")
    assert Decimal(totals["total-yuan"]) == dec_sum(liab, "total_yuan")
    assert Decimal(totals["compensation-yuan"]) == dec_sum(liab, "compensation_yuan")
    assert Decimal(totals["goods-refund-yuan"]) == dec_sum(liab, "goods_refund_yuan")
    assert Decimal(totals["freight-yuan"]) == dec_sum(liab, "freight_yuan")
    assert int(totals["points"]) == int_sum(liab, "points")
    assert int(totals["flagged"]) == flags.num_rows == int_sum(summary, "flagged")
    assert int(totals["orders"]) == int_sum(summary, "orders")
    assert Decimal(totals["total-yuan"]) == dec_sum(summary, "total_yuan")
    assert int(totals["points"]) == int_sum(summary, "points")
    assert Decimal(totals["payout-yuan"]) == dec_sum(pay, "yuan")
    assert int(totals["payout-points"]) == int_sum(pay, "points")
    for kind in ("short", "wrong", "empty", "not_received", "unshipped"):
        assert int(totals[f"flagged-{kind.replace('_', '-')}"]) == int_sum(summary, f"flagged_{kind}")
    assert int(totals["rejects"]) == pq.read_table(out / "rejects.parquet").num_rows


def test_json_summary_is_one_object_with_money_as_strings(done):
    s = done["json"]
    liab = pq.read_table(done["out"] / "liabilities.parquet")
    flags = pq.read_table(done["out"] / "flags.parquet")
    assert s["flagged"]["total"] == flags.num_rows
    assert isinstance(s["owed"]["yuan"], str) and isinstance(s["total_yuan"], str)
    assert isinstance(s["ledger"]["yuan"], str) and isinstance(s["curable"]["at_risk_yuan"], str)
    statuses = liab.column("status").to_pylist()
    assert s["owed"]["orders"] == statuses.count("owed")
    assert Decimal(s["total_yuan"]) == dec_sum(liab, "total_yuan")
    owed = [y for y, st in zip(liab.column("compensation_yuan").to_pylist(), statuses) if st == "owed"]
    assert Decimal(s["owed"]["yuan"]) == sum(owed, Decimal("0.00"))
    assert s["curable"]["orders"] == statuses.count("curable") >= 1
    deadlines = [d for d, st in zip(liab.column("deadline").to_pylist(), statuses) if st == "curable"]
    assert s["curable"]["nearest_deadline"] == str(min(deadlines))
    assert s["rejects"] == {"this_run": 2, "total": 2}
    assert s["orders"] == 8


def test_text_summary_and_second_run_is_idempotent(tmp_path):
    db_path, out = tmp_path / "s.duckdb", tmp_path / "out"
    args = [str(SAMPLE), "--db", str(db_path), "--out", str(out), "--as-of", AS_OF]
    first = run_cli(*args, "--lang", "en")
    assert first.exit_code == 0, first.output
    text = first.stdout
    for word in ("orders:", "flagged:", "owed:", "curable:", "nearest deadline", "rejects:", "ledger:"):
        assert word in text
    f1 = pq.read_table(out / "flags.parquet")
    l1 = pq.read_table(out / "liabilities.parquet")
    p1 = pq.read_table(out / "payouts.parquet")
    assert p1.num_rows >= 1

    second = run_cli(*args)  # Chinese, the default
    assert second.exit_code == 0, second.output
    assert "已载入过 4 个" in second.stdout
    assert "output files: 12 written (new or changed), 0 unchanged, 0 removed" in text
    # the second writes only what changed: flags and liabilities (their run_id), payouts.parquet
    # (now empty), and, now in Chinese, the report, the overview (the sample holds three shops)
    # and the three CSV files for people; the
    # summary, rejects and root causes (Parquet, canonical) are left as they were
    assert "输出文件：写入 8 个（新增或有变化），未变 3 个，删除 0 个" in second.stdout
    for word in ("订单：", "应赔付：", "可补发免赔：", "最近截止", "拒绝行：", "打款记录："):
        assert word in second.stdout
    f2 = pq.read_table(out / "flags.parquet")
    l2 = pq.read_table(out / "liabilities.parquet")
    p2 = pq.read_table(out / "payouts.parquet")
    drop = lambda t: t.drop_columns([c for c in ("run_id",) if c in t.schema.names])  # noqa: E731
    # the same facts, said in the run's language (English, then Chinese)
    said = lambda t: drop(t).drop_columns(["evidence"])  # noqa: E731
    assert said(f1).to_pylist() == said(f2).to_pylist()
    assert f1.column("evidence").to_pylist() != f2.column("evidence").to_pylist()
    assert any("责任" in e for e in f2.column("evidence").to_pylist())
    assert drop(l1).to_pylist() == drop(l2).to_pylist()
    # nothing new to pay: an empty ledger file with the same column types
    assert p2.num_rows == 0
    assert [(f.name, f.type) for f in p2.schema] == [(f.name, f.type) for f in p1.schema]
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        assert con.execute("select count(*) from runs").fetchone()[0] == 2
        assert con.execute("select count(*) from payouts").fetchone()[0] == p1.num_rows
    finally:
        con.close()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["no/such/folder"], "no such file or folder"),
        ([str(SAMPLE), "--as-of", "10/03/2019"], "--as-of"),
        ([str(SAMPLE), "--policy", "nonesuch"], "nonesuch"),
        ([str(SAMPLE), "--policy", "BADTOML"], "not valid TOML"),
    ],
)
def test_bad_options_exit_nonzero_with_one_error_line(tmp_path, args, needle):
    bad = tmp_path / "bad.toml"
    bad.write_text("id = [unclosed\n", encoding="utf-8")
    args = [str(bad) if a == "BADTOML" else a for a in args]
    db_path = tmp_path / "x.duckdb"
    r = run_cli(*args, "--db", str(db_path), "--out", str(tmp_path / "out"))
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert needle in lines[0]
    assert not db_path.exists()  # checked before the database was touched
    assert not (tmp_path / "out").exists()


def test_bad_file_in_the_inputs_leaves_database_and_outputs_unchanged(tmp_path, done):
    import shutil

    db_path, out = tmp_path / "s.duckdb", tmp_path / "out"
    shutil.copy(done["db"], db_path)
    shutil.copytree(done["out"], out)
    before_db, before_out = db_state(db_path), files_bytes(out)
    bad_dir = tmp_path / "in"
    bad_dir.mkdir()
    (bad_dir / "shipments201903120000.csv").write_text(
        "order_id,sku,quantity,shipped_at\n1001000000000000004,SKU-PUZZLE,1,2019-03-11 10:00:00\n", encoding="utf-8"
    )
    # a refund export without 退款编号: an export that cannot be loaded (a file that is no export
    # at all is skipped in a folder: tests/test_bad_inputs.py)
    (bad_dir / "junk.csv").write_text("订单编号,买家退款金额,退款状态\n1,2.00,退款成功\n", encoding="utf-8")
    r = run_cli(str(SAMPLE), str(bad_dir), "--db", str(db_path), "--out", str(out), "--as-of", LATER)
    assert r.exit_code != 0
    assert r.stderr.strip().startswith("Error: ") and "junk.csv" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert db_state(db_path) == before_db
    assert files_bytes(out) == before_out


# --- killed half way: tests/test_faults.py (every step boundary, SIGKILL and Ctrl-C) ------------


# --- two runs at once ---------------------------------------------------------------------

def test_second_run_waits_for_the_first_then_succeeds(tmp_path):
    db_path = tmp_path / "c.duckdb"
    a = spawn(str(SAMPLE), "--db", str(db_path), "--out", str(tmp_path / "a"), "--as-of", AS_OF, "--json",
              env_extra={"SHORTSHIP_TEST_PAUSE_AT": "ledger", "SHORTSHIP_TEST_PAUSE_SECONDS": "3"})
    try:
        wait_for_line(a, "paused at ledger")
        b = spawn(str(SAMPLE), "--db", str(db_path), "--out", str(tmp_path / "b"), "--as-of", AS_OF, "--json")
        out_b, err_b = b.communicate(timeout=60)
        out_a, err_a = a.communicate(timeout=60)
    finally:
        for p in (a,):
            if p.poll() is None:
                p.kill()
    assert a.returncode == 0, err_a
    assert b.returncode == 0, err_b
    sa, sb = json.loads(out_a), json.loads(out_b)
    assert sa["files"]["loaded"] == 4 and sb["files"]["skipped"] == 4  # b ran after a, not beside it
    assert sa["ledger"]["lines"] >= 1 and sb["ledger"]["lines"] == 0    # nothing paid twice
    state = db_state(db_path)
    assert len(state["runs"]) == 2
    assert len(state["payouts"]) == sa["ledger"]["lines"]
    assert pq.read_table(tmp_path / "b" / "flags.parquet").num_rows == pq.read_table(tmp_path / "a" / "flags.parquet").num_rows


def test_second_run_gives_up_with_one_line_when_the_wait_is_over(tmp_path):
    db_path = tmp_path / "c.duckdb"
    a = spawn(str(SAMPLE), "--db", str(db_path), "--out", str(tmp_path / "a"), "--as-of", AS_OF,
              env_extra={"SHORTSHIP_TEST_PAUSE_AT": "ledger", "SHORTSHIP_TEST_PAUSE_SECONDS": "60"})
    try:
        wait_for_line(a, "paused at ledger")
        b = spawn(str(SAMPLE), "--db", str(db_path), "--out", str(tmp_path / "b"), "--as-of", AS_OF, "--wait", "1")
        out_b, err_b = b.communicate(timeout=60)
    finally:
        a.kill()
        a.wait(10)
    assert b.returncode != 0
    lines = err_b.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "in use" in lines[0], err_b
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
    # a was killed while paused: the database is intact and empty of results
    state = db_state(db_path)
    assert state["runs"] == [] and state["payouts"] == [] and state["orders_count"] == 0


# --- the repository's sample data (filled by `shortship generate`) --------------------------

SAMPLE_DATA = ROOT / "data" / "sample"


@pytest.mark.skipif(not SAMPLE_DATA.is_dir() or not any(SAMPLE_DATA.iterdir()), reason="data/sample not generated yet")
def test_make_run_equivalent_on_data_sample(tmp_path):
    r = run_cli(str(SAMPLE_DATA), "--db", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "out"), "--json")
    assert r.exit_code == 0, r.output + r.stderr
    check_contract(tmp_path / "out")
    s = json.loads(r.stdout)
    assert s["orders"] > 0
    totals = report_totals(tmp_path / "out" / "report.html")
    assert Decimal(totals["total-yuan"]) == dec_sum(pq.read_table(tmp_path / "out" / "liabilities.parquet"), "total_yuan")


def test_the_summary_lists_the_evidence_pages_as_one_entry():
    """The outputs line and --json name each file of the set once and the evidence pages (one
    per order, 240,000 in a large run) as one count."""
    from datetime import datetime

    from pipeline.run import RunSummary

    s = RunSummary("r", datetime(2019, 3, 10, 12), "tmall", "db", "out", lang="en")
    s.outputs = ["out/flags.parquet", *(f"out/evidence/{i:02d}/10{i:02d}.html" for i in range(3)), "out/manifest.json"]
    assert s.lines()[-2] == "outputs: out/flags.parquet, out/manifest.json, out/evidence (3 pages)"
    j = s.to_json()
    assert j["outputs"] == ["out/flags.parquet", "out/manifest.json"] and j["evidence_pages"] == 3


def test_a_tiny_run_writes_what_the_optimised_run_writes(tmp_path, monkeypatch):
    """A tiny run flags and writes without DuckDB's optimiser (pipeline/db.py plan_lightly):
    the same flags, liabilities and files as the same run with it, and the Parquet files
    without a run id byte for byte (their bytes decide what is published again)."""
    from pipeline import db, run

    light = []
    real = db.plan_lightly
    monkeypatch.setattr(db, "plan_lightly", lambda con: (light.append(1), real(con)))
    outs = {}
    for name, tiny in (("light", run.TINY_RUN_ORDERS), ("optimised", 0)):
        monkeypatch.setattr(run, "TINY_RUN_ORDERS", tiny)
        light.clear()
        out = tmp_path / name
        r = run_cli(str(SAMPLE), "--db", str(tmp_path / f"{name}.duckdb"), "--out", str(out), "--as-of", AS_OF)
        assert r.exit_code == 0, r.output
        assert bool(light) == (name == "light")  # the runs took the two paths
        outs[name] = out
    a, b = outs["light"], outs["optimised"]
    for name in ("summary.parquet", "rejects.parquet", "root_causes.parquet", "reship.csv", "courier_claims.csv",
                 "review.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    con = duckdb.connect()
    for name in ("flags.parquet", "liabilities.parquet", "payouts.parquet"):
        stamps = {"run_id", "created_at"} & set(pq.read_schema(a / name).names)  # the run's own
        rows = [con.execute(f"select * exclude ({', '.join(sorted(stamps))}) from read_parquet('{o / name}')"
                            if stamps else f"select * from read_parquet('{o / name}')").fetchall() for o in (a, b)]
        assert rows[0] == rows[1] and rows[0], name
    # the same set: every file (the payout batch named by its run) with the same rows
    listed = [[(f["path"].split("/")[0] if f["path"].startswith("payouts/") else f["path"], f["rows"])
               for f in json.loads((o / "manifest.json").read_text())["files"]] for o in (a, b)]
    assert listed[0] == listed[1]
