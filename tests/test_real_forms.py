"""Real exports load byte for byte (issue 20): the real-forms corpus of tests/fixtures/real_forms
(expected.toml says what each file gives), the two raw downloads of shared/real_raw whose lines
all join their orders, and `shortship run` on them giving exactly what they hold.

The whole corpus is loaded with one `load_paths` call into a module-scoped database (every case
has its own ids, so no file replaces another's rows); each case then checks its own file's
counts and typed rows."""
from __future__ import annotations

import json
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline import db
from pipeline.cli import cli
from pipeline.load import load_paths

from .conftest import FIXTURES

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REAL = FIXTURES / "real_forms"
sys.path.insert(0, str(REAL))
import make_real  # noqa: E402

CASES = tomllib.loads((REAL / "expected.toml").read_text(encoding="utf-8"))["case"]
TABLE = {"orders": "orders", "items": "order_lines", "refunds": "refunds"}
KEYS = {"orders": ("order_id",), "items": ("order_id", "line_no"), "refunds": ("refund_id",)}
RAW_ORDERS = "real_raw_ExportOrderList201707080930.csv"
RAW_ITEMS = "real_raw_ExportOrderDetailList201707080930.csv"


def case_id(c: dict) -> str:
    return c["file"] + (f"[{c['sheet']}]" if "sheet" in c else "")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus loaded at once: (connection, results by file name and sheet)."""
    folder = tmp_path_factory.mktemp("real_forms")
    for p in REAL.iterdir():
        if p.suffix in (".csv", ".txt", ".xlsx"):
            shutil.copy(p, folder / p.name)
    con = db.connect(tmp_path_factory.mktemp("db") / "real.duckdb")
    results = {(Path(r.path).name, r.sheet): r for r in load_paths(con, [folder])}
    yield con, results
    con.close()


def test_the_corpus_is_large_covers_every_file_and_is_made_by_its_script():
    assert len(CASES) >= 45
    listed = {c["file"] for c in CASES}
    on_disk = {p.name for p in REAL.iterdir() if p.suffix in (".csv", ".txt", ".xlsx")}
    assert listed == on_disk
    for name, data in make_real.files().items():
        if name.endswith(".xlsx"):  # by their cells: another xlsxwriter version may write other bytes
            assert _cells((REAL / name).read_bytes()) == _cells(data), f"{name}: run tests/fixtures/real_forms/make_real.py"
        else:
            assert (REAL / name).read_bytes() == data, f"{name}: run tests/fixtures/real_forms/make_real.py"
    for name in make_real.COPIES:  # the real files, byte for byte (when shared/ is there to compare)
        data = make_real.copy_bytes(name)
        if data is not None:
            assert (REAL / name).read_bytes() == data, name


def _cells(data: bytes) -> dict:
    import io

    import python_calamine

    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def test_the_raw_downloads_are_the_real_bytes():
    """The copies of shared/real_raw keep what only they show: bare formula ids, ="" mid-row,
    the item rows' trailing comma (checked on the committed copies, so also without shared/)."""
    orders = (REAL / RAW_ORDERS).read_bytes().decode("gb18030").splitlines()
    assert orders[1].startswith('="35153131473293579","buyer1",') and ',"",="","否",' in orders[1]
    items = (REAL / RAW_ITEMS).read_bytes().decode("gb18030").splitlines()
    assert not items[0].endswith(",") and all(x.startswith('="') and x.endswith('",') for x in items[1:])


