"""Statuses, money rules, scopes and presets beyond the worked cases."""
from __future__ import annotations

from datetime import timedelta

from pipeline.policy import load_policy

from .helpers import D, PAID, add_flag, add_order, hours, liability, policy_file, run, tmall_text


def test_statuses(con, tmall):
    add_flag(con, "owed", affected="99.00")
    add_flag(con, "cured", affected="99.00", reshipped_at=hours(72))  # at the deadline itself: in time
    add_flag(con, "disputed", responsibility="undetermined", affected="99.00")
    add_flag(con, "buyer", responsibility="buyer", affected="99.00")
    add_flag(con, "courier", kind="not_received", responsibility="courier", affected="99.00")
    add_flag(con, "odd", kind="not_a_kind", affected="99.00")
    add_flag(con, "no_order", affected="99.00", order=False)  # merchant at fault, but no order row
    add_flag(con, "no_paid", affected="99.00", paid_at=None)  # merchant at fault, the deadline unknown
    summary, lines = run(con, tmall)
    got = dict(con.execute("select order_id, status from liabilities").fetchall())
    assert got == {"owed": "owed", "cured": "cured", "disputed": "disputed", "buyer": "excluded",
                   "courier": "courier", "odd": "excluded", "no_order": "awaiting_data", "no_paid": "awaiting_data"}
    assert summary.by_status == {"owed": 1, "curable": 0, "cured": 1, "courier": 1, "disputed": 1, "excluded": 2,
                                 "awaiting_data": 2}
    assert dict(con.execute("select order_id, hold from liabilities where hold is not null").fetchall()) == {
        "no_order": "order_not_loaded", "no_paid": "no_paid_time"}
    assert [p.order_id for p in lines] == ["owed"]
    for oid in ("no_order", "no_paid"):
        assert liability(con, oid)["base_amount"] is None  # the base cannot be computed honestly
    for oid in ("disputed", "buyer", "odd", "no_order", "no_paid"):
        r = liability(con, oid)
        assert (r["compensation_yuan"], r["points"], r["goods_refund_yuan"], r["freight_yuan"], r["total_yuan"]) == (
            D("0.00"), 0, D("0.00"), D("0.00"), D("0.00"))


def test_column_types(con, tmall):
    add_flag(con, "o", affected="99.00")
    run(con, tmall)
    types = dict(con.execute(
        "select column_name, data_type from information_schema.columns where table_name = 'liabilities'").fetchall())
    for c in ("base_amount", "compensation_yuan", "goods_refund_yuan", "freight_yuan", "total_yuan", "at_risk_yuan"):
        assert types[c] == "DECIMAL(18,2)", c
    assert types["points"] == "BIGINT"
    types = dict(con.execute(
        "select column_name, data_type from information_schema.columns where table_name = 'payouts'").fetchall())
    assert (types["yuan"], types["points"], types["payout_id"]) == ("DECIMAL(18,2)", "BIGINT", "BIGINT")


def test_round_half_up_to_the_cent(con, tmall):
    add_flag(con, "h", affected="33.35")  # 0.30 × 33.35 = 10.005
    add_flag(con, "d", affected="33.34", buyer="b2")  # 10.002
    run(con, tmall)
    assert liability(con, "h")["compensation_yuan"] == D("10.01") and liability(con, "h")["points"] == 1001
    assert liability(con, "d")["compensation_yuan"] == D("10.00")


def test_deadline_from_policy_window_when_flag_has_none(con, tmall):
    add_flag(con, "w", affected="99.00", ship_by=None)
    run(con, tmall, as_of=hours(50))
    r = liability(con, "w")
    assert r["deadline"] == PAID + timedelta(hours=72) and r["status"] == "curable"


