"""Money is paid once and never lost (issue 12), continued from tests/test_faults.py: a signal
(Ctrl-C, SIGTERM) at every step boundary and while the summary prints, an error after the
commit, and system errors (unreadable inputs, read-only and full folders). The cases are those
of test_faults.py, in a file of their own so that `--dist loadfile` runs the two halves on the
two workers side by side; the fixtures (one good run of the fixture sample, copied per case)
and the checks are test_faults.py's.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.errors import ShortshipError

from .conftest import ROOT
from .test_faults import (AFTER_COMMIT, BEFORE_COMMIT, SAMPLE, assert_every_line_published_once,  # noqa: F401
                          first_run, invoke, ledger, one_error_line, shop)
from .test_run import AS_OF, LATER, db_state, files_bytes, spawn, wait_for_line

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
