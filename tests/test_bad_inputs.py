"""Nothing misread (issue 13): the bad-input corpus of tests/fixtures/bad (expected.toml says what
each case gives), and the bad inputs that need a whole run: a refund above what was paid, the
largest values that load, a parcel written as several rows, folders with stray files."""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ShortshipError

from .conftest import FIXTURES, ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

BAD = FIXTURES / "bad"
SAMPLE = FIXTURES / "run_sample"
sys.path.insert(0, str(BAD))
import make_bad  # noqa: E402

CASES = tomllib.loads((BAD / "expected.toml").read_text(encoding="utf-8"))["case"]
TABLES = ("orders", "order_lines", "refunds", "shipments", "decisions", "rejects", "load_manifest")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def case_id(c: dict) -> str:
    return "-".join([c["file"], c.get("how", "file")] + ([c["kind"]] if "kind" in c else [])
                    + ([f"max-rejects-{c['max_rejects']}"] if "max_rejects" in c else []))


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    """A database holding a good load of tests/fixtures/run_sample."""
    p = tmp_path_factory.mktemp("good") / "good.duckdb"
    r = CliRunner().invoke(cli, ["load", str(SAMPLE), "--db", str(p), "--create"])
    assert r.exit_code == 0, r.output
    return p


@pytest.fixture(scope="module")
def good_state(good_db) -> tuple[dict, list[int]]:
    """The good database's snapshot and load ids, taken once: each case starts from a byte copy
    of it, whose snapshot is this one."""
    con = duckdb.connect(str(good_db), read_only=True)
    try:
        loads = [r[0] for r in con.execute("select load_id from load_manifest").fetchall()]
    finally:
        con.close()
    return snapshot(good_db), loads


def snapshot(db: Path, load_ids: list[int] | None = None) -> dict:
    """Every table's row count and content hash (of the given loads' rows only)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        where = f" where load_id in ({', '.join(map(str, load_ids))})" if load_ids else ""
        return {t: con.execute(f"select count(*), sum(hash(t)) from {t} t{where}").fetchone() for t in TABLES}
    finally:
        con.close()


def make_input(c: dict, folder: Path) -> Path:
    """The case's file (or subfolder) in `folder`."""
    name = c["file"]
    if name == "unreadable.csv":
        p = make_bad.build("good_shipments.csv", folder).rename(folder / name)
        p.chmod(0)
        return p
    if name == "locked":
        p = folder / name
        p.mkdir()
        make_bad.build("nul_early.csv", p)
        p.chmod(0)
        return p
    small = BAD / name
    if small.exists():
        return Path(shutil.copy(small, folder / name))
    return make_bad.build(name, folder)


def restore(path: Path) -> None:
    if path.exists() and not os.access(path, os.R_OK):
        path.chmod(stat.S_IRWXU)


_CLEANUP: list[Path] = []


def request_cleanup(path: Path) -> None:
    _CLEANUP.append(path)


@pytest.fixture(scope="module", autouse=True)
def _remove_folders_made_for_nobody():
    yield
    for p in _CLEANUP:
        shutil.rmtree(p, ignore_errors=True)


def test_the_corpus_is_large_and_made_by_its_script():
    assert len(CASES) >= 40
    for name, make in make_bad.CASES.items():
        data = make()
        if len(data) <= make_bad.BIG:  # the small files are kept as the script writes them
            assert (BAD / name).read_bytes() == data, f"{name}: run tests/fixtures/bad/make_bad.py"


@functools.lru_cache(maxsize=None)
def _nobody() -> tuple[str, ...] | None:
    """A prefix that runs a command as an unprivileged user, for root (to whom permissions mean
    nothing); None when there is no way to. (Found once per session: one process started to
    check it, not one per case.)"""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    ok = subprocess.run([*prefix, sys.executable, "-c", "import pipeline.cli"], cwd=ROOT, capture_output=True)
    return prefix if ok.returncode == 0 else None


class _Result:
    def __init__(self, p: subprocess.CompletedProcess):
        self.exit_code, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        self.output = p.stdout + p.stderr