def test_goods_refund(con, tmall):
    add_flag(con, "part", affected="99.00", refunded="40.00")
    add_flag(con, "over", affected="99.00", refunded="150.00", buyer="b2")
    add_flag(con, "reshipped", affected="99.00", refunded="0.00", reshipped_at=hours(90), buyer="b3")
    run(con, tmall)
    assert liability(con, "part")["goods_refund_yuan"] == D("59.00")
    assert liability(con, "over")["goods_refund_yuan"] == D("0.00")
    assert liability(con, "reshipped")["goods_refund_yuan"] == D("0.00")


def test_freight(con, tmall, tmp_path):
    add_flag(con, "wrong", kind="wrong", affected="99.00", reshipped_at=hours(90))  # return + re-ship
    add_flag(con, "curable", kind="short", affected="99.00", buyer="b2", paid_at=hours(90))  # re-ship due
    add_flag(con, "late", kind="unshipped", affected="99.00", reshipped_at=hours(80), buyer="b3")
    run(con, tmall, as_of=hours(100))
    assert liability(con, "wrong")["freight_yuan"] == D("16.00")
    assert liability(con, "wrong")["total_yuan"] == D("29.70") + D("16.00")
    assert liability(con, "curable")["freight_yuan"] == D("8.00")
    assert liability(con, "late")["freight_yuan"] == D("0.00")  # its first parcel is ordinary postage
    buyer_pays = load_policy(policy_file(tmp_path, tmall_text(shop_bears="shop_bears = false")))
    run(con, buyer_pays, as_of=hours(100), run_id="r2")
    assert liability(con, "wrong")["freight_yuan"] == D("0.00")


def test_reship_does_not_cure_when_policy_says_so(con, tmp_path):
    pol = load_policy(policy_file(tmp_path, tmall_text(reship_cures="reship_cures = false")))
    add_flag(con, "a", affected="99.00", reshipped_at=hours(10))
    add_flag(con, "b", affected="99.00", buyer="b2")
    run(con, pol, as_of=hours(30))
    assert liability(con, "a")["status"] == "owed"
    assert liability(con, "b")["status"] == "owed"  # nothing to cure: owed at once


def test_base_scope_order(con, tmp_path):
    pol = load_policy(policy_file(tmp_path, tmall_text(base_scope='base_scope = "order"')))
    add_order(con, "o", [("99.00", 3, None), ("50.00", 1, None)], postage="10.00")
    add_flag(con, "o", affected="99.00")
    run(con, pol)
    r = liability(con, "o")
    assert r["base_amount"] == D("347.00")  # the order's goods paid, postage excluded
    assert r["compensation_yuan"] == D("104.10")


def test_whole_order_kind_without_affected_amount_uses_order_goods(con, tmall):
    add_order(con, "u", [("20.00", 2, None)], postage="6.00")
    add_flag(con, "u", kind="unshipped", missing_qty=2, affected=None)
    run(con, tmall)
    assert liability(con, "u")["base_amount"] == D("40.00")
    assert liability(con, "u")["compensation_yuan"] == D("12.00")


def test_buyer_24h_cap(con, tmp_path):
    pol = load_policy(policy_file(tmp_path, tmall_text(cap_scope='cap_scope = "buyer_24h"', payout_form='payout_form = "red_packet"')))
    # buyer b: A at 0 h and B at 10 h share one window; C at 30 h opens a new one
    add_flag(con, "A", affected="1000.00", buyer="b", paid_at=hours(0))
    add_flag(con, "B", affected="1000.00", buyer="b", paid_at=hours(10))
    add_flag(con, "B2", affected="10.00", buyer="b", paid_at=hours(23))  # window already used up
    add_flag(con, "C", affected="1000.00", buyer="b", paid_at=hours(30))
    add_flag(con, "D", affected="300.00", buyer="b", paid_at=hours(40))  # inside C's window
    add_flag(con, "other", affected="1000.00", buyer="z", paid_at=hours(5))
    add_flag(con, "cured", affected="5000.00", buyer="b", paid_at=hours(1), reshipped_at=hours(2))  # not owed
    run(con, pol, as_of=hours(200))
    got = {r[0]: r[1:] for r in con.execute(
        "select order_id, compensation_yuan, cap_applied, floor_applied from liabilities").fetchall()}
    assert got["A"] == (D("300.00"), False, False)
    assert got["B"] == (D("200.00"), True, False)
    assert got["B2"] == (D("0.00"), True, True)
    assert got["C"] == (D("300.00"), False, False)
    assert got["D"] == (D("90.00"), False, False)  # 500 − 300 left in C's window
    assert got["other"] == (D("300.00"), False, False)
    assert got["cured"][0] == D("0.00")
    total_b = con.execute(
        "select sum(yuan) from payouts where order_id in ('A', 'B', 'B2')").fetchone()[0]
    assert total_b == D("500.00")


