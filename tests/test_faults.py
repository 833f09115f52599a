"""Money is paid once and never lost (issue 12): the ledger under interruptions and mistakes.

Each case starts from a database and an output folder holding one good run of the fixture
sample, then does what a real user or a real machine does to a run: kills it (SIGKILL, Ctrl-C)
at every step boundary, mistypes --db, turns the clock back, hands it a broken policy, points
it at a read-only or full folder. The answer must be one line and nothing lost: every ledger
line committed reaches a published payouts batch, and nothing is paid twice.

The signals (Ctrl-C, SIGTERM) and the system errors are in tests/test_faults_signals.py, with
this file's fixtures: the two halves run side by side under `--dist loadfile`.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.clock import parse_as_of

from .conftest import FIXTURES, ROOT
from .test_run import AS_OF, LATER, db_state, files_bytes, spawn, wait_for_line

SAMPLE = FIXTURES / "run_sample"
BEFORE_COMMIT = ["load", "flag", "liabilities", "ledger", "export"]
AFTER_COMMIT = ["commit", "publish"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_error_line(result_or_text, status: int = 1) -> str:
    """The result failed with `status` and exactly one line `Error: ...` on stderr."""
    if isinstance(result_or_text, str):
        err = result_or_text
    else:
        assert result_or_text.exit_code == status, (result_or_text.exit_code, result_or_text.output)
        err = result_or_text.stderr
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A database and outputs after one good run (as of AS_OF)."""
    base = tmp_path_factory.mktemp("first")
    db_path, out = base / "shop.duckdb", base / "out"
    r = invoke("run", str(SAMPLE), "--db", str(db_path), "--out", str(out), "--as-of", AS_OF, "--create")
    assert r.exit_code == 0, r.output
    return db_path, out


@pytest.fixture
def shop(first_run, tmp_path):
    """A private copy of the first run's database and outputs, and an extra export that makes
    the next run (as of LATER) change the ledger."""
    db_path, out = tmp_path / "shop.duckdb", tmp_path / "out"
    shutil.copy(first_run[0], db_path)
    shutil.copytree(first_run[1], out)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "shipments201903120000.csv").write_text(
        "order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship\n"
        "1001000000000000004,SKU-PUZZLE,1,2019-03-11 10:00:00,7000000004,0.4,false\n",
        encoding="utf-8",
    )
    args = [str(SAMPLE), str(extra), "--db", str(db_path), "--out", str(out), "--as-of", LATER]
    return {"db": db_path, "out": out, "args": args}


def ledger(db_path: Path) -> dict[int, tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "select payout_id, order_id, points, yuan, reason from payouts").fetchall()}
    finally:
        con.close()


def published(out: Path) -> dict[str, list[int]]:
    """batch file -> the payout ids it holds (every batch ever published)."""
    return {p.name: pq.read_table(p, columns=["payout_id"]).column(0).to_pylist()
            for p in sorted((out / "payouts").glob("*.parquet"))}


def assert_every_line_published_once(db_path: Path, out: Path, may_repeat: bool = False) -> None:
    lines = ledger(db_path)
    batches = published(out)
    ids = [i for b in batches.values() for i in b]
    assert set(ids) == set(lines), "a committed ledger line never reached a published batch"
    if not may_repeat:
        assert len(ids) == len(set(ids)), "a ledger line was published twice"


# --- killed or interrupted at every step boundary -------------------------------------------