@pytest.mark.parametrize("c", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input(c, good_db, good_state, tmp_path):
    prefix = None
    if IS_ROOT and c.get("root_ok", True) is False:
        prefix = _nobody()  # chmod means nothing to root: run the command as nobody
        if prefix is None:
            pytest.skip("running as root without setpriv (or a checkout nobody can read): "
                        "chmod cannot make a file unreadable")
        tmp_path = Path(tempfile.mkdtemp(prefix="shortship-bad-"))  # pytest's folders are root's alone
        tmp_path.chmod(0o777)
    db = tmp_path / "t.duckdb"
    shutil.copy(good_db, db)
    db.chmod(0o666)
    before, base_loads = good_state  # (of good_db, of which `db` is a byte copy)
    inputs = tmp_path / "in"
    inputs.mkdir()
    inputs.chmod(0o777)
    target = make_input(c, inputs)
    folder = c.get("how", "file") == "folder"
    if folder:
        make_bad.build("good_shipments.csv", inputs)
    args = ["load", str(inputs if folder else target), "--db", str(db)] + (["--kind", c["kind"]] if "kind" in c else [])
    args += ["--max-rejects", c["max_rejects"]] if "max_rejects" in c else []
    try:
        if prefix is None:
            r = CliRunner().invoke(cli, args)
        else:
            r = _Result(subprocess.run([*prefix, sys.executable, "-m", "pipeline", *args], cwd=ROOT,
                                       capture_output=True, text=True))
    finally:
        restore(target)
        if prefix is not None:
            request_cleanup(tmp_path)
    assert "Traceback" not in r.output + r.stderr
    assert r.exit_code == c["exit"], r.output + r.stderr
    err = r.stderr.strip().splitlines()
    if c["exit"] == 1:
        assert len(err) == 1 and err[0].startswith("Error: "), r.stderr
        assert re.search(c["error"], err[0]), err[0]
        assert snapshot(db) == before  # the database is unchanged
        return
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert snapshot(db, base_loads) == {t: v for t, v in before.items()}  # the good load is untouched
        if folder:
            assert len(err) == 1 and err[0].startswith("warning: "), r.stderr
            assert re.search(c["warning"], err[0]), err[0]
            assert con.execute("select count(*) from load_manifest where path = ?", [str(target)]).fetchone()[0] == 0
            good = con.execute("select loaded from load_manifest where file_name = 'good_shipments.csv'").fetchone()
            assert good == (2,)
            return
        assert not err, r.stderr
        m = con.execute(
            "select load_id, kind, rows_in, loaded, rejected, replaced, ignored from load_manifest where path = ?",
            [str(target)]).fetchone()
        load_id, kind, rows_in, loaded, rejected, replaced, ignored = m
        want = c["counts"] + [0] * (4 - len(c["counts"]))
        assert [rows_in, loaded, rejected, ignored] == want
        assert replaced == 0
        table = {"items": "order_lines"}.get(kind, kind)
        assert con.execute(f"select count(*) from {table} where load_id = ?", [load_id]).fetchone()[0] == loaded
        rejects = con.execute("select line, reason from rejects where load_id = ? order by line", [load_id]).fetchall()
        assert len(rejects) == len(c["rejects"]), rejects
        for (line, reason), (want_line, pattern) in zip(rejects, c["rejects"]):
            assert line == want_line and re.search(pattern, reason), (line, reason)
    finally:
        con.close()


# ---- a whole run -------------------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(cli, ["run", *args])


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes(text.encode(encoding))
    return p


ORDERS_H = "订单编号,买家会员名,买家应付货款,买家应付邮费,总金额,买家实际支付金额,订单状态,订单创建时间,订单付款时间,宝贝总数量\n"
ITEMS_H = "订单编号,标题,价格,购买数量,订单状态,商家编码\n"
REFUNDS_H = "订单编号,退款编号,买家退款金额,退款状态,货物状态,买家退款原因,退款的申请时间,买家实际支付金额\n"
SHIP_H = "order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship\n"


def owed(db: Path) -> tuple:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select coalesce(sum(total_yuan), 0), coalesce(sum(compensation_yuan), 0), "
                           "coalesce(sum(goods_refund_yuan), 0) from liabilities").fetchone()
    finally:
        con.close()


def owed_by_order(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "select order_id, total_yuan, compensation_yuan, goods_refund_yuan from liabilities").fetchall()}
    finally:
        con.close()


