"""courier_claims.csv against the generated truth: every parcel lost in transit with its
tracking numbers and the claim under the policy's courier rule; totals per carrier."""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.act import CLAIM_COLUMNS
from pipeline.locale import messages
from pipeline.policy import load_policy

from .conftest import read_csv

TMALL = load_policy("tmall")


def _facts(db: Path, order_ids: list[str]) -> dict[str, dict]:
    """Per order, from the loaded tables: tracking numbers (shipments file and exports), postage,
    carrier, first parcel count."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for oid in order_ids:
            tks = {r[0] for r in con.execute(
                "select tracking_no from shipments where order_id = ? and tracking_no is not null "
                "union select tracking_no from orders where order_id = ? and tracking_no is not null "
                "union select tracking_no from order_lines where order_id = ? and tracking_no is not null",
                [oid, oid, oid]).fetchall()}
            postage, carrier = con.execute("select postage, carrier from orders where order_id = ?", [oid]).fetchone()
            parcels = con.execute("select count(distinct (tracking_no, shipped_at)) from shipments "
                                  "where order_id = ? and not reship", [oid]).fetchone()[0]
            out[oid] = {"tracking": tks, "postage": postage, "carrier": carrier, "parcels": parcels}
        return out
    finally:
        con.close()


def _expected_claim(goods: Decimal, postage: Decimal | None, parcels: int, rule: str) -> tuple[Decimal, Decimal]:
    freight = postage if postage and postage > 0 else TMALL.freight_per_parcel * max(parcels, 1)
    if rule == "declared_value":
        return freight, goods
    return freight, min(goods, TMALL.courier_postage_multiple * freight)


def test_every_lost_parcel_with_its_tracking_numbers_and_claim(truth_run, truth):
    head, rows = read_csv(truth_run["out"] / "courier_claims.csv")
    assert head == CLAIM_COLUMNS
    got = {r["order_id"]: r for r in rows}
    assert len(got) == len(rows)  # one row per order
    lost = [t for t in truth if t["expected_status"] == "courier"]
    assert len(lost) >= 5
    facts = _facts(truth_run["db"], [t["order_id"] for t in lost])
    for t in lost:
        r = got.get(t["order_id"])
        assert r is not None, f"lost parcel {t['order_id']} ({t['case']}) not claimed"
        f = facts[t["order_id"]]
        assert r["basis"] == "lost_in_transit" and r["status"] == "courier"
        assert set(r["tracking_nos"].split()) == f["tracking"] and f["tracking"]
        assert r["carrier"] == (f["carrier"] or "")
        assert Decimal(r["goods_value_yuan"]) == t["affected_amount"]
        freight, claim = _expected_claim(t["affected_amount"], f["postage"], f["parcels"], "postage_multiple")
        assert Decimal(r["freight_yuan"]) == freight
        assert Decimal(r["claim_yuan"]) == claim
        assert r["claim_rule"] == "postage_multiple"
        assert re.fullmatch(r"\d{4}-\d{2}", r["month"]) and r["shipped_at"].startswith(r["month"])


def test_sorted_by_carrier_and_month(truth_run):
    _, rows = read_csv(truth_run["out"] / "courier_claims.csv")
    keys = [(r["carrier"], r["month"], r["order_id"]) for r in rows]
    assert keys == sorted(keys)


def test_a_short_claimed_from_the_courier_left_complete_and_weighed_full(truth_run):
    """short_in_intact_parcel: the shop's record holds every unit and the parcel weighed what it should."""
    _, rows = read_csv(truth_run["out"] / "courier_claims.csv")
    shorts = [r for r in rows if r["basis"] == "short_in_intact_parcel"]
    con = duckdb.connect(str(truth_run["db"]), read_only=True)
    try:
        for r in shorts:
            kind, status = con.execute("select kind, status from liabilities where order_id = ?", [r["order_id"]]).fetchone()
            assert kind == "short" and status in ("owed", "cured")
            ordered = dict(con.execute("select sku, sum(quantity) from order_lines where order_id = ? and status <> 'closed' "
                                       "group by sku", [r["order_id"]]).fetchall())
            shipped = dict(con.execute("select sku, sum(quantity) from shipments where order_id = ? and not reship "
                                       "group by sku", [r["order_id"]]).fetchall())
            assert all(shipped.get(s, 0) >= q for s, q in ordered.items())
            assert Decimal(r["weight_kg"]) >= Decimal(r["expected_kg"]) - Decimal("0.5")
    finally:
        con.close()