def test_jd_item_cap_and_beans(con, jd):
    add_flag(con, "one", missing_qty=1, affected="2000.00")  # 600 → 500 for one item
    add_flag(con, "two", missing_qty=2, affected="4000.00", buyer="b2")  # 1,200 → 1,000 for two items
    add_flag(con, "small", missing_qty=1, affected="10.00", buyer="b3")  # no floor: 3.00
    _, lines = run(con, jd)
    r = {o: liability(con, o) for o in ("one", "two", "small")}
    assert (r["one"]["compensation_yuan"], r["one"]["points"], r["one"]["cap_applied"]) == (D("500.00"), 50000, True)
    assert (r["two"]["compensation_yuan"], r["two"]["points"]) == (D("1000.00"), 100000)
    assert (r["small"]["compensation_yuan"], r["small"]["floor_applied"]) == (D("3.00"), False)
    assert {p.payout_form for p in lines} == {"beans"}
    assert r["one"]["platform"] == "jd" and r["one"]["policy"] == "jd-2024"


def test_taobao_late_shipment_rule(con, taobao):
    add_flag(con, "big", kind="unshipped", missing_qty=1, affected="1000.00", reshipped_at=hours(100))  # 50 → 30
    add_flag(con, "small", kind="unshipped", missing_qty=1, affected="20.00", buyer="b2")  # 1 → 5
    add_flag(con, "mid", kind="unshipped", missing_qty=1, affected="300.00", buyer="b3")  # 15
    add_flag(con, "short", kind="short", missing_qty=1, affected="300.00", buyer="b4")  # 90 at 30 %
    run(con, taobao, as_of=hours(120))
    got = {r[0]: r[1:] for r in con.execute(
        "select order_id, compensation_yuan, floor_applied, cap_applied, payout_form from liabilities").fetchall()}
    assert got["big"] == (D("30.00"), False, True, "red_packet")
    assert got["small"] == (D("5.00"), True, False, "red_packet")
    assert got["mid"] == (D("15.00"), False, False, "red_packet")
    assert got["short"] == (D("90.00"), False, False, "red_packet")


def test_policy_numbers_are_not_in_the_sql(tmp_path):
    """Every number comes from the policy: a changed file changes the result."""
    import re
    from pathlib import Path

    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted(
        (Path(__file__).resolve().parents[2] / "sql" / "liabilities").glob("*.sql")))
    body = re.sub(r"--[^\n]*", "", sql)
    for number in ("0.30", "0.3", "500", "5.00", "100", "72", "8.00"):
        assert not re.search(rf"(?<![\w.]){re.escape(number)}(?![\w.])", body), number


def test_duplicate_flag_rows_are_refused(con, tmall):
    import pytest

    from pipeline.errors import ShortshipError

    add_flag(con, "dup", affected="99.00")
    add_flag(con, "dup", affected="99.00")
    with pytest.raises(ShortshipError, match="flags holds 2 rows for order dup"):
        run(con, tmall)
    assert con.execute("select count(*) from payouts").fetchone()[0] == 0
