"""reship.csv against the generated truth: every order the shop must still send, SKU by SKU,
with its quantity and deadline; curable first; a re-shipment on file takes the row off."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import duckdb

from pipeline.act import RESHIP_COLUMNS
from pipeline.clock import fmt
from pipeline.locale import messages

from .conftest import read_csv, run


def _db_rows(db, sql, params=None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def _by_order(rows, key="order_id"):
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


def test_chinese_headings_and_labels_by_default(early_run):
    head, rows = read_csv(early_run["out"] / "reship.csv")
    zh = messages("zh")
    assert head == [zh.heading(c) for c in RESHIP_COLUMNS]
    assert head[:3] == ["订单编号", "店铺", "买家"]
    assert rows and {r["状态"] for r in rows} <= {"可补发免赔", "应赔付"}


def test_every_curable_shortage_with_its_skus_quantities_and_deadline(early_run, early, truth):
    head, rows = read_csv(early_run["out"] / "reship.csv")
    zh = messages("zh")
    h = {c: zh.heading(c) for c in RESHIP_COLUMNS}
    got = _by_order(rows, h["order_id"])
    # curable: re-shipping can still cure it (never an order closed, or paid after the clock)
    curable = {r["order_id"]: r for r in _db_rows(early_run["db"], """
        select l.order_id, l.deadline, l.at_risk_yuan from liabilities l join orders o using (order_id)
        where l.status = 'curable' and o.status <> 'closed' and o.paid_at <= ?""", [early])}
    assert curable, "the early clock should leave curable orders"
    # every curable order is listed, as curable, with its deadline and the penalty it avoids
    for oid, liab in curable.items():
        assert oid in got, f"curable order {oid} missing from reship.csv"
        for r in got[oid]:
            assert r[h["status"]] == zh.code("status", "curable")
            assert r[h["deadline"]] == fmt(liab["deadline"])
            assert Decimal(r[h["penalty_avoided_yuan"]]) == liab["at_risk_yuan"]
            hours = (liab["deadline"] - early).total_seconds() / 3600
            assert abs(float(r[h["hours_left"]]) - hours) <= 0.05
    # the shipments-file shortages of the truth: the SKUs and units missing, the ship-by
    shipped = {r["order_id"]: r["first"] for r in _db_rows(
        early_run["db"], "select order_id, min(shipped_at) as first from shipments group by order_id")}
    checked = 0
    for t in truth:
        if t["case"] != "ship_only_no_complaint" or not (t["paid_at"] <= early < t["ship_by"]):
            continue
        if t["order_id"] not in shipped or shipped[t["order_id"]] > early:
            continue  # its parcel is not shipped yet at this clock: nothing seen to be short
        rows_t = got.get(t["order_id"])
        assert rows_t, f"truth shortage {t['order_id']} missing"
        want = {(d["sku"], d["missing_qty"]) for d in t["detail"]}
        assert {(r[h["sku"]], int(r[h["quantity"]])) for r in rows_t} == want
        assert {r[h["deadline"]] for r in rows_t} == {fmt(t["ship_by"])}
        checked += 1
    assert checked >= 2
    # curable rows come first, then by deadline
    order = [(r[h["status"]] != zh.code("status", "curable"), r[h["deadline"]]) for r in rows]
    assert order == sorted(order)


def test_owed_orders_whose_goods_are_missing_and_nothing_else(truth_run, truth):
    head, rows = read_csv(truth_run["out"] / "reship.csv")
    assert head == RESHIP_COLUMNS  # --lang en: the canonical names an ERP maps
    got = _by_order(rows)
    for oid, rs in got.items():
        assert {r["status"] for r in rs} <= {"owed", "curable"}
    checked = {"ship_only_no_complaint": 0, "unshipped": 0}
    for t in truth:
        oid = t["order_id"]
        if t["case"] == "ship_only_no_complaint":  # owed at this clock, units never sent
            assert {(r["sku"], int(r["quantity"])) for r in got[oid]} == {(d["sku"], d["missing_qty"]) for d in t["detail"]}
            assert {r["deadline"] for r in got[oid]} == {fmt(t["ship_by"])}
            assert all(Decimal(r["penalty_avoided_yuan"]) == 0 for r in got[oid])  # already owed
            checked["ship_only_no_complaint"] += 1
        elif t["case"] == "unshipped":  # paid, never shipped: every line in full
            assert sum(int(r["quantity"]) for r in got[oid]) == t["missing_qty"]
            checked["unshipped"] += 1
        elif t["case"] in ("out_of_stock", "cured_reship", "late_reship", "short_reason", "empty_parcel",
                           "wrong_item", "refused_cs_for_shop", "serial_claimer", "text_only", "amount_only"):
            # closed, re-shipped, refunded, not the shop's fault or undecided: nothing to send
            assert oid not in got, f"{t['case']} order {oid} should not be in reship.csv"
    assert all(n >= 2 for n in checked.values()), checked
    # every row is an order the shop is at fault for, not closed, not re-shipped, goods not refunded
    liab = {r["order_id"]: r for r in _db_rows(truth_run["db"], """
        select l.order_id, l.status, l.responsibility, l.goods_refund_yuan, f.reshipped_at, o.status as order_status
        from liabilities l join flags f using (order_id) join orders o using (order_id)""")}
    for oid in got:
        r = liab[oid]
        assert r["responsibility"] == "merchant" and r["order_status"] != "closed" and r["reshipped_at"] is None
        assert r["status"] == "curable" or r["goods_refund_yuan"] > 0


def test_a_reshipment_in_the_next_shipments_file_takes_its_units_off(exports, early, early_run, tmp_path):
    """The next shipments file holds a re-shipment of every missing unit of one curable order
    and of one unit of another: the first leaves reship.csv (cured), the second keeps the rest."""
    import shutil

    db_copy = tmp_path / "again.duckdb"
    shutil.copy(early_run["db"], db_copy)
    _, rows = read_csv(early_run["out"] / "reship.csv")
    zh = messages("zh")
    h = {c: zh.heading(c) for c in RESHIP_COLUMNS}
    curable = [r for r in rows if r[h["status"]] == zh.code("status", "curable")
               and r[h["basis"]] == zh.code("reship_basis", "shipments")]
    assert curable
    whole = curable[0][h["order_id"]]
    partial = next((r for r in curable if r[h["order_id"]] != whole and int(r[h["quantity"]]) >= 2), None)
    sent = [r for r in curable if r[h["order_id"]] == whole]
    when = early - timedelta(minutes=30)
    lines = ["order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship"]
    lines += [f"{whole},{r[h['sku']]},{r[h['quantity']]},{when:%Y-%m-%d %H:%M:%S},RS{whole[-6:]},0.5,true" for r in sent]
    if partial:
        lines.append(f"{partial[h['order_id']]},{partial[h['sku']]},1,{when:%Y-%m-%d %H:%M:%S},RSP1,0.3,true")
    nxt = tmp_path / "next"
    nxt.mkdir()
    (nxt / "shipments_next.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    second = run([exports, nxt], tmp_path / "again", "--lang", "en", as_of=f"{early:%Y-%m-%d %H:%M:%S}", db=db_copy)
    _, rows2 = read_csv(second["out"] / "reship.csv")
    assert whole not in {r["order_id"] for r in rows2}
    assert _db_rows(second["db"], "select status from liabilities where order_id = ?", [whole]) == [{"status": "cured"}]
    before = {(r[h["order_id"]], r[h["sku"]]): int(r[h["quantity"]]) for r in rows if r[h["order_id"]] != whole}
    after = {(r["order_id"], r["sku"]): int(r["quantity"]) for r in rows2}
    if partial:
        key = (partial[h["order_id"]], partial[h["sku"]])
        assert after[key] == before[key] - 1
        before[key] -= 1
    assert after == before  # every other row as it was


def test_reship_in_the_workbook(truth_run):
    import pandas as pd

    _, rows = read_csv(truth_run["out"] / "reship.csv")
    sheet = pd.read_excel(truth_run["out"] / "liabilities.xlsx", sheet_name="reship", header=1, dtype=str, engine="openpyxl")
    assert list(sheet["order_id"]) == [r["order_id"] for r in rows]
    assert [int(q) for q in sheet["quantity"]] == [int(r["quantity"]) for r in rows]
    assert all(isinstance(x, str) and len(x) >= 16 for x in sheet["order_id"])  # ids kept whole, as text


def test_hours_left_is_negative_once_the_deadline_passed(truth_run):
    _, rows = read_csv(truth_run["out"] / "reship.csv")
    as_of = datetime.fromisoformat(truth_run["json"]["as_of"])
    for r in rows:
        deadline = datetime.fromisoformat(r["deadline"])
        assert (float(r["hours_left"]) < 0) == (deadline < as_of)
