"""Detection from the refund and order exports: one scenario per order, all loaded once.

Each order id names its case; every rule has an order that fires it and one that must not.
Paid 2017-06-01 10:00 (ship-by 2017-06-04 10:00 with the 72-hour window); as of 2017-06-20.
"""
from decimal import Decimal

import pytest

from pipeline import db
from tests.flag.builders import Shop
from tests.flag.conftest import flag_rows, signals_built

D = Decimal

# order ids
SHORT_LEGACY = "3000000000000000101"
SHORT_ERP = "3000000000000000102"
WRONG = "3000000000000000103"
EMPTY = "3000000000000000104"
NOT_RECEIVED = "3000000000000000105"
NOT_RECEIVED_BUT_RECEIVED = "3000000000000000106"
NO_FAULT_REASON = "3000000000000000107"
OOS_REFUND = "3000000000000000108"
CLOSED_OOS = "3000000000000000109"
PAID_PAST_DEADLINE = "3000000000000000110"
PAID_BEFORE_DEADLINE = "3000000000000000111"
CS_FOR_SELLER = "3000000000000000112"
CS_FOR_BUYER = "3000000000000000113"
PARTY_COURIER = "3000000000000000114"
TEXT_ONLY = "3000000000000000115"
TEXT_NEGATED = "3000000000000000116"
AMOUNT_ORDER = "3000000000000000117"
AMOUNT_REFUND = "3000000000000000118"
AMOUNT_NO_MATCH = "3000000000000000119"
AMOUNT_NOT_DELIVERED = "3000000000000000120"
AMOUNT_EXPLAINED = "3000000000000000121"
MIXED_RETURNED = "3000000000000000122"
MIXED_PARTIAL = "3000000000000000123"
AFTERSALE_RESHIP = "3000000000000000124"
AMOUNT_WHOLE_LINE = "3000000000000000125"
AMOUNT_RETURNED = "3000000000000000126"
EMPTY_OR_SHORT_PARTIAL = "3000000000000000127"
PARTY_MERCHANT = "3000000000000000128"
CLOSED_NOT_OOS = "3000000000000000129"
CLAIMER = ["3000000000000000130", "3000000000000000131", "3000000000000000132"]
TWICE = ["3000000000000000133", "3000000000000000134"]
SHORT_SPACED = "3000000000000000135"
CLEAN = "3000000000000000136"
AMOUNT_PAID_SHARE = "3000000000000000137"
TEXT_NEGATED_CLAUSE = "3000000000000000138"
OOS_TWO_LINES = "3000000000000000139"
TEXT_NAMES_SKU = "3000000000000000140"
TEXT_AT_CHECKOUT = "3000000000000000141"

CAR = ("玩具车", "10.00", 3, "CAR")
BEAR3 = ("小熊", "8.00", 3, "BEAR")
BLOCK = ("积木", "12.00", 1, "BLOCK")