def test_declared_value_rule_claims_the_goods_value(truth_run, tmp_path):
    """A policy file with `claim = "declared_value"`: every claim is the goods value."""
    from pipeline import db, setdata
    from pipeline.policy import load_policy

    text = Path(TMALL.source).read_text(encoding="utf-8").replace('claim = "postage_multiple"', 'claim = "declared_value"')
    pol_path = tmp_path / "insured.toml"
    pol_path.write_text(text.replace('id = "tmall-2023"', 'id = "tmall-insured"'), encoding="utf-8")
    pol = load_policy(str(pol_path))
    assert pol.courier_claim == "declared_value"
    con = db.connect(truth_run["db"], read_only=True)
    try:
        rows = setdata.claim_rows(con, con.execute("select max(as_of) from liabilities").fetchone()[0], pol)
    finally:
        setdata.drop_temp(con)
        con.close()
    _, csv_rows = read_csv(truth_run["out"] / "courier_claims.csv")
    assert [r["order_id"] for r in rows] == [r["order_id"] for r in csv_rows]  # the same orders
    assert rows and all(r["claim_rule"] == "declared_value" and r["claim_yuan"] == r["goods_value_yuan"] for r in rows)
    assert any(Decimal(c["claim_yuan"]) < Decimal(c["goods_value_yuan"]) for c in csv_rows)  # the cap bit before


def test_totals_per_carrier_in_the_report_and_the_workbook(truth_run):
    _, rows = read_csv(truth_run["out"] / "courier_claims.csv")
    by_carrier: dict[str, Decimal] = {}
    by_month: dict[tuple, Decimal] = {}
    for r in rows:
        by_carrier[r["carrier"]] = by_carrier.get(r["carrier"], Decimal(0)) + Decimal(r["claim_yuan"])
        key = (r["carrier"], r["month"])
        by_month[key] = by_month.get(key, Decimal(0)) + Decimal(r["claim_yuan"])
    page = (truth_run["out"] / "report.html").read_text(encoding="utf-8")
    cells = re.findall(r'data-carrier="([^"]*)" data-month="([^"]*)" data-claim-yuan="([^"]*)"', page)
    assert cells
    for carrier, month, claim in cells:
        want = by_month[(carrier, month)] if month else by_carrier[carrier]
        assert Decimal(claim) == want
    assert {(c, m) for c, m, _ in cells if m} == set(by_month)
    sheet = pd.read_excel(truth_run["out"] / "liabilities.xlsx", sheet_name="claim_totals", header=1, dtype=str,
                          engine="openpyxl")
    month_rows = sheet[sheet["month"].notna()]
    assert {(c, m): Decimal(v) for c, m, v in zip(month_rows["carrier"], month_rows["month"], month_rows["claim_yuan"])} \
        == {k: v for k, v in by_month.items()}
    claims = pd.read_excel(truth_run["out"] / "liabilities.xlsx", sheet_name="courier_claims", header=1, dtype=str,
                           engine="openpyxl")
    assert list(claims["order_id"]) == [r["order_id"] for r in rows]


def test_chinese_headings_by_default(early_run):
    head, rows = read_csv(early_run["out"] / "courier_claims.csv")
    zh = messages("zh")
    assert head == [zh.heading(c) for c in CLAIM_COLUMNS]
    assert head[:3] == ["物流公司", "月份", "订单编号"]
    assert {r["依据"] for r in rows} <= {"签收前丢失/破损", "完好包裹内少件"}


def test_parcels_weighed_once_per_set_are_each_orders_own(truth_run):
    """The set weighs the parcels of the claims' and the pages' orders in one go, and a reader
    asking for more orders weighs only those: each order's parcel rows are the ones weighing
    that order alone gives, and the claims are the same as when they weighed only theirs."""
    from pipeline import db, setdata

    con = db.connect(truth_run["db"], read_only=True)
    try:
        info = setdata.set_info(con, batch_id="t")
        cols = "order_id, tracking_no, shipped_at, reship, n_rows, units, contents, weight_kg, expected_kg, " \
               "sigma_kg, learnt_from, weight_ok, light, source_files, lines"

        def parcels(ids: list[str]) -> list[tuple]:
            return con.execute(f"select {cols} from _act_parcels where order_id in (select unnest(?::varchar[])) "
                               "order by order_id, shipped_at, tracking_no", [ids]).fetchall()

        data = setdata.compute(con, info)
        claim_ids = [r[0] for r in con.execute(setdata.CLAIM_ORDERS).fetchall()]
        weighed = {r[0] for r in con.execute("select order_id from _act_weighed").fetchall()}
        assert data.evidence and claim_ids and weighed >= set(data.evidence) | set(claim_ids)
        both = parcels(claim_ids)
        n = con.execute("select count(*) from _act_parcels").fetchone()[0]
        # a reader asking for orders already weighed adds nothing
        setdata.weigh_parcels(con, "select order_id from liabilities where status = 'courier'", info.as_of, info.policy)
        assert con.execute("select count(*) from _act_parcels").fetchone()[0] == n
        setdata.drop_temp(con)
        claims_alone = setdata.claim_rows(con, info.as_of, info.policy)  # weighs the claims' orders only
        assert con.execute("select count(*) from _act_parcels").fetchone()[0] < n
        assert parcels(claim_ids) == both
        assert claims_alone == data.claims
    finally:
        setdata.drop_temp(con)
        con.close()