def test_a_refund_above_what_was_paid_raises_nothing_and_sends_its_order_to_review(tmp_path):
    """A short-shipment refund of 9,999,999.99 on an order that paid 39.40 (SPEC section 8: a
    refund that does not add up is a data problem, never evidence for money): it loads (it is
    the platform's record), raises nothing owed (the same refund of 39.40 is owed something,
    so the comparison means something), pays nothing, is listed as a data problem (printed line
    and --json), and its order waits in review.csv, disputed, with the problem in its evidence.
    Order 502 is known only from its refund: awaiting data whatever the amount."""
    def refund(o, amount):
        return f'201700000000000050{o},901700000000000050{o},"{amount}",退款成功,买家已收到货,少件/漏发,2017-05-03 10:00:00,39.40\n'

    results = {}
    for amount in ("39.40", "9,999,999.99"):
        folder = tmp_path / amount
        write(folder, "ExportOrderList201705040000.csv",
              ORDERS_H + "2017000000000000501,b1,39.40,0.00,39.40,39.40,交易成功,2017-05-01 10:00:00,2017-05-01 10:01:00,2\n")
        write(folder, "ExportOrderDetailList201705040000.csv", ITEMS_H + "2017000000000000501,公仔,19.70,2,交易成功,S1\n")
        write(folder, "ExportRefundList201705040000.csv", REFUNDS_H + refund(1, amount) + refund(2, amount))
        db = tmp_path / f"{amount}.duckdb"
        out = tmp_path / f"out{amount}"
        r = run(str(folder), "--db", str(db), "--create", "--out", str(out), "--as-of", "2017-05-10", "--json")
        assert r.exit_code == 0, r.output + r.stderr
        results[amount] = (owed_by_order(db), json.loads(r.stdout.strip().splitlines()[-1]), db, out)
    (fair, fair_json, _, _), (huge, huge_json, huge_db, huge_out) = results["39.40"], results["9,999,999.99"]
    loaded, unloaded = "2017000000000000501", "2017000000000000502"
    assert fair[loaded][1] > 0 and fair_json["ledger"]["lines"] == 1  # the fair refund is owed, and paid
    assert huge[loaded] == (Decimal("0.00"),) * 3  # the huge one raises nothing at all
    assert huge_json["owed"]["yuan"] == "0.00" and huge_json["ledger"]["lines"] == 0
    for results_json, by_order in ((fair_json, fair), (huge_json, huge)):
        assert by_order[unloaded] == (Decimal("0.00"),) * 3  # no order row: awaiting data
        assert results_json["status"]["awaiting_data"] == 1 and results_json["awaiting_data"]["order_not_loaded"] == 1
    assert fair_json["data_problems"] == 0 and huge_json["data_problems"] == 2
    assert huge_json["data_problem_counts"] == {"refund_exceeds_paid": 2}
    assert huge_json["status"]["disputed"] == 1 and huge_json["review"]["awaiting"] == 1
    con = duckdb.connect(str(huge_db), read_only=True)
    from pipeline import db as dbmod
    from pipeline import explain
    explain.prepare(con)  # the model's facts macros (sql/flags/macros.sql)
    problems = con.execute(f"select * from ({dbmod.model_sql('outputs/data_problems.sql')}) order by order_id").fetchall()
    flag = con.execute("select responsibility, rules, evidence, affected_amount, hold from flags where order_id = ?",
                       [loaded]).fetchone()
    liab = con.execute("select status, hold, base_amount from liabilities where order_id = ?", [loaded]).fetchone()
    con.close()
    assert [(p[0], p[1], p[2], p[4]) for p in problems] == [
        ("refund_exceeds_paid", loaded, "9017000000000000501", 2),
        ("refund_exceeds_paid", unloaded, "9017000000000000502", 3)]
    assert problems[0][3].endswith("ExportRefundList201705040000.csv")
    assert "9999999.99" in problems[0][5] and "39.40" in problems[0][5]
    responsibility, rules, evidence, affected, hold = flag
    assert (responsibility, rules, affected, hold) == ("undetermined", ["data_problem"], None, "data_problem")
    assert liab == ("disputed", "data_problem", None)
    review = (huge_out / "review.csv").read_text(encoding="utf-8-sig")
    row = next(line for line in review.splitlines() if loaded in line)
    assert "9999999.99" in row and "39.40" in row and "数据有误（退款超过实付）" in row and "data_problem" in row
    assert unloaded not in review  # awaiting data: nothing to decide yet