def build() -> Shop:
    s = Shop()
    s.order(SHORT_LEGACY, CAR)
    s.refund(SHORT_LEGACY, "9000000000000000101", "10.00", "少件/漏发", sku="CAR", desc="只收到两个")
    s.order(SHORT_ERP, CAR)
    s.refund(SHORT_ERP, "9000000000000000102", "10.00", "少件.漏发", status="买家已经申请退款，等待卖家同意")
    s.order(SHORT_SPACED, CAR)
    s.refund(SHORT_SPACED, "9000000000000000135", "10.00", " 少件 / 漏发 ", status="买家已经申请退款，等待卖家同意")
    s.order(WRONG, ("水枪", "20.00", 2, "GUN"))
    s.refund(WRONG, "9000000000000000103", "20.00", "卖家发错货", need_return="是", sku="GUN")
    s.order(EMPTY, ("A", "15.00", 1, "A"), ("B", "5.00", 2, "B"))
    s.refund(EMPTY, "9000000000000000104", "25.00", "空包裹")
    s.order(NOT_RECEIVED, ("熊", "30.00", 1, "BEARX"), status="shipped")
    s.refund(NOT_RECEIVED, "9000000000000000105", "30.00", "未收到货", goods_status="买家未收到货",
             status="买家已经申请退款，等待卖家同意")
    s.order(NOT_RECEIVED_BUT_RECEIVED, ("熊", "30.00", 1, "BEARX"), status="shipped")
    s.refund(NOT_RECEIVED_BUT_RECEIVED, "9000000000000000106", "30.00", "未收到货", goods_status="买家已收到货",
             status="买家已经申请退款，等待卖家同意")
    s.order(NO_FAULT_REASON, CAR)
    s.refund(NO_FAULT_REASON, "9000000000000000107", "10.00", "七天无理由退换货", need_return="是")
    s.order(OOS_REFUND, ("电池", "12.00", 1, "BAT"), status="closed", close_reason="买家申请退款")
    s.refund(OOS_REFUND, "9000000000000000108", "12.00", "缺货", goods_status="未发货")
    s.order(CLOSED_OOS, ("电池", "12.00", 1, "BAT"), status="closed", close_reason="卖家缺货")
    s.order(CLOSED_NOT_OOS, ("电池", "12.00", 1, "BAT"), status="closed", close_reason="买家不想买了")
    s.order(PAID_PAST_DEADLINE, ("电池", "12.00", 2, "BAT"), status="paid")
    s.order(PAID_BEFORE_DEADLINE, ("电池", "12.00", 2, "BAT"), status="paid", paid_at="2017-06-18 08:00:00")
    s.order(CS_FOR_SELLER, CAR)
    s.refund(CS_FOR_SELLER, "9000000000000000112", "10.00", "少件/漏发", status="卖家拒绝退款", cs="支持卖家")
    s.order(CS_FOR_BUYER, CAR)
    s.refund(CS_FOR_BUYER, "9000000000000000113", "10.00", "少件/漏发", status="买家已经申请退款，等待卖家同意",
             cs="支持买家")
    s.order(PARTY_COURIER, ("A", "15.00", 1, "A"))
    s.refund(PARTY_COURIER, "9000000000000000114", "15.00", "空包裹", party="快递")
    s.order(PARTY_MERCHANT, CAR)
    s.refund(PARTY_MERCHANT, "9000000000000000128", "10.00", "少件/漏发", status="退款关闭", party="卖家")
    s.order(TEXT_ONLY, BEAR3, memo="'客户说少发了一个，麻烦处理")
    s.order(TEXT_AT_CHECKOUT, BEAR3, message="少发了一个要赔哦")
    s.order(TEXT_NEGATED, BEAR3, message="亲，不要少发哦，谢谢")
    s.order(AMOUNT_ORDER, BEAR3, BLOCK, refund="8.00")
    s.order(AMOUNT_REFUND, BEAR3, BLOCK)
    s.refund(AMOUNT_REFUND, "9000000000000000118", "8.00", "协商一致退款")
    s.order(AMOUNT_NO_MATCH, BEAR3, BLOCK, refund="5.55")
    s.order(AMOUNT_NOT_DELIVERED, BEAR3, BLOCK, status="paid", paid_at="2017-06-19 08:00:00")
    s.refund(AMOUNT_NOT_DELIVERED, "9000000000000000120", "8.00", "协商一致退款", goods_status="未收到货")
    s.order(AMOUNT_EXPLAINED, BEAR3, BLOCK)
    s.refund(AMOUNT_EXPLAINED, "9000000000000000121", "8.00", "质量问题")
    s.order(AMOUNT_RETURNED, BEAR3, BLOCK)
    s.refund(AMOUNT_RETURNED, "9000000000000000126", "8.00", "其他", need_return="是")
    s.order(AMOUNT_WHOLE_LINE, BEAR3, BLOCK)
    s.refund(AMOUNT_WHOLE_LINE, "9000000000000000125", "12.00", "其他")
    s.order(MIXED_RETURNED, ("水枪", "20.00", 2, "GUN"))
    s.refund(MIXED_RETURNED, "9000000000000000122", "20.00", "商品错发.漏发", need_return="是")
    s.order(MIXED_PARTIAL, BEAR3)
    s.refund(MIXED_PARTIAL, "9000000000000000123", "8.00", "商品错发/漏发", need_return="否")
    s.order(EMPTY_OR_SHORT_PARTIAL, BEAR3, BLOCK)
    s.refund(EMPTY_OR_SHORT_PARTIAL, "9000000000000000127", "8.00", "空包裹/少货")
    s.order(AFTERSALE_RESHIP, CAR)
    s.refund(AFTERSALE_RESHIP, "9000000000000000124", "0.00", "其他", aftersale="补寄", sku="CAR",
             status="卖家已经同意退款，等待买家退货")
    for i, oid in enumerate(CLAIMER):
        s.order(oid, CAR, buyer="claimer")
        s.refund(oid, f"91000000000000001{i}", "10.00", "少件/漏发", status="退款关闭")
    for i, oid in enumerate(TWICE):
        s.order(oid, CAR, buyer="twice")
        s.refund(oid, f"92000000000000001{i}", "10.00", "少件/漏发", status="退款关闭")
    s.order(CLEAN, CAR, BLOCK)
    # paid 40.00 for 50.00 listed: line 1 paid 24.00 (8.00 a unit), line 2 paid 16.00
    s.order(AMOUNT_PAID_SHARE, ("玩具车", "10.00", 3, "CAR"), ("水枪", "20.00", 1, "GUN"), discount="10.00")
    s.refund(AMOUNT_PAID_SHARE, "9000000000000000137", "8.00", "协商一致退款")
    s.order(TEXT_NEGATED_CLAUSE, BEAR3, message="尽快发货，别少发漏发，谢谢")
    s.order(OOS_TWO_LINES, ("电池", "12.00", 2, "BAT"), ("灯", "5.00", 1, "LAMP"), status="closed",
            close_reason="退款")
    s.refund(OOS_TWO_LINES, "9000000000000000139", "24.00", "缺货", sku="BAT", goods_status="未发货")
    s.refund(OOS_TWO_LINES, "9000000000000001139", "5.00", "缺货", sku="LAMP", goods_status="未发货")
    s.order(TEXT_NAMES_SKU, CAR, BLOCK, memo="'CAR少发2个，已联系买家")
    return s


