"""overview.html from `shortship run` on a database of several shops (店铺名称): one page across
shops, ranked by what each owes and what awaits review, with the short rate per shop and its
trend, and the nearest re-ship deadlines (sql/outputs/overview.sql, pipeline/report/overview.py).

One generated export of three shops, one run (module fixture); every figure of the page is
checked against the files the same run wrote (liabilities.parquet, review.csv,
root_causes.parquet, reship.csv). A database of one shop writes no overview (test_run.py checks
the whole set of a one-shop run)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline import db
from pipeline.export import write_people_files
from pipeline.generate import generate
from pipeline.run import run_pipeline

AS_OF = "2024-05-09 12:00:00"  # inside the exports' days: some orders are still curable
ROW = re.compile(r'<tr data-rank="(\d+)" data-shop="([^"]*)" data-owed-yuan="([^"]*)" data-review-orders="(\d+)"\s+'
                 r'data-review-yuan="([^"]*)" data-short-rate="([^"]*)"\s+data-next-deadline="([^"]*)">')


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    base = tmp_path_factory.mktemp("overview")
    generate(base / "in", 240, seed=7, shops=3, start=date(2024, 5, 1), days=10, workers=1)
    summary = run_pipeline([base / "in"], base / "shop.duckdb", base / "out", as_of=AS_OF, create=True)
    page = (base / "out" / "overview.html").read_text(encoding="utf-8")
    return {"base": base, "out": base / "out", "summary": summary, "page": page, "rows": ROW.findall(page)}


def test_run_on_several_shops_writes_overview_with_every_shop(done):
    out, rows = done["out"], done["rows"]
    li = pq.read_table(out / "liabilities.parquet")
    shops = set(pq.read_table(out / "summary.parquet").column("shop").to_pylist())
    assert len(shops) == 3 and {r[1] for r in rows} == shops
    assert "overview.html" in (out / "manifest.json").read_text(encoding="utf-8")
    assert "店铺排名" in done["page"]  # Chinese by default
    # ranked by what each shop owes, then by what awaits review
    keys = [(-Decimal(r[2]), -Decimal(r[4]), -int(r[3])) for r in rows]
    assert keys == sorted(keys) and [int(r[0]) for r in rows] == [1, 2, 3]
    assert Decimal(rows[0][2]) > Decimal(rows[-1][2])
    for _, shop, owed, *_ in rows:
        mine = li.filter(pc.and_(pc.equal(li.column("shop"), shop), pc.equal(li.column("status"), "owed")))
        assert Decimal(owed) == sum(mine.column("total_yuan").to_pylist(), Decimal("0.00")), shop


def test_overview_counts_review_and_rates_as_the_other_files_do(done):
    out, rows = done["out"], done["rows"]
    review = list(csv.DictReader(io.StringIO((out / "review.csv").read_text(encoding="utf-8-sig"))))
    # the short rate: orders flagged short or empty whose liability is not excluded, over the
    # orders that exist at the run's clock (summary.parquet's orders)
    status = dict(zip(*pq.read_table(out / "liabilities.parquet", columns=["order_id", "status"]).to_pydict().values()))
    flags = pq.read_table(out / "flags.parquet").to_pylist()
    orders = {}
    for d in pq.read_table(out / "summary.parquet").to_pylist():
        orders[d["shop"]] = orders.get(d["shop"], 0) + d["orders"]
    rate = {shop: sum(1 for f in flags if f["shop"] == shop and f["kind"] in ("short", "empty")
                      and status.get(f["order_id"]) != "excluded") / n for shop, n in orders.items()}
    assert sum(int(r[3]) for r in rows) == len(review) > 0
    for _, shop, _, n_review, review_yuan, short_rate, _ in rows:
        mine = [r for r in review if r["店铺"] == shop]
        assert int(n_review) == len(mine), shop
        assert Decimal(review_yuan) == sum((Decimal(r["涉及金额"]) for r in mine), Decimal("0.00")), shop
        assert float(short_rate) == pytest.approx(rate[shop], abs=1e-6), shop
    assert any(float(r[5]) > 0 for r in rows)


def test_overview_lists_the_nearest_reship_deadlines(done):
    out, rows = done["out"], done["rows"]
    li = pq.read_table(out / "liabilities.parquet")
    curable = li.filter(pc.equal(li.column("status"), "curable"))
    assert curable.num_rows, "the clock leaves some orders curable"
    for _, shop, *_, deadline in rows:
        mine = curable.filter(pc.equal(curable.column("shop"), shop)).column("deadline").to_pylist()
        assert deadline == (f"{min(mine):%Y-%m-%d %H:%M:%S}" if mine else ""), shop
    listed = re.findall(r'<tr data-shop="[^"]*" data-order-id="(\d+)">', done["page"])
    nearest = curable.sort_by([("deadline", "ascending"), ("order_id", "ascending")]).column("order_id").to_pylist()
    assert listed and set(listed) <= set(curable.column("order_id").to_pylist())
    assert listed[0] == nearest[0]


def test_overview_in_english_and_one_shop_writes_none(done, tmp_path):
    con = db.connect(done["base"] / "shop.duckdb", read_only=True)
    try:
        write_people_files(con, tmp_path / "en", lang="en")
    finally:
        con.close()
    page = (tmp_path / "en" / "overview.html").read_text(encoding="utf-8")
    assert "Shops, by what they owe and what awaits review" in page and "店铺排名" not in page
    assert ROW.findall(page) == done["rows"]
