"""Detection from the shipments file (the shop's own record) and from parcel weights.

Paid 2017-06-01 10:00, ship-by 2017-06-04 10:00; as of 2017-06-20 unless said otherwise.
"""
from datetime import datetime
from decimal import Decimal

import pytest

from pipeline import db
from tests.flag.builders import Shop
from tests.flag.conftest import flag_rows

D = Decimal
CAR = ("玩具车", "10.00", 3, "CAR")

CURED = "3000000000000000201"
OWED = "3000000000000000202"
NEVER = "3000000000000000203"
NO_COMPLAINT = "3000000000000000204"
FULL = "3000000000000000205"
SPLIT = "3000000000000000206"
RESHIP_ONLY = "3000000000000000207"
WRONG_SKU = "3000000000000000208"
TWO_SKUS = "3000000000000000209"
NO_SKU_ROWS = "3000000000000000210"
WEIGHT_SAMPLES = [f"30000000000000002{i}" for i in range(20, 26)]
LIGHT = "3000000000000000230"
EMPTY_BOX = "3000000000000000231"
NORMAL_WEIGHT = "3000000000000000232"
UNKNOWN_SKU_WEIGHT = "3000000000000000233"
LATER_THAN_AS_OF = "3000000000000000234"


def build() -> Shop:
    s = Shop()
    s.order(CURED, CAR)
    s.ship(CURED, "CAR", 2, "2017-06-02 10:00:00")
    s.ship(CURED, "CAR", 1, "2017-06-03 12:00:00", reship=True)
    s.order(OWED, CAR)
    s.ship(OWED, "CAR", 2, "2017-06-02 10:00:00")
    s.ship(OWED, "CAR", 1, "2017-06-06 09:00:00", reship=True)
    s.refund(OWED, "9000000000000000202", "10.00", "少件/漏发", status="买家已经申请退款，等待卖家同意")
    s.order(NEVER, CAR)
    s.ship(NEVER, "CAR", 2, "2017-06-02 10:00:00")
    s.order(NO_COMPLAINT, CAR, status="shipped", paid_at="2017-06-18 10:00:00")
    s.ship(NO_COMPLAINT, "CAR", 2, "2017-06-19 09:00:00")
    s.order(FULL, CAR)
    s.ship(FULL, "CAR", 3, "2017-06-02 10:00:00")
    s.order(SPLIT, CAR)
    s.ship(SPLIT, "CAR", 2, "2017-06-02 10:00:00")
    s.ship(SPLIT, "CAR", 1, "2017-06-03 10:00:00")
    s.order(RESHIP_ONLY, CAR)
    s.ship(RESHIP_ONLY, "CAR", 3, "2017-06-02 10:00:00")
    s.ship(RESHIP_ONLY, "CAR", 1, "2017-06-08 10:00:00", reship=True)
    s.order(WRONG_SKU, ("水枪", "20.00", 1, "GUN"))
    s.ship(WRONG_SKU, "CAR", 1, "2017-06-02 10:00:00")
    s.order(TWO_SKUS, CAR, ("积木", "12.00", 2, "BLOCK"))
    s.ship(TWO_SKUS, "CAR", 3, "2017-06-02 10:00:00")
    s.ship(TWO_SKUS, "BLOCK", 1, "2017-06-02 10:00:00")
    s.order(NO_SKU_ROWS, CAR)
    s.ship(NO_SKU_ROWS, "", 1, "2017-06-02 10:00:00")
    s.order(LATER_THAN_AS_OF, CAR)
    s.ship(LATER_THAN_AS_OF, "CAR", 3, "2017-06-25 10:00:00")
    # weights: W1 weighs 0.5 kg a unit (six full single-SKU parcels), W2 has too few samples
    for oid in WEIGHT_SAMPLES:
        s.order(oid, ("皮球", "6.00", 2, "W1"))
        s.ship(oid, "W1", 2, "2017-06-02 10:00:00", weight="1.000")
    s.order(LIGHT, ("皮球", "6.00", 2, "W1"))
    s.ship(LIGHT, "W1", 2, "2017-06-02 10:00:00", weight="0.520")
    s.order(EMPTY_BOX, ("皮球", "6.00", 2, "W1"))
    s.ship(EMPTY_BOX, "W1", 2, "2017-06-02 10:00:00", weight="0.050")
    s.order(NORMAL_WEIGHT, ("皮球", "6.00", 2, "W1"))
    s.ship(NORMAL_WEIGHT, "W1", 2, "2017-06-02 10:00:00", weight="0.980")
    for oid in ("3000000000000000240", "3000000000000000241"):
        s.order(oid, ("滑板", "50.00", 1, "W2"))
        s.ship(oid, "W2", 1, "2017-06-02 10:00:00", weight="2.000")
    s.order(UNKNOWN_SKU_WEIGHT, ("滑板", "50.00", 1, "W2"))
    s.ship(UNKNOWN_SKU_WEIGHT, "W2", 1, "2017-06-02 10:00:00", weight="0.300")
    return s


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shipments")
    path = folder / "flag.duckdb"
    con = db.connect(path)
    try:
        build().load(con, folder / "exports")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def f(db_path):
    con = db.connect(db_path)
    try:
        return flag_rows(con)
    finally:
        con.close()


