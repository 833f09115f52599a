"""Money is paid once and never lost (issue 12): the ledger under interruptions and mistakes.

Each case starts from a database and an output folder holding one good run of the fixture
sample, then does what a real user or a real machine does to a run: kills it (SIGKILL, Ctrl-C)
at every step boundary, mistypes --db, turns the clock back, hands it a broken policy, points
it at a read-only or full folder. The answer must be one line and nothing lost: every ledger
line committed reaches a published payouts batch, and nothing is paid twice.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.clock import parse_as_of
from pipeline.errors import ShortshipError

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


# the signal each point gets: Ctrl-C (SIGINT, exit 130) or SIGTERM (a scheduler's stop, exit 143)
SIGNAL_AT = {"load": signal.SIGINT, "flag": signal.SIGTERM, "liabilities": signal.SIGINT, "ledger": signal.SIGTERM,
             "export": signal.SIGINT, "commit": signal.SIGTERM, "publish": signal.SIGINT, "summary": signal.SIGTERM}


def new_lines(db_path: Path, before: dict) -> tuple[int, Decimal]:
    """The ledger lines (count, yuan) the database holds beyond `before` (a db_state)."""
    old = {r[0] for r in before["payouts"]}
    new = [v for k, v in ledger(db_path).items() if k not in old]
    return len(new), sum((v[2] for v in new), Decimal("0.00"))


def payouts_file(out: Path) -> tuple[int, Decimal]:
    t = pq.read_table(out / "payouts.parquet", columns=["yuan"])
    return t.num_rows, sum(t.column("yuan").to_pylist(), Decimal("0.00"))


@pytest.mark.parametrize("point", BEFORE_COMMIT + AFTER_COMMIT + ["summary"])
def test_a_signal_at_each_step_ends_with_one_line_saying_what_was_committed(shop, point):
    """Ctrl-C or SIGTERM before the commit, inside the critical section (commit, publish) or
    while the summary prints: one line with the true state (nothing; or committed and
    published, with the new ledger lines and their yuan as the database and payouts.parquet
    hold them), and exit 130 / 143."""
    sig = SIGNAL_AT[point]
    before_db, before_out = db_state(shop["db"]), files_bytes(shop["out"])
    proc = spawn(*shop["args"], env_extra={"SHORTSHIP_TEST_PAUSE_AT": point, "SHORTSHIP_TEST_PAUSE_SECONDS": "2"},
                 create=False)
    try:
        wait_for_line(proc, f"paused at {point}")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    line = one_error_line(err)
    if point in BEFORE_COMMIT:
        assert line == "Error: interrupted; nothing was committed (the database is as it was)"
        assert db_state(shop["db"]) == before_db
        assert files_bytes(shop["out"]) == before_out
    else:  # deferred, or after the run: the commit, the publication and the mark finished first
        n, yuan = new_lines(shop["db"], before_db)
        published, published_yuan = payouts_file(shop["out"])
        assert n > 0 and published == n
        assert line == (f"Error: interrupted; the run was committed and published: {n:,} new ledger line(s), "
                        f"{yuan:,} yuan ({published:,} ledger line(s), {published_yuan:,} yuan in payouts.parquet)")
        assert_every_line_published_once(shop["db"], shop["out"])
    if point == "summary":  # the signal landed while the summary printed: its first line is out
        assert len(out.strip().splitlines()) == 1, out
    assert not list(shop["out"].glob(".shortship-staging-*"))


@pytest.fixture
def stop_at_summary(monkeypatch):
    """In-process: the command raises `exc` (KeyboardInterrupt: a Ctrl-C) after the first line of
    its summary (the CLI's test pause point), as a signal there would."""
    from pipeline import interrupts

    def arm(exc: BaseException):
        def pause_at(point: str) -> None:
            if point == "summary":
                raise exc
        monkeypatch.setattr(interrupts, "pause_at", pause_at)
    return arm


def test_each_command_that_commits_says_what_it_committed_when_stopped_while_printing(shop, stop_at_summary):
    """load, flag, liabilities and export stopped while printing (after the library call
    returned): the line says what they committed or published, not "nothing was committed"."""
    stop_at_summary(KeyboardInterrupt())
    db = ["--db", str(shop["db"])]
    extra = shop["args"][1]
    before = db_state(shop["db"])
    r = invoke("load", extra, *db)
    assert one_error_line(r, 130) == "Error: interrupted; the load was committed: 1 file(s), 1 row(s) loaded"
    assert db_state(shop["db"])["load_manifest_count"] == before["load_manifest_count"] + 1

    r = invoke("flag", *db, "--as-of", LATER)
    flagged = len(db_state(shop["db"])["flags"])
    assert flagged > 0
    assert one_error_line(r, 130) == f"Error: interrupted; the flags were committed: {flagged:,} flagged order(s)"

    before = db_state(shop["db"])
    r = invoke("liabilities", *db, "--as-of", LATER)
    n, yuan = new_lines(shop["db"], before)
    assert n > 0
    assert one_error_line(r, 130) == (
        f"Error: interrupted; the liabilities were committed but not yet published: {n:,} new ledger line(s), "
        f"{yuan:,} yuan; the next run or `shortship export` publishes them")

    r = invoke("export", *db, "--out", str(shop["out"]))
    assert one_error_line(r, 130) == (
        f"Error: interrupted; the outputs were published: {n:,} ledger line(s), {yuan:,} yuan in payouts.parquet")
    assert_every_line_published_once(shop["db"], shop["out"])


def test_a_run_that_fails_after_its_commit_says_so_with_the_money(shop, monkeypatch, stop_at_summary):
    """An error in the publication: committed, not yet published (the next run publishes); a
    broken pipe while the summary prints: committed and published. Both with the counts."""
    from pipeline import export

    before_db, before_out = db_state(shop["db"]), files_bytes(shop["out"])
    real_publish = export.publish

    def full_disk(stage, header):
        raise ShortshipError(f"{stage.out_dir}/flags.parquet: cannot write (No space left on device)")

    monkeypatch.setattr(export, "publish", full_disk)
    r = invoke("run", *shop["args"])
    n, yuan = new_lines(shop["db"], before_db)
    assert n > 0
    assert one_error_line(r) == (
        f"Error: {shop['out']}/flags.parquet: cannot write (No space left on device); the run was committed but "
        f"not yet published: {n:,} new ledger line(s), {yuan:,} yuan; the next run or `shortship export` publishes them")
    assert files_bytes(shop["out"]) == before_out

    monkeypatch.setattr(export, "publish", real_publish)
    stop_at_summary(BrokenPipeError(32, "Broken pipe"))
    r = invoke("run", *shop["args"], "--as-of", "2019-03-14 12:00:00")
    published, published_yuan = payouts_file(shop["out"])
    assert published == n  # the next run published what the failed one committed
    assert one_error_line(r) == (
        f"Error: Broken pipe; the run was committed and published: 0 new ledger line(s), 0.00 yuan "
        f"({n:,} ledger line(s), {published_yuan:,} yuan in payouts.parquet)")
    assert_every_line_published_once(shop["db"], shop["out"])


def test_ctrl_c_inside_a_running_query_is_one_line(shop):
    """SIGINT while DuckDB works (not at a pause): DuckDB says 'Query interrupted', we say one line."""
    big = shop["out"].parent / "big"
    big.mkdir()
    # enough orders that loading takes a moment
    rows = ["order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship"]
    rows += [f"{9000000000000000000 + i},SKU-{i % 50},1,2019-03-11 10:00:00,{i},0.4,false" for i in range(300_000)]
    (big / "shipments201903120000.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    before_db = db_state(shop["db"])
    proc = spawn(str(big), "--db", str(shop["db"]), "--out", str(shop["out"]), "--as-of", LATER, create=False,
                 env_extra={"SHORTSHIP_TEST_PAUSE_AT": "none"})
    try:
        import time

        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal (fast machine)")
    assert proc.returncode == 130, err
    assert "interrupted" in one_error_line(err)
    assert db_state(shop["db"]) == before_db


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


# --- system errors --------------------------------------------------------------------------

def test_a_read_error_in_an_input_file_is_one_line(tmp_path):
    r = invoke("load", "/proc/self/mem", "--db", str(tmp_path / "m.duckdb"), "--create")
    line = one_error_line(r)
    assert "/proc/self/mem" in line


def _nobody_runner() -> list[str] | None:
    """A prefix that runs a command as an unprivileged user (permissions mean nothing to root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    ok = subprocess.run([*prefix, sys.executable, "-c", "import pipeline.cli"], cwd=ROOT, capture_output=True)
    return prefix if ok.returncode == 0 else None


@pytest.fixture
def nobody_dir():
    prefix = _nobody_runner()
    if prefix is None:
        pytest.skip("cannot run a command as an unprivileged user here (root without setpriv, or the "
                    "checkout is not readable by nobody)")
    d = Path(tempfile.mkdtemp(prefix="shortship-perm-"))
    d.chmod(0o777)
    try:
        yield prefix, d
    finally:
        for p in d.rglob("*"):
            try:
                p.chmod(0o777 if p.is_dir() else 0o666)
            except OSError:
                pass
        shutil.rmtree(d, ignore_errors=True)


def _as(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([*prefix, sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _prepare(d: Path) -> tuple[Path, Path]:
    """A good database of the sample in `d`, made by the unprivileged user's rights."""
    inputs = d / "in"
    shutil.copytree(SAMPLE, inputs)
    for p in [inputs, *inputs.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return inputs, d / "db" / "shop.duckdb"


def test_permissions_and_read_only_folders_are_one_line_each(nobody_dir):
    prefix, d = nobody_dir
    inputs, db_path = _prepare(d)
    r = _as(prefix, "run", str(inputs), "--db", str(db_path), "--out", str(d / "out"), "--as-of", AS_OF, "--create")
    assert r.returncode == 0, r.stderr
    state = db_state(db_path)
    cases = []
    # an input file nobody may read
    locked = d / "locked"
    locked.mkdir(mode=0o777)
    (locked / "ExportOrderList201903120000.csv").write_bytes((inputs / "ExportOrderList201903101000.csv").read_bytes())
    (locked / "ExportOrderList201903120000.csv").chmod(0o000)
    cases.append(("run", str(locked / "ExportOrderList201903120000.csv"), "--db", str(db_path), "--out", str(d / "out"),
                  "--as-of", LATER))
    # a new database under a folder nobody may write
    ro = d / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    cases.append(("run", str(inputs), "--db", str(ro / "sub" / "x.duckdb"), "--out", str(d / "o2"), "--create"))
    cases.append(("run", str(inputs), "--db", str(ro / "x.duckdb"), "--out", str(d / "o2"), "--create"))
    # a read-only output folder
    ro_out = d / "ro_out"
    ro_out.mkdir()
    ro_out.chmod(0o555)
    cases.append(("run", str(inputs), "--db", str(db_path), "--out", str(ro_out), "--as-of", LATER))
    for args in cases:
        r = _as(prefix, *args)
        assert r.returncode == 1, (args, r.stderr)
        one_error_line(r.stderr)
        assert db_state(db_path) == state, args
    # an existing database in a folder that became read-only
    db_path.parent.chmod(0o555)
    try:
        r = _as(prefix, "run", str(inputs), "--db", str(db_path), "--out", str(d / "out"), "--as-of", LATER)
        assert r.returncode == 1, r.stderr
        assert str(db_path.parent) in one_error_line(r.stderr) or str(db_path) in r.stderr
    finally:
        db_path.parent.chmod(0o755)
    assert db_state(db_path) == state


@pytest.fixture
def tiny_fs():
    """A 48 KiB file system (tmpfs), or a skip where mounting is not allowed."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small file system needs root")
    d = Path(tempfile.mkdtemp(prefix="shortship-full-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def test_a_full_temp_folder_or_output_folder_is_one_line(shop, tiny_fs):
    """The sample exports transcoded (about 300 KB) do not fit a 48 KiB temp folder; the
    outputs of the run (the report alone is larger) do not fit it as --out."""
    before, before_out = db_state(shop["db"]), files_bytes(shop["out"])
    args = [str(ROOT / "data" / "sample"), *shop["args"][2:]]
    r = invoke("run", *args, "--tmp", str(tiny_fs / "tmp"))
    line = one_error_line(r)
    assert "No space left" in line, line
    assert db_state(shop["db"]) == before and files_bytes(shop["out"]) == before_out
    r = invoke("run", *args, "--out", str(tiny_fs / "out"))
    line = one_error_line(r)
    assert "No space left" in line or "cannot write" in line, line
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