def test_the_largest_values_that_load_go_through_a_whole_run(tmp_path):
    """Every column at the top of its range: price 99,999,999.99 × 1,000,000 units, paid and
    refunds 99,999,999.99, 1,000,000 units shipped (and a line of 1,000,000 units not shipped at
    all), weights of 999,999.999 kg, an item count of 10^9: the run completes (nothing
    overflows) and the penalties stop at the cap."""
    top, units = "99999999.99", "1000000"
    folder = tmp_path / "in"
    ids = [f"20170000000000009{i:02d}" for i in range(1, 6)]
    write(folder, "ExportOrderList201705040000.csv", ORDERS_H + "".join(
        f"{o},b{i},{top},0.00,{top},{top},交易成功,2017-05-01 10:00:00,2017-05-01 10:01:00,1000000000\n"
        for i, o in enumerate(ids)))
    write(folder, "ExportOrderDetailList201705040000.csv", ITEMS_H + "".join(
        f"{o},公仔,{top},{units},交易成功,S{k}\n" for o in ids for k in range(3)))
    write(folder, "ExportRefundList201705040000.csv", REFUNDS_H + "".join(
        f"{o},90170000000000009{i:02d},{top},退款成功,买家已收到货,少件/漏发,2017-05-03 10:00:00,{top}\n"
        for i, o in enumerate(ids)))
    write(folder, "shipments201705040000.csv", SHIP_H + "".join(
        f"{o},S{k},{units if k else 0},2017-05-01 12:00:00,T{i},999999.999,false\n"
        for i, o in enumerate(ids) for k in range(3)))
    db = tmp_path / "top.duckdb"
    r = run(str(folder), "--db", str(db), "--create", "--out", str(tmp_path / "out"), "--as-of", "2017-05-10", "--json")
    assert r.exit_code == 0, r.output + r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["files"]["rows_rejected"] == 0 and summary["files"]["rows_loaded"] == 5 + 15 + 5 + 15
    assert summary["flagged"]["total"] == 5
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select min(compensation_yuan), max(compensation_yuan), max(points) from liabilities"
                           ).fetchone() == (Decimal("500.00"), Decimal("500.00"), 50000)
        assert con.execute("select min(affected_amount) from flags").fetchone()[0] > Decimal("30000000")
        assert con.execute("select count(*) from liabilities where total_yuan is null").fetchone()[0] == 0
    finally:
        con.close()


def test_two_rows_of_one_parcel_add_up_and_flag_nothing(tmp_path):
    """Two order lines sharing a SKU, shipped in one parcel and written as two rows (same order,
    tracking number, SKU and time): the order is complete, not short."""
    folder = tmp_path / "in"
    o = "2017000000000000601"
    write(folder, "ExportOrderList201705040000.csv",
          ORDERS_H + f"{o},b1,30.00,0.00,30.00,30.00,交易成功,2017-05-01 10:00:00,2017-05-01 10:01:00,3\n")
    write(folder, "ExportOrderDetailList201705040000.csv",
          ITEMS_H + f"{o},公仔 红,10.00,1,交易成功,S1\n{o},公仔 红 礼盒,10.00,2,交易成功,S1\n")
    write(folder, "shipments201705040000.csv",
          SHIP_H + f"{o},S1,1,2017-05-01 12:00:00,T1,0.900,false\n{o},S1,2,2017-05-01 12:00:00,T1,0.900,false\n")
    db = tmp_path / "p.duckdb"
    r = run(str(folder), "--db", str(db), "--create", "--out", str(tmp_path / "out"), "--as-of", "2017-05-10")
    assert r.exit_code == 0, r.output + r.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select count(*), sum(quantity) from shipments").fetchone() == (2, 3)
        assert con.execute("select count(*) from flags").fetchone()[0] == 0
    finally:
        con.close()
    # and with one of the two rows missing, the shortfall is found (the test above can fail)
    write(folder, "shipments201705050000.csv", SHIP_H + f"{o},S1,1,2017-05-01 12:00:00,T1,0.900,false\n")
    r = run(str(folder), "--db", str(db), "--out", str(tmp_path / "out"), "--as-of", "2017-05-10")
    assert r.exit_code == 0, r.output + r.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select kind, missing_qty from flags").fetchall() == [("short", 2)]
    finally:
        con.close()