def test_shortfall_cured_by_a_reship_before_the_deadline(f):
    r = f[CURED]
    assert (r["kind"], r["responsibility"]) == ("short", "merchant")
    assert {"ship_shortfall", "shipments_record"} <= set(r["rules"])
    assert r["reshipped_at"] == datetime(2017, 6, 3, 12, 0) and r["reshipped_at"] <= r["ship_by"]
    assert r["missing_qty"] == 1 and r["affected_amount"] == D("10.00")
    assert "cured" in r["evidence"]


def test_shortfall_reshipped_after_the_deadline_is_owed(f):
    r = f[OWED]
    assert (r["kind"], r["responsibility"]) == ("short", "merchant")
    assert r["reshipped_at"] == datetime(2017, 6, 6, 9, 0) and r["reshipped_at"] > r["ship_by"]
    assert "after ship-by" in r["evidence"] and r["complaint"] is True
    assert "refund_reason" in r["rules"]


def test_shortfall_never_reshipped(f):
    r = f[NEVER]
    assert r["kind"] == "short" and r["reshipped_at"] is None and r["missing_qty"] == 1


def test_shortfall_without_complaint_says_by_when_to_reship(f):
    r = f[NO_COMPLAINT]
    assert (r["kind"], r["responsibility"]) == ("short", "merchant")
    assert r["complaint"] is False and r["reshipped_at"] is None
    assert r["ship_by"] == datetime(2017, 6, 21, 10, 0)
    assert "re-ship by 2017-06-21 10:00" in r["evidence"]


@pytest.mark.parametrize("oid", [FULL, SPLIT, LATER_THAN_AS_OF])
def test_complete_shipments_do_not_fire(f, oid):
    assert oid not in f


def test_one_sku_short_of_two(f):
    r = f[TWO_SKUS]
    assert r["kind"] == "short" and r["sku"] == "BLOCK" and r["line_no"] == 2
    assert r["missing_qty"] == 1 and r["affected_amount"] == D("12.00")


def test_reship_parcel_is_itself_a_record_of_a_shortage(f):
    r = f[RESHIP_ONLY]
    assert r["kind"] == "short" and "ship_reship" in r["rules"]
    assert r["missing_qty"] == 1 and r["reshipped_at"] == datetime(2017, 6, 8, 10, 0)


def test_unordered_sku_shipped_instead_is_wrong(f):
    r = f[WRONG_SKU]
    assert (r["kind"], r["responsibility"]) == ("wrong", "merchant")
    assert "ship_wrong_sku" in r["rules"] and r["affected_amount"] == D("20.00")


def test_rows_without_sku_compare_all_units(f):
    r = f[NO_SKU_ROWS]
    assert r["kind"] == "short" and r["missing_qty"] == 2 and r["affected_amount"] == D("20.00")


def test_light_parcel_is_short(f):
    r = f[LIGHT]
    assert (r["kind"], r["responsibility"]) == ("short", "merchant")
    assert r["rules"] == ["parcel_weight", "shipments_record"] and r["basis"] == "weight"
    assert r["missing_qty"] == 1 and r["affected_amount"] == D("6.00")
    assert "0.520 kg" in r["evidence"]


def test_almost_weightless_parcel_is_empty(f):
    r = f[EMPTY_BOX]
    assert r["kind"] == "empty" and r["missing_qty"] == 2 and r["affected_amount"] == D("12.00")


@pytest.mark.parametrize("oid", [NORMAL_WEIGHT, UNKNOWN_SKU_WEIGHT] + WEIGHT_SAMPLES)
def test_weight_does_not_fire(f, oid):
    assert oid not in f


def test_before_the_deadline_the_shortfall_is_still_flagged_as_curable(db_path):
    con = db.connect(db_path)
    try:
        rows = flag_rows(con, as_of=datetime(2017, 6, 2, 12, 0))
    finally:
        con.close()
    r = rows[NEVER]
    assert r["kind"] == "short" and r["reshipped_at"] is None and r["ship_by"] > r["as_of"]
    assert "re-ship by 2017-06-04 10:00" in r["evidence"]
    assert CURED in rows and rows[CURED]["reshipped_at"] is None  # its reship is not seen yet
    assert OWED not in rows or "refund_reason" not in rows[OWED]["rules"]  # refund applied later