@pytest.fixture(scope="module")
def flags(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refund_signals")
    con = db.connect(folder / "flag.duckdb")
    try:
        build().load(con, folder / "exports")
        rows = flag_rows(con)
        reviews = {r[0]: r for r in con.execute("select buyer, claims, orders, review from buyer_reviews").fetchall()}
        runs = con.execute("select count(*) from runs").fetchone()[0]
    finally:
        con.close()
    return rows, reviews, runs


@pytest.fixture(scope="module")
def f(flags):
    return flags[0]


# ---- refund reason ---------------------------------------------------------------------------

def test_legacy_short_reason_refunded_by_shop(f):
    r = f[SHORT_LEGACY]
    assert (r["kind"], r["responsibility"]) == ("short", "merchant")
    assert "refund_reason" in r["rules"] and "shop_refunded" in r["rules"]
    assert r["missing_qty"] == 1 and r["affected_amount"] == D("10.00")
    assert r["refunded_amount"] == D("10.00")
    assert r["line_no"] == 1 and r["sku"] == "CAR"
    assert "少件/漏发" in r["evidence"] and "玩具车" in r["evidence"] and "只收到两个" in r["evidence"]
    assert r["basis"] == "explicit" and r["complaint"] is True
    assert r["refund_ids"] == ["9000000000000000101"]
    assert r["ship_by"].strftime("%Y-%m-%d %H:%M") == "2017-06-04 10:00"


def test_erp_dot_spelling_and_spaces_match_the_same_reason(f):
    for oid in (SHORT_ERP, SHORT_SPACED):
        r = f[oid]
        assert r["kind"] == "short"
        assert r["responsibility"] == "undetermined"  # requested, not refunded: the buyer's word only
        assert r["refunded_amount"] == D("0.00")


def test_wrong_item_refunded_with_return_is_merchant(f):
    r = f[WRONG]
    assert (r["kind"], r["responsibility"]) == ("wrong", "merchant")
    assert r["missing_qty"] == 1 and r["affected_amount"] == D("20.00")


def test_empty_parcel_concerns_all_goods(f):
    r = f[EMPTY]
    assert (r["kind"], r["responsibility"]) == ("empty", "merchant")
    assert r["affected_amount"] == D("25.00") and r["missing_qty"] == 3


def test_not_received_with_goods_not_received_is_courier(f):
    r = f[NOT_RECEIVED]
    assert (r["kind"], r["responsibility"]) == ("not_received", "courier")
    assert "courier_not_received" in r["rules"] and "goods_not_received" in r["rules"]
    assert r["affected_amount"] == D("30.00")


def test_not_received_but_goods_received_is_not_the_courier(f):
    r = f[NOT_RECEIVED_BUT_RECEIVED]
    assert (r["kind"], r["responsibility"]) == ("not_received", "undetermined")
    assert "goods_not_received" not in r["rules"]


def test_reason_outside_the_policy_lists_does_not_fire(f):
    assert NO_FAULT_REASON not in f
    assert CLEAN not in f


def test_out_of_stock_refund_is_unshipped(f):
    r = f[OOS_REFUND]
    assert (r["kind"], r["responsibility"]) == ("unshipped", "merchant")
    assert r["affected_amount"] == D("12.00")


# ---- unshipped -------------------------------------------------------------------------------

def test_closed_as_out_of_stock(f):
    r = f[CLOSED_OOS]
    assert (r["kind"], r["responsibility"]) == ("unshipped", "merchant")
    assert r["rules"] == ["closed_out_of_stock", "order_status"]
    assert "卖家缺货" in r["evidence"]
    assert CLOSED_NOT_OOS not in f


def test_paid_not_shipped_past_deadline(f):
    r = f[PAID_PAST_DEADLINE]
    assert (r["kind"], r["responsibility"]) == ("unshipped", "merchant")
    assert "unshipped_deadline" in r["rules"]
    assert r["missing_qty"] == 2 and r["affected_amount"] == D("24.00")
    assert "2017-06-04 10:00" in r["evidence"]


def test_paid_not_shipped_deadline_still_ahead_is_not_flagged(f):
    assert PAID_BEFORE_DEADLINE not in f


# ---- rulings ---------------------------------------------------------------------------------

def test_cs_for_seller_makes_the_buyer_responsible(f):
    r = f[CS_FOR_SELLER]
    assert (r["kind"], r["responsibility"]) == ("short", "buyer")
    assert "cs_ruling" in r["rules"] and "支持卖家" in r["evidence"]


def test_cs_for_buyer_makes_the_merchant_responsible(f):
    r = f[CS_FOR_BUYER]
    assert (r["kind"], r["responsibility"]) == ("short", "merchant")
    assert "cs_ruling" in r["rules"]


def test_responsible_party_column_wins(f):
    r = f[PARTY_COURIER]  # refunded by the shop, but 责任方 says the courier
    assert (r["kind"], r["responsibility"]) == ("empty", "courier")
    assert "ruling_party" in r["rules"] and "shop_refunded" not in r["rules"]
    r = f[PARTY_MERCHANT]
    assert (r["kind"], r["responsibility"]) == ("short", "merchant")
    assert "ruling_party" in r["rules"]


# ---- words -----------------------------------------------------------------------------------

def test_text_only_is_undetermined(f):
    r = f[TEXT_ONLY]
    assert (r["kind"], r["responsibility"]) == ("short", "undetermined")
    assert r["rules"] == ["text_words"] and r["basis"] == "text"
    assert "少发了一个" in r["evidence"]
    assert r["missing_qty"] == 1 and r["affected_amount"] == D("8.00")
    assert r["confidence"] < 0.5


def test_negated_words_do_not_fire(f):
    assert TEXT_NEGATED not in f


def test_a_checkout_message_never_reports_on_its_own_parcel(f):
    assert TEXT_AT_CHECKOUT not in f  # 买家留言 is written before the parcel exists


# ---- refund amount ---------------------------------------------------------------------------

def test_order_refund_of_one_unit_of_a_three_unit_line(f):
    r = f[AMOUNT_ORDER]
    assert (r["kind"], r["responsibility"]) == ("short", "undetermined")
    assert r["rules"] == ["refund_amount"] and r["basis"] == "amount"
    assert r["missing_qty"] == 1 and r["line_no"] == 1 and r["affected_amount"] == D("8.00")
    assert "小熊" in r["evidence"] and "8.00 × 3" in r["evidence"]
    assert r["refunded_amount"] == D("8.00")


def test_refund_row_of_one_unit_with_a_neutral_reason(f):
    r = f[AMOUNT_REFUND]
    assert r["kind"] == "short" and r["rules"] == ["refund_amount"] and r["missing_qty"] == 1
    assert r["responsibility"] == "undetermined"


def test_refund_equal_to_one_whole_line_of_several(f):
    r = f[AMOUNT_WHOLE_LINE]
    assert r["kind"] == "short" and r["line_no"] == 2 and r["missing_qty"] == 1
    assert r["affected_amount"] == D("12.00")


@pytest.mark.parametrize("oid", [AMOUNT_NO_MATCH, AMOUNT_NOT_DELIVERED, AMOUNT_EXPLAINED, AMOUNT_RETURNED])
def test_amount_signal_does_not_fire(f, oid):
    assert oid not in f


# ---- reasons of two kinds, after-sales type --------------------------------------------------

def test_wrong_or_missing_reason_split_by_the_return(f):
    assert f[MIXED_RETURNED]["kind"] == "wrong"
    r = f[MIXED_PARTIAL]
    assert r["kind"] == "short" and r["missing_qty"] == 1
    assert {"refund_reason", "refund_amount"} <= set(r["rules"])


def test_empty_or_short_reason_on_part_of_the_order_is_short(f):
    r = f[EMPTY_OR_SHORT_PARTIAL]
    assert r["kind"] == "short" and r["missing_qty"] == 1 and r["affected_amount"] == D("8.00")


def test_aftersale_reship_request_is_a_short_claim(f):
    r = f[AFTERSALE_RESHIP]
    assert r["kind"] == "short" and "aftersale_reship" in r["rules"]
    assert "补寄" in r["evidence"] and r["responsibility"] == "undetermined"
    assert r["line_no"] == 1 and r["missing_qty"] == 1 and r["affected_amount"] == D("10.00")


# ---- buyers ----------------------------------------------------------------------------------

def test_buyer_with_many_short_claims_is_reviewed(flags):
    _, reviews, _ = flags
    assert reviews["claimer"][1:] == (3, 3, True)
    assert reviews["twice"][1:] == (2, 2, False)


def test_one_row_per_order_and_no_run_row_from_the_library(flags):
    rows, _, runs = flags
    assert len(rows) == len(set(rows))
    assert runs == 0  # the standalone CLI records its run; `shortship run` records its own
    for r in rows.values():
        assert 0 <= r["confidence"] <= 1
        assert r["run_id"] == "test-run"
        assert r["evidence"]


def test_refund_of_one_unit_at_the_paid_share(f):
    r = f[AMOUNT_PAID_SHARE]
    assert r["kind"] == "short" and r["line_no"] == 1 and r["missing_qty"] == 1
    assert r["affected_amount"] == D("8.00") and "paid share 8.00" in r["evidence"]


def test_negation_covers_the_clause(f):
    assert TEXT_NEGATED_CLAUSE not in f


def test_out_of_stock_refunds_per_line_add_up(f):
    r = f[OOS_TWO_LINES]
    assert (r["kind"], r["responsibility"]) == ("unshipped", "merchant")
    assert r["missing_qty"] == 3 and r["affected_amount"] == D("29.00")
    assert r["refunded_amount"] == D("29.00")
    assert sorted(r["refund_ids"]) == ["9000000000000000139", "9000000000000001139"]


def test_text_naming_a_sku_values_that_line(f):
    r = f[TEXT_NAMES_SKU]
    assert (r["kind"], r["responsibility"], r["basis"]) == ("short", "undetermined", "text")
    assert r["line_no"] == 1 and r["missing_qty"] == 2 and r["affected_amount"] == D("20.00")
    assert r["complaint"] is False  # the seller's own memo is not the buyer complaining


# ---- the refund fits kept ----------------------------------------------------------------------

def test_refund_fit_keeps_every_row_its_readers_use(tmp_path):
    """sql/flags/refund_fit.sql keeps only the tries a later step can read (exact, named, or the
    order's only line): refund_line and refund_amount give the same rows from it as from every
    try, while the scratch table holds fewer rows."""
    with signals_built(build(), tmp_path) as (con, params):
        kept = con.execute("select count(*) from fl_refund_fit").fetchone()[0]
        every = db.model_sql("flags/refund_fit.sql")
        assert every.rstrip().endswith("select * from final")
        every = every.rstrip()[: -len("final")] + "fitted"
        con.execute("create temp table _fit_kept as select * from fl_refund_fit")
        con.execute(f"create temp table _fit_every as {every}", db.bound(every, params))
        tried = con.execute("select count(*) from _fit_every").fetchone()[0]
        assert 0 < kept < tried  # the fixture has tries the file drops
        got = {}
        for variant in ("_fit_kept", "_fit_every"):
            con.execute(f"create or replace temp table fl_refund_fit as select * from {variant}")
            for model in ("flags/refund_line.sql", "signals/refund_amount.sql"):
                sql = db.model_sql(model)
                got[(variant, model)] = sorted(
                    map(repr, con.execute(sql, db.bound(sql, params)).fetchall()))
        for model in ("flags/refund_line.sql", "signals/refund_amount.sql"):
            assert got[("_fit_kept", model)] == got[("_fit_every", model)], model
            assert got[("_fit_kept", model)], model  # the fixture gives both steps rows