@pytest.mark.parametrize("point", BEFORE_COMMIT + AFTER_COMMIT)
def test_sigkill_at_each_step_then_one_clean_run_publishes_every_line(shop, point):
    before_db, before_out = db_state(shop["db"]), files_bytes(shop["out"])
    proc = spawn(*shop["args"], env_extra={"SHORTSHIP_TEST_PAUSE_AT": point}, create=False)
    try:
        wait_for_line(proc, f"paused at {point}")
        if point == "export":  # the new outputs exist, staged, but are not published
            staged = list(shop["out"].glob(".shortship-staging-*"))
            assert staged and (staged[0] / "payouts.parquet").exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    if point in BEFORE_COMMIT:  # nothing committed, nothing published
        assert db_state(shop["db"]) == before_db
        assert files_bytes(shop["out"]) == before_out
    else:  # committed: the new ledger lines are in the database
        assert len(ledger(shop["db"])) > len(before_db["payouts"])
    again = invoke("run", *shop["args"], "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    # killed after the commit: the clean run has nothing new to write, but publishes what the
    # killed run committed (after `publish`, those lines were published already: the payout
    # system sees them twice and deduplicates on payout_id)
    if point == "commit":
        assert summary["ledger"]["lines"] == 0 and summary["ledger"]["published"] > 0
    assert_every_line_published_once(shop["db"], shop["out"], may_repeat=(point == "publish"))
    if point in BEFORE_COMMIT:  # the clean run was an ordinary run (its rerun: tests/test_run.py)
        return
    # killed after the commit: a further run publishes nothing at all
    third = invoke("run", *shop["args"], "--json")
    assert json.loads(third.stdout)["ledger"] == {"lines": 0, "yuan": "0.00", "points": 0, "published": 0}
    assert pq.read_table(shop["out"] / "payouts.parquet").num_rows == 0


def test_killed_in_the_middle_of_the_publication_the_next_run_leaves_a_consistent_set(shop):
    """SIGKILL after the changed files were moved into place and before manifest.json (pause
    point `renamed`): every file is whole, the old manifest and the journal of the paths being
    replaced are there; the next run trusts none of those paths, and leaves a set whose
    manifest vouches for exactly the bytes of the folder, with a page for the decided order."""
    import hashlib

    decided = "1001000000000000001"
    (Path(shop["args"][1]) / "review_filled.csv").write_text(
        f"order_id,decision,note\n{decided},merchant,客服确认\n", encoding="utf-8")
    old_manifest = (shop["out"] / "manifest.json").read_bytes()
    proc = spawn(*shop["args"], env_extra={"SHORTSHIP_TEST_PAUSE_AT": "renamed"}, create=False)
    try:
        wait_for_line(proc, "paused at renamed")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    journal = json.loads((shop["out"] / ".shortship-publishing.json").read_text(encoding="utf-8"))["paths"]
    from pipeline.setdata import page_path

    assert page_path(decided) in journal and "flags.parquet" in journal
    assert (shop["out"] / "manifest.json").read_bytes() == old_manifest  # the old set's, untouched
    assert (shop["out"] / page_path(decided)).exists()  # moved in, not yet listed
    for p in shop["out"].glob("*.parquet"):
        pq.read_table(p)  # whole
    again = invoke("run", *shop["args"], "--json")
    assert again.exit_code == 0, again.output
    files = json.loads((shop["out"] / "manifest.json").read_text(encoding="utf-8"))["files"]
    for f in files:
        assert hashlib.sha256((shop["out"] / f["path"]).read_bytes()).hexdigest() == f["sha256"], f["path"]
    assert page_path(decided) in {f["path"] for f in files}
    assert not (shop["out"] / ".shortship-publishing.json").exists()
    assert not list(shop["out"].glob(".shortship-staging-*"))
    assert_every_line_published_once(shop["db"], shop["out"], may_repeat=True)


# --- a file it mostly failed to read ------------------------------------------------------

ORDERS_H = "订单编号,买家会员名,买家应付货款,买家应付邮费,总金额,买家实际支付金额,订单状态,订单创建时间,订单付款时间,宝贝总数量\n"


def half_broken_orders(folder: Path) -> Path:
    """An orders export of 40 rows, 20 of them (every other) with a stray quote in an unquoted field."""
    folder.mkdir(parents=True, exist_ok=True)
    buyer = ["buyer", 'bu"yer']
    rows = [f"{1001000000000000100 + i},{buyer[i % 2]}{i},20.00,0.00,20.00,20.00,交易成功,"
            "2019-03-08 08:00:00,2019-03-08 08:00:00,1\n" for i in range(40)]
    export = folder / "ExportOrderList201903120000.csv"
    export.write_text(ORDERS_H + "".join(rows), encoding="utf-8")
    return export


def test_a_half_broken_file_stops_the_run_and_max_rejects_lets_it_load(shop, tmp_path):
    """The run stops with one line naming the file, the count and the commonest reason, and
    commits and publishes nothing; with --max-rejects 50% the 20 good rows load and the run pays."""
    half = tmp_path / "half"
    export = half_broken_orders(half)
    before_db, before_out, before_batches = db_state(shop["db"]), files_bytes(shop["out"]), published(shop["out"])
    r = invoke("run", str(half), *shop["args"])
    assert one_error_line(r) == (
        f"Error: {export}: 20 of 40 rows rejected (commonest: stray quote in an unquoted field, 20); nothing was "
        "committed (the database is as it was) — give --max-rejects to change the limit (now 2%,1000)")
    assert db_state(shop["db"]) == before_db  # not even the good files beside it
    assert files_bytes(shop["out"]) == before_out and published(shop["out"]) == before_batches
    assert not list(shop["out"].glob(".shortship-staging-*"))
    again = invoke("run", str(half), *shop["args"], "--max-rejects", "50%", "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert summary["files"]["rows_rejected"] == 20 and summary["ledger"]["lines"] > 0
    con = duckdb.connect(str(shop["db"]), read_only=True)
    try:
        assert con.execute("select rows_in, loaded, rejected from load_manifest where path = ?",
                           [str(export)]).fetchone() == (40, 20, 20)
    finally:
        con.close()


def test_a_spark_task_stops_a_half_broken_shop_unless_its_limit_allows(tmp_path):
    """The limit reaches the Spark task (pipeline/spark/shop.py run_shop: the library without
    Spark): the shop fails, left as it was, with the same line; with max_rejects it runs."""
    from pipeline.policy import load_policy
    from pipeline.spark.shop import run_shop

    export = half_broken_orders(tmp_path / "shop")
    files = [(export.name, None, export.read_bytes())]
    args = ("s1", files, None, parse_as_of(LATER), load_policy("tmall"), "r1")
    tables, stats, state, people = run_shop(*args, tmp_root=str(tmp_path))
    assert tables is None and state is None and people is None
    assert stats.error == (f"s1/{export.name}: 20 of 40 rows rejected (commonest: stray quote in an unquoted field, "
                           "20); nothing was committed (the database is as it was) — give --max-rejects to change "
                           "the limit (now 2%,1000)")
    tables, stats, state, _ = run_shop(*args, tmp_root=str(tmp_path), max_rejects="none")
    assert stats.error is None and (stats.rows_loaded, stats.rows_rejected) == (20, 20)


# --- a mistyped --db ----------------------------------------------------------------------

def test_missing_database_is_refused_without_create_and_no_folder_is_made(tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.duckdb"
    for cmd in (["run", str(SAMPLE), "--out", str(tmp_path / "o")], ["load", str(SAMPLE)], ["flag"],
                ["liabilities"], ["export", "--out", str(tmp_path / "o")]):
        r = invoke(*cmd, "--db", str(target))
        line = one_error_line(r)
        assert str(target) in line and "--create" in line, line
    assert not (tmp_path / "nonexistent").exists()
    assert not (tmp_path / "o").exists()


def test_create_starts_a_database_and_is_harmless_on_an_existing_one(tmp_path):
    target = tmp_path / "new" / "x.duckdb"
    args = ["run", str(SAMPLE), "--db", str(target), "--out", str(tmp_path / "o"), "--as-of", AS_OF, "--json"]
    first = invoke(*args, "--create")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["ledger"]["lines"] > 0
    again = invoke(*args, "--create")  # same database: nothing new, nothing paid twice
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["ledger"]["lines"] == 0


def test_db_a_folder_and_out_a_file_are_one_line_each(first_run, tmp_path):
    r = invoke("run", str(SAMPLE), "--db", str(tmp_path), "--out", str(tmp_path / "o"))
    assert "is a folder" in one_error_line(r)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    db_copy = tmp_path / "s.duckdb"
    shutil.copy(first_run[0], db_copy)
    r = invoke("run", str(SAMPLE), "--db", str(db_copy), "--out", str(a_file), "--as-of", LATER)
    assert "is a file" in one_error_line(r)
    r = invoke("export", "--db", str(db_copy), "--out", str(a_file / "sub"))
    one_error_line(r)


# --- the ledger's clock -------------------------------------------------------------------

def test_an_earlier_as_of_than_the_ledger_is_refused_naming_both(shop):
    later = invoke("run", *shop["args"])
    assert later.exit_code == 0, later.output
    before = db_state(shop["db"])
    for cmd in (["run", str(SAMPLE), "--db", str(shop["db"]), "--out", str(shop["out"])],
                ["liabilities", "--db", str(shop["db"])]):
        r = invoke(*cmd, "--as-of", AS_OF)
        line = one_error_line(r)
        assert "2019-03-10 12:00:00" in line and "2019-03-13 12:00:00" in line, line
    assert db_state(shop["db"]) == before
    # the same as-of again is fine (and pays nothing twice)
    same = invoke("run", *shop["args"], "--json")
    assert same.exit_code == 0 and json.loads(same.stdout)["ledger"]["lines"] == 0


@pytest.mark.parametrize("as_of", ["1900-01-01", "0001-01-01", "2200-01-01", "2017-02-30", "20190-03-10"])
def test_implausible_as_of_is_a_typo(shop, as_of):
    before = db_state(shop["db"])
    r = invoke("run", str(SAMPLE), "--db", str(shop["db"]), "--out", str(shop["out"]), "--as-of", as_of)
    assert "--as-of" in one_error_line(r)
    assert db_state(shop["db"]) == before


# --- broken policy files --------------------------------------------------------------------

TMALL = (ROOT / "pipeline" / "policies" / "tmall.toml").read_text(encoding="utf-8")


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in TMALL, old
    p = tmp_path / "broken.toml"
    p.write_text(TMALL.replace(old, new, 1), encoding="utf-8")
    return p


@pytest.mark.parametrize("old,new,key", [
    ('floor_yuan = "5.00"\n', "", "penalty.floor_yuan"),
    ('rate = "0.30"', 'rate = "1e400"', "penalty.rate"),
    ('rate = "0.30"', 'rate = "0"', "penalty.rate"),
    ('rate = "0.30"', 'rate = "1.5"', "penalty.rate"),
    ('rate = "0.30"', 'rate = "-0.3"', "penalty.rate"),
    ('points_per_yuan = 100', 'points_per_yuan = 1e20', "penalty.points_per_yuan"),
    ('points_per_yuan = 100', 'points_per_yuan = 100000000000000000000', "penalty.points_per_yuan"),
    ('points_per_yuan = 100', 'points_per_yuan = 0', "penalty.points_per_yuan"),
    ('cap_yuan = "500.00"', 'cap_yuan = "1.00"', "penalty.cap_yuan"),
    ('cap_yuan = "500.00"', 'cap_yuan = "99999999999999999999"', "penalty.cap_yuan"),
    ('floor_yuan = "5.00"', 'floor_yaun = "5.00"', "penalty.floor_yaun"),
    ("window_hours = 72", "window_hours = 0", "shipping.window_hours"),
    ("window_hours = 72", 'window_hours = "72"', "shipping.window_hours"),
    ('per_parcel_yuan = "8.00"', 'per_parcel_yuan = "8.001"', "freight.per_parcel_yuan"),
    ('id = "tmall-2023"', "", "id"),
    ("[freight]", "[frieght]", "frieght"),
])
def test_each_broken_policy_is_one_line_naming_the_file_and_key(shop, tmp_path, old, new, key):
    policy = _broken(tmp_path, old, new)
    before = db_state(shop["db"])
    r = invoke("run", *shop["args"], "--policy", str(policy))
    line = one_error_line(r)
    assert str(policy) in line and f"'{key}'" in line, line
    assert db_state(shop["db"]) == before


# --- one set of outputs per run -------------------------------------------------------------

def test_a_run_without_xlsx_removes_the_previous_workbook_and_writes_a_manifest(shop):
    with_xlsx = invoke("run", *shop["args"], "--xlsx")
    assert with_xlsx.exit_code == 0, with_xlsx.output
    assert (shop["out"] / "liabilities.xlsx").exists()
    (shop["out"] / "notes.txt").write_text("the user's own file")
    again = invoke("run", *shop["args"])
    assert again.exit_code == 0, again.output
    assert not (shop["out"] / "liabilities.xlsx").exists()  # not left beside the new set
    assert (shop["out"] / "notes.txt").exists()  # not ours: left alone
    manifest = json.loads((shop["out"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == LATER and manifest["policy"] == "tmall-2023" and manifest["run_id"]
    import hashlib

    listed = {f["path"]: f for f in manifest["files"]}
    assert "liabilities.xlsx" not in listed and "flags.parquet" in listed
    for path, f in listed.items():
        data = (shop["out"] / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], path
        if path.endswith(".parquet"):
            assert pq.read_table(shop["out"] / path).num_rows == f["rows"], path
    # every published batch is still there
    assert len(published(shop["out"])) >= 1


def test_payouts_parquet_keeps_the_contract_types_when_empty(shop):
    for _ in range(2):
        r = invoke("run", *shop["args"])
        assert r.exit_code == 0, r.output
    t = pq.read_table(shop["out"] / "payouts.parquet")
    assert t.num_rows == 0
    assert t.schema.field("yuan").type == pa.decimal128(18, 2) and t.schema.field("payout_id").type == pa.int64()


# --- temp space -------------------------------------------------------------------------------

def test_temp_folders_of_dead_runs_are_removed_and_ours_is_gone_after(shop, tmp_path):
    root = tmp_path / "scratch"
    dead = root / "999999999-deadbeef"  # no such pid
    (dead / "load-1").mkdir(parents=True)
    (dead / "load-1" / "part_0.csv").write_text("x" * 1000)
    r = invoke("run", *shop["args"], "--tmp", str(root))
    assert r.exit_code == 0, r.output
    assert not dead.exists()
    leftovers = [p for p in root.iterdir()]
    # this process (pytest's) still holds its own folder until it exits; nothing else is left
    assert all(p.name.startswith(f"{os.getpid()}-") for p in leftovers), leftovers


def test_a_killed_run_leaves_no_temp_folder_behind_the_next_run(shop):
    proc = spawn(*shop["args"], env_extra={"SHORTSHIP_TEST_PAUSE_AT": "flag"}, create=False)
    try:
        wait_for_line(proc, "paused at flag")
        root = shop["db"].parent / ".shortship-tmp"
        assert any(p.name.startswith(f"{proc.pid}-") for p in root.iterdir())
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    again = spawn(*shop["args"], create=False)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert not any(p.name.startswith(f"{proc.pid}-") for p in root.iterdir())
    assert not list(root.iterdir())  # the clean run removed its own folder at exit


def test_money_in_the_published_batches_adds_up_to_the_ledger(shop):
    r = invoke("run", *shop["args"])
    assert r.exit_code == 0
    total = sum((Decimal(str(x)) for b in sorted((shop["out"] / "payouts").glob("*.parquet"))
                 for x in pq.read_table(b).column("yuan").to_pylist()), Decimal("0"))
    con = duckdb.connect(str(shop["db"]), read_only=True)
    try:
        assert total == con.execute("select sum(yuan) from payouts").fetchone()[0]
    finally:
        con.close()
