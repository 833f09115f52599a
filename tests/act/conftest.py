"""Generated exports with their truth (`shortship generate`), run through `shortship run`,
shared by the tests of the files to act on: made once per test session, also across the
pytest-xdist workers (the first worker makes them under a lock, the others reuse them; the
tests only read them, or copy what they change)."""
from __future__ import annotations

import contextlib
import csv
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import cli

ORDERS = 2500
SEED = 15
TRUTH_AS_OF = "2017-06-30 00:00:00"  # period end + 30 days (data/sample/truth_columns.md)


def run(exports, base: Path, *extra: str, as_of: str = TRUTH_AS_OF, db: Path | None = None) -> dict:
    db = db or base / "shop.duckdb"
    out = base / "out"
    args = ["run", *[str(e) for e in (exports if isinstance(exports, (list, tuple)) else [exports])],
            "--db", str(db), "--out", str(out), "--as-of", as_of, "--json", *extra]
    if not db.exists():
        args.append("--create")
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output + r.stderr
    return {"db": db, "out": out, "json": json.loads(r.stdout)}


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    """A people's CSV: (headings, rows keyed by heading). Checks the BOM."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name}: no UTF-8 BOM"
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    return head, [dict(zip(head, r)) for r in rows[1:]]


@contextlib.contextmanager
def _once(tmp_path_factory, name: str):
    """A folder shared by the workers of this session, and whether it is still to be made
    (then under an exclusive lock, which the other workers wait for)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, shared by the workers
    folder = root / f"act-{name}"
    lock = root / f"act-{name}.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one copy per worker
        folder = tmp_path_factory.mktemp(name)
        yield folder, True
        return
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            done = folder / ".done"
            if done.exists():
                yield folder, False
            else:
                folder.mkdir(parents=True, exist_ok=True)
                yield folder, True
                done.write_text("ok")
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    with _once(tmp_path_factory, "generated") as (base, make):
        d = base / "exports"
        if make:
            r = CliRunner().invoke(cli, ["generate", "--orders", str(ORDERS), "--seed", str(SEED), "--out", str(d),
                                         "--workers", "1", "--overwrite"], catch_exceptions=False)
            assert r.exit_code == 0, r.output
    return d


@pytest.fixture(scope="session")
def truth(generated) -> list[dict]:
    return pq.read_table(generated / "truth.parquet").to_pylist()


@pytest.fixture(scope="session")
def exports(generated, tmp_path_factory) -> Path:
    """The exports without truth.parquet (a folder run loads every export in it)."""
    with _once(tmp_path_factory, "exports") as (d, make):
        if make:
            for p in generated.iterdir():
                if p.suffix == ".csv":
                    (d / p.name).write_bytes(p.read_bytes())
    return d


def _shared_run(tmp_path_factory, name: str, exports, *extra: str, as_of: str = TRUTH_AS_OF) -> dict:
    with _once(tmp_path_factory, name) as (base, make):
        if make:
            done = run(exports, base, *extra, as_of=as_of)
            (base / "summary.json").write_text(json.dumps(done["json"]), encoding="utf-8")
        return {"db": base / "shop.duckdb", "out": base / "out",
                "json": json.loads((base / "summary.json").read_text(encoding="utf-8"))}


@pytest.fixture(scope="session")
def truth_run(exports, tmp_path_factory) -> dict:
    """The run at the truth's clock (English files, to read canonical names)."""
    return _shared_run(tmp_path_factory, "truth_run", exports, "--lang", "en", "--xlsx")


@pytest.fixture(scope="session")
def early(truth) -> datetime:
    """A clock at which some shortages of the shipments file are still curable: just before
    the ship-by of the middle ship_only_no_complaint case."""
    cases = sorted(t["ship_by"] for t in truth if t["case"] == "ship_only_no_complaint")
    assert len(cases) >= 4
    return cases[len(cases) // 2] - timedelta(hours=1)


@pytest.fixture(scope="session")
def early_run(exports, early, tmp_path_factory) -> dict:
    """The run at `early` (Chinese files, the default)."""
    return _shared_run(tmp_path_factory, "early_run", exports, as_of=f"{early:%Y-%m-%d %H:%M:%S}")