def test_a_run_skips_stray_files_in_a_folder_and_says_so(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(SAMPLE, folder)
    (folder / "x.csv").write_bytes(b"")
    (folder / "notes.txt").write_text("记得周一导出退款报表\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    r = run(str(folder), "--db", str(db), "--create", "--out", str(tmp_path / "out"), "--as-of", "2019-03-10 12:00:00",
            "--json")
    assert r.exit_code == 0, r.output + r.stderr
    warnings = r.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: ") for w in warnings)
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert sorted((Path(s["path"]).name, s["reason"]) for s in summary["skipped"]) == [
        ("notes.txt", "no recognisable export header in the first 20 rows"), ("x.csv", "the file is empty")]
    assert summary["files"]["loaded"] == 4
    from pipeline.load import FileResult
    from pipeline.run import RunSummary

    printed = RunSummary("r", datetime(2019, 3, 10, 12), "tmall", "db", "out", files=[
        FileResult(path=str(folder / "x.csv"), kind="", status="not_export", message="the file is empty")],
        lang="en").lines()  # the printed summary is Chinese by default
    assert f"skipped, not exports: {folder / 'x.csv'} (the file is empty)" in printed
    # named on the command line, the same file is an error
    bad = run(str(folder / "x.csv"), "--db", str(db), "--out", str(tmp_path / "out"))
    assert bad.exit_code == 1 and bad.stderr.strip() == f"Error: {folder / 'x.csv'}: the file is empty"


def test_a_folder_with_nothing_loadable_is_an_error(tmp_path):
    folder = tmp_path / "in"
    write(folder, "x.csv", "")
    write(folder, "notes.txt", "hello\n")
    r = CliRunner().invoke(cli, ["load", str(folder), "--db", str(tmp_path / "n.duckdb"), "--create"])
    assert r.exit_code == 1
    assert r.stderr.strip().startswith("Error: nothing to load: 2 file(s) or folder(s) skipped, none is an export")


def test_a_load_whose_counts_disagree_does_not_commit(tmp_path, monkeypatch):
    """The invariants are checked in the code: a parser reject that got lost makes the load
    fail (one line naming the file and the counts) and the database stays as it was."""
    from pipeline import db as dbmod
    from pipeline import load

    con = dbmod.connect(tmp_path / "c.duckdb")
    load.load_paths(con, [SAMPLE])
    before = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
    real = load._csv_parse_rejects
    monkeypatch.setattr(load, "_csv_parse_rejects", lambda *a: real(*a)[1:])  # loses the first one
    with pytest.raises(ShortshipError, match=r"row_too_many_fields.csv: the load's own counts disagree"):
        load.load_paths(con, [BAD / "row_too_many_fields.csv"])
    assert {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES} == before
    con.close()


def test_the_newest_decision_of_an_order_wins(tmp_path):
    from pipeline import db as dbmod
    from pipeline.load import load_paths

    h = "订单编号,判定,缺件数量,备注,判定人,判定时间\n"
    a = write(tmp_path, "review_201903120900.csv", h + "1001,商家,1,,ops,\n1002,快递,,,ops,\n1001,买家,,改判,ops,\n")
    b = write(tmp_path, "review_201903110900.csv", h + "1002,无责,,,boss,2019-03-11 08:00:00\n1003,,,,ops,\n")
    con = dbmod.connect(tmp_path / "d.duckdb")
    ra, rb = load_paths(con, [a, b])
    assert (ra.rows_in, ra.loaded, ra.replaced) == (3, 2, 1)  # 1001 twice: the later line wins
    assert (rb.rows_in, rb.loaded, rb.replaced, rb.ignored) == (2, 0, 1, 1)  # an older file loses
    rows = con.execute("select order_id, decision, decision_raw, note, decided_at::varchar, line from decisions "
                       "order by order_id").fetchall()
    assert rows == [("1001", "buyer", "买家", "改判", "2019-03-12 09:00:00", 4),
                    ("1002", "courier", "快递", None, "2019-03-12 09:00:00", 3)]
    con.close()
