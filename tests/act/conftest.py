"""Generated exports with their truth (`shortship generate`), run through `shortship run`,
shared by the tests of the files to act on (session scope: one generation per worker)."""
from __future__ import annotations

import csv
import json
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


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("generated") / "exports"
    r = CliRunner().invoke(cli, ["generate", "--orders", str(ORDERS), "--seed", str(SEED), "--out", str(d),
                                 "--workers", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture(scope="session")
def truth(generated) -> list[dict]:
    return pq.read_table(generated / "truth.parquet").to_pylist()


@pytest.fixture(scope="session")
def exports(generated, tmp_path_factory) -> Path:
    """The exports without truth.parquet (a folder run loads every export in it)."""
    d = tmp_path_factory.mktemp("exports")
    for p in generated.iterdir():
        if p.suffix == ".csv":
            (d / p.name).write_bytes(p.read_bytes())
    return d


@pytest.fixture(scope="session")
def truth_run(exports, tmp_path_factory) -> dict:
    """The run at the truth's clock (English files, to read canonical names)."""
    return run(exports, tmp_path_factory.mktemp("truth_run"), "--lang", "en", "--xlsx")


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
    return run(exports, tmp_path_factory.mktemp("early_run"), as_of=f"{early:%Y-%m-%d %H:%M:%S}")