@pytest.mark.parametrize("c", CASES, ids=[case_id(c) for c in CASES])
def test_a_real_form_loads_whole(c, corpus):
    con, results = corpus
    r = results.get((c["file"], c.get("sheet")))
    assert r is not None, sorted(results)
    assert r.status == "loaded" and r.kind == c["kind"], r.line()
    assert (r.rows_in, r.loaded, r.rejected, r.replaced) == (c["rows"], c["rows"], 0, 0), r.line()
    load_id = con.execute("select load_id from load_manifest where path = ? and sheet is not distinct from ?",
                          [r.path, r.sheet]).fetchone()[0]
    assert con.execute("select count(*) from rejects where load_id = ?", [load_id]).fetchone()[0] == 0
    table = TABLE[c["kind"]]
    assert con.execute(f"select count(*) from {table} where load_id = ?", [load_id]).fetchone()[0] == c["rows"]
    keys = KEYS[c["kind"]]
    for want in c["check"]:
        want = dict(want)
        if c["kind"] == "items":
            want.setdefault("line_no", 1)
        key = [want.pop(k) for k in keys]
        cols = list(want)
        row = con.execute(
            f"select {', '.join(f'{x}::varchar' for x in cols)} from {table} where load_id = ? and "
            + " and ".join(f"{k} = ?" for k in keys), [load_id, *key]).fetchall()
        assert len(row) == 1, (key, row)
        got = {x: ("NULL" if v is None else v) for x, v in zip(cols, row[0])}
        assert got == want, key


def test_the_toy_shop_lines_join_their_orders_after_trimming(corpus):
    """The toy shop's order ids carry a trailing space, its item ids do not (real/README.md):
    trimmed, every line of the copied rows finds its order."""
    con, _ = corpus
    lines = con.execute("select l.order_id, o.order_id is not null from order_lines l left join orders o using (order_id) "
                        "where l.source_file like '%real_toyshop_items.csv'").fetchall()
    assert len(lines) == 10 and all(joined for _, joined in lines)


def test_every_line_of_the_raw_downloads_joins_its_order(tmp_path):
    """Both raw files load whole, and every item line finds its order (the bare formula ids of
    the two exports read as the same text)."""
    con = db.connect(tmp_path / "raw.duckdb")
    try:
        results = load_paths(con, [REAL / RAW_ORDERS, REAL / RAW_ITEMS])
        assert sorted((r.kind, r.rows_in, r.loaded, r.rejected) for r in results) == [("items", 5, 5, 0), ("orders", 5, 5, 0)]
        assert con.execute("select count(*) from order_lines l where not exists "
                           "(select 1 from orders o where o.order_id = l.order_id)").fetchone()[0] == 0
        assert con.execute("select count(*), count(distinct l.order_id) from order_lines l join orders o using (order_id)"
                           ).fetchone() == (5, 5)
    finally:
        con.close()


def test_a_run_on_the_raw_downloads_is_exact(tmp_path):
    """`shortship run` on the real_raw copies: 5 orders, 5 lines, 0 rejects, every line joined;
    the discount is seen (the items list 239.00, the order's goods are 201.12: line_paid splits
    what the order paid, so the line is worth 201.12), and nothing is flagged before the
    ship-by deadline (as of the export time, 2017-07-08 09:30)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in (RAW_ORDERS, RAW_ITEMS):
        shutil.copy(REAL / name, folder / name.removeprefix("real_raw_"))
    dbf = tmp_path / "r.duckdb"
    r = CliRunner().invoke(cli, ["run", str(folder), "--db", str(dbf), "--create", "--out", str(tmp_path / "out"),
                                 "--as-of", "2017-07-08 09:30:00", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["files"]["rows_loaded"] == 10 and summary["files"]["rows_rejected"] == 0
    con = duckdb.connect(str(dbf), read_only=True)
    try:
        assert con.execute("select count(*) from orders").fetchone()[0] == 5
        assert con.execute("select count(*) from order_lines").fetchone()[0] == 5
        assert con.execute("select count(*) from rejects").fetchone()[0] == 0
        amounts = dict(con.execute("select order_id, line_paid from line_amounts").fetchall())
        assert amounts == {"35153131473293579": Decimal("201.12"), "35082869905648884": Decimal("186.15"),
                           "13293638796527443": Decimal("331.55"), "13230536893603030": Decimal("989.00"),
                           "29911142123210814": Decimal("236.55")}
        assert con.execute("select distinct paid_source from line_amounts").fetchall() == [("order_split",)]
        listed = con.execute("select price from order_lines where order_id = '35153131473293579'").fetchone()[0]
        assert listed == Decimal("239.00")  # the discount: listed above what was paid
        assert con.execute("select count(*) from flags").fetchone()[0] == 0  # paid the night before: not late yet
    finally:
        con.close()
