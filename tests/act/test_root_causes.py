"""root_causes.parquet: short-shipment rate by shop, SKU, day, week and (with the optional
shipments columns) packer and warehouse; the report's root-cause section and weekly trend."""
from __future__ import annotations

import csv
import hashlib
from collections import Counter
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import run

SCHEMA = {"dimension": pa.string(), "value": pa.string(), "orders": pa.int64(), "short_orders": pa.int64(),
          "wrong_orders": pa.int64(), "short_rate": pa.float64(), "short_rate_low": pa.float64(),
          "missing_qty": pa.int64(), "affected_amount": pa.decimal128(18, 2)}


def _flag_facts(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        shorts = dict(con.execute("""select f.order_id, f.sku from flags f join liabilities l using (order_id)
                                     where f.kind in ('short', 'empty') and l.status <> 'excluded'""").fetchall())
        orders = con.execute("select order_id, shop, coalesce(paid_at, created_at)::date from orders").fetchall()
        lines = con.execute("select distinct order_id, sku from order_lines where sku is not null").fetchall()
        return shorts, orders, lines
    finally:
        con.close()


def test_rates_by_shop_sku_day_and_week_match_the_flags(truth_run):
    t = pq.read_table(truth_run["out"] / "root_causes.parquet")
    for col, typ in SCHEMA.items():
        assert t.schema.field(col).type == typ, col
    rows = t.to_pylist()
    shorts, orders, lines = _flag_facts(truth_run["db"])
    by = {(r["dimension"], r["value"]): r for r in rows}
    assert {r["dimension"] for r in rows} == {"shop", "sku", "day", "week"}  # no packer column in this data
    # shops and days: every order once
    for dim, key in (("shop", lambda o: o[1] or ""), ("day", lambda o: str(o[2]))):
        n, s = Counter(key(o) for o in orders), Counter(key(o) for o in orders if o[0] in shorts)
        assert {v: r["orders"] for (d, v), r in by.items() if d == dim} == dict(n)
        assert {v: r["short_orders"] for (d, v), r in by.items() if d == dim} == {k: s.get(k, 0) for k in n}
    weeks = [r for r in rows if r["dimension"] == "week"]
    assert sum(r["orders"] for r in weeks) == len(orders)
    assert all(date.fromisoformat(r["value"]).weekday() == 0 for r in weeks)  # Mondays
    # SKUs: a flag naming its SKU counts for it alone, else for every SKU of the order
    n = Counter(s for _, s in lines)
    s = Counter(sku for oid, sku in lines if oid in shorts and (shorts[oid] is None or shorts[oid] == sku))
    assert {v: r["short_orders"] for (d, v), r in by.items() if d == "sku"} == {k: s.get(k, 0) for k in n}
    for r in rows:
        assert r["short_rate"] == pytest.approx(r["short_orders"] / r["orders"])
        assert 0 <= r["short_rate_low"] <= r["short_rate"] + 1e-12


def test_packer_and_warehouse_from_the_optional_shipments_columns(generated, truth, tmp_path):
    """The shipments file gains packer and warehouse: the packer who packed the short parcels
    tops the report's packer table."""
    ins = tmp_path / "in"
    ins.mkdir()
    short_cases = {t["order_id"] for t in truth if t["case"] in ("ship_only_no_complaint", "late_reship", "cured_reship")}
    for p in generated.iterdir():
        if p.suffix != ".csv":
            continue
        if not p.name.startswith("shipments"):
            (ins / p.name).write_bytes(p.read_bytes())
            continue
        with open(p, encoding="utf-8", newline="") as f, open(ins / p.name, "w", encoding="utf-8", newline="") as g:
            r, w = csv.reader(f), csv.writer(g)
            w.writerow(next(r) + ["packer", "warehouse"])
            for row in r:
                h = int(hashlib.md5(row[0].encode()).hexdigest(), 16)
                packer = "老张" if row[0] in short_cases and h % 4 else f"P{h % 5}"
                w.writerow(row + [packer, "杭州仓" if h % 2 else "义乌仓"])
    done = run(ins, tmp_path / "o", "--lang", "en")
    rows = pq.read_table(done["out"] / "root_causes.parquet").to_pylist()
    packers = {r["value"]: r for r in rows if r["dimension"] == "packer"}
    assert set(packers) == {"老张", "P0", "P1", "P2", "P3", "P4"}
    assert max(packers.values(), key=lambda r: r["short_rate_low"])["value"] == "老张"
    assert {r["value"] for r in rows if r["dimension"] == "warehouse"} == {"杭州仓", "义乌仓"}
    con = duckdb.connect(str(done["db"]), read_only=True)
    try:
        n_orders = con.execute("select count(distinct order_id) from shipments where packer = '老张' and not reship").fetchone()[0]
    finally:
        con.close()
    assert packers["老张"]["orders"] == n_orders
    page = (done["out"] / "report.html").read_text(encoding="utf-8")
    section = page.split('id="rates"', 1)[1].split("</section>", 1)[0]
    assert "Packers" in section and "Warehouses" in section
    packer_table = section.split("Packers", 1)[1]
    assert packer_table.index("老张") < packer_table.index("P0")
