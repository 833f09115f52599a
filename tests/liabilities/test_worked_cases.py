"""The worked cases of issue 5 (tmall unless said). Flags are inserted directly, as detection
would write them; affected amounts come from the `line_amounts` view where the case is about
the base. Times: paid 2024-03-08 08:00, 72-hour promise, so the deadline is 2024-03-11 08:00."""
from __future__ import annotations

import codecs
import csv
import io

from pipeline.load import load_paths

from .helpers import D, PAID, WINDOW, add_flag, add_order, affected_from_view, hours, ledger, liability, run, set_flag


def test_case_01_one_of_three_units_missing_admitted(con, tmall):
    """3 units at 99.00 paid, 1 missing, shop admitted, not re-shipped: 29.70 yuan, 2,970 points."""
    add_order(con, "1", [("99.00", 3, "297.00")])
    affected = affected_from_view(con, "1", 1, 1)
    assert affected == D("99.00")
    add_flag(con, "1", kind="short", missing_qty=1, affected=affected)
    summary, lines = run(con, tmall)
    r = liability(con, "1")
    assert r["status"] == "owed"
    assert r["base_amount"] == D("99.00")
    assert r["compensation_yuan"] == D("29.70")
    assert r["points"] == 2970
    assert (r["floor_applied"], r["cap_applied"]) == (False, False)
    assert r["deadline"] == PAID + WINDOW
    assert r["policy"] == "tmall-2023" and r["platform"] == "tmall" and r["payout_form"] == "points"
    assert r["goods_refund_yuan"] == D("99.00")  # the missing unit's value is still owed
    assert r["freight_yuan"] == D("0.00")  # nothing re-shipped: the goods are refunded instead
    assert r["total_yuan"] == D("128.70")
    assert [(p.order_id, p.points, p.yuan, p.reason) for p in lines] == [("1", 2970, D("29.70"), "new")]
    assert summary.by_status["owed"] == 1 and summary.owed_points == 2970


def test_case_02_floor(con, tmall):
    """One unit at 10.00 missing: 3.00 raised to the floor 5.00, 500 points."""
    add_order(con, "2", [("10.00", 1, None)])
    add_flag(con, "2", missing_qty=1, affected=affected_from_view(con, "2", 1, 1))
    _, lines = run(con, tmall)
    r = liability(con, "2")
    assert r["base_amount"] == D("10.00")
    assert r["compensation_yuan"] == D("5.00") and r["points"] == 500
    assert r["floor_applied"] is True and r["cap_applied"] is False
    assert [(p.points, p.yuan) for p in lines] == [(500, D("5.00"))]


def test_case_03_cap(con, tmall):
    """2 units at 2,000.00, one missing: 600.00 capped to 500.00, 50,000 points."""
    add_order(con, "3", [("2000.00", 2, None)])
    add_flag(con, "3", missing_qty=1, affected=affected_from_view(con, "3", 1, 1))
    run(con, tmall)
    r = liability(con, "3")
    assert r["base_amount"] == D("2000.00")
    assert r["compensation_yuan"] == D("500.00") and r["points"] == 50000
    assert r["cap_applied"] is True and r["floor_applied"] is False


def test_case_04_reshipped_within_window_is_cured(con, tmall):
    """Re-shipped 71 hours after payment under a 72-hour window: cured, nothing owed."""
    add_flag(con, "4", affected="99.00", reshipped_at=hours(71))
    summary, lines = run(con, tmall)
    r = liability(con, "4")
    assert r["status"] == "cured"
    assert r["compensation_yuan"] == D("0.00") and r["points"] == 0
    assert r["goods_refund_yuan"] == D("0.00")  # the buyer got the goods
    assert r["freight_yuan"] == D("8.00")  # the shop bore the re-shipment parcel
    assert lines == [] and ledger(con) == []
    assert summary.owed_yuan == D("0.00")


def test_case_05_reshipped_after_window_is_owed(con, tmall):
    """Re-shipped 73 hours after payment: owed."""
    add_flag(con, "5", affected="99.00", reshipped_at=hours(73))
    _, lines = run(con, tmall)
    r = liability(con, "5")
    assert r["status"] == "owed"
    assert r["compensation_yuan"] == D("29.70") and r["points"] == 2970
    assert r["goods_refund_yuan"] == D("0.00")  # re-shipped, late
    assert r["freight_yuan"] == D("8.00")
    assert r["total_yuan"] == D("37.70")
    assert [p.reason for p in lines] == ["new"]


def test_case_05a_curable_then_owed(con, tmall):
    """2 of 3 units shipped, no re-shipment: curable at 30 h (deadline 72 h, nothing paid), owed at 80 h."""
    add_order(con, "5a", [("99.00", 3, "297.00")])
    add_flag(con, "5a", missing_qty=1, affected=affected_from_view(con, "5a", 1, 1))
    summary, lines = run(con, tmall, as_of=hours(30), run_id="r30")
    r = liability(con, "5a")
    assert r["status"] == "curable"
    assert r["deadline"] == hours(72)
    assert r["compensation_yuan"] == D("0.00") and r["points"] == 0
    assert r["at_risk_yuan"] == D("29.70")  # what re-shipping by the deadline saves
    assert lines == [] and ledger(con) == []
    assert summary.by_status["curable"] == 1

    summary, lines = run(con, tmall, as_of=hours(80), run_id="r80")
    r = liability(con, "5a")
    assert r["status"] == "owed"
    assert r["compensation_yuan"] == D("29.70") and r["points"] == 2970 and r["at_risk_yuan"] == D("0.00")
    assert [(p.reason, p.points, p.run_id) for p in lines] == [("new", 2970, "r80")]


def test_case_06_lost_in_transit_is_courier(con, tmall):
    """Lost in transit before sign-for: courier, no penalty, goods value owed and recoverable."""
    add_order(con, "6", [("99.00", 3, "297.00")])
    add_flag(con, "6", kind="not_received", responsibility="courier", missing_qty=3, affected="297.00")
    _, lines = run(con, tmall)
    r = liability(con, "6")
    assert r["status"] == "courier"
    assert r["compensation_yuan"] == D("0.00") and r["points"] == 0
    assert r["goods_refund_yuan"] == D("297.00")
    assert r["recoverable_yuan"] == D("297.00")
    assert r["freight_yuan"] == D("0.00")  # not the shop's fault
    assert r["total_yuan"] == D("297.00")
    assert lines == []


def test_case_07_single_line_paid_includes_postage(con, tmall):
    """Single-line order of 108.00 paid including 8.00 postage, wrong item: base 100.00, 3,000 points."""
    add_order(con, "7", [("100.00", 1, "108.00")], postage="8.00", paid="108.00")
    assert con.execute("select line_paid from line_amounts where order_id = '7'").fetchone()[0] == D("100.00")
    add_flag(con, "7", kind="wrong", missing_qty=1, affected=affected_from_view(con, "7", 1, 1))
    run(con, tmall)
    r = liability(con, "7")
    assert r["base_amount"] == D("100.00")
    assert r["compensation_yuan"] == D("30.00") and r["points"] == 3000
    assert r["freight_yuan"] == D("8.00")  # the wrong item's return parcel


def _write_legacy(path, header, rows, trailing_comma=False):
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    text = buf.getvalue()
    if trailing_comma:  # legacy item rows end with a bare comma, the header does not
        head, *body = text.splitlines()
        text = "\n".join([head] + [line + "," for line in body]) + "\n"
    path.write_bytes(codecs.encode(text, "gbk"))


def test_case_08_legacy_paid_is_net_of_refunds(con, tmall, tmp_path):
    """Legacy order with 实付 75.38 and 退款金额 132.62: lines allocated from 208.00."""
    orders = tmp_path / "ExportOrderList202403150900.csv"
    items = tmp_path / "ExportOrderDetailList202403150900.csv"
    _write_legacy(
        orders,
        ["订单编号", "买家会员名", "买家应付货款", "买家应付邮费", "总金额", "买家实际支付金额", "订单状态",
         "订单付款时间 ", "宝贝总数量", "店铺名称", "退款金额"],
        [['="35153131473293579"', "buyer8", "227.00", "0.00", "208.00", "75.38", "交易成功",
          "2024-03-08 08:00:00", "2", "玩具批发店", "132.62"]],
    )
    _write_legacy(
        items,
        ["订单编号", "标题", "价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", "备注", "订单状态", "商家编码"],
        [['="35153131473293579"', "小熊玩偶", "99.00", "1", "", "颜色分类：小号", "", "", "交易成功", "BEAR"],
         ['="35153131473293579"', "积木", "128.00", "1", "", "", "", "", "交易成功", "BLOCK"]],
        trailing_comma=True,
    )
    load_paths(con, [orders, items])
    oid = "35153131473293579"
    assert con.execute("select paid_amount, refund_amount, paid_gross from orders where order_id = ?", [oid]).fetchone() == (
        D("75.38"), D("132.62"), D("208.00"))
    rows = con.execute(
        "select line_no, line_paid, paid_source from line_amounts where order_id = ? order by line_no", [oid]
    ).fetchall()
    assert sum(r[1] for r in rows) == D("208.00")
    assert rows == [(1, D("90.71"), "order_split"), (2, D("117.29"), "order_split")]
    # the 积木 never arrived in the parcel: its paid share is the base
    add_flag(con, oid, missing_qty=1, affected=affected_from_view(con, oid, 2, 1), buyer="buyer8")
    run(con, tmall)
    r = liability(con, oid)
    assert r["base_amount"] == D("117.29")
    assert r["compensation_yuan"] == D("35.19") and r["points"] == 3519  # 35.187 rounded half up


def test_case_09_same_run_twice_writes_nothing(con, tmall):
    """The same run twice: the second writes no payout lines."""
    add_flag(con, "9", affected="99.00")
    add_flag(con, "9b", affected="2000.00", buyer="b2")
    _, first = run(con, tmall, run_id="a")
    assert len(first) == 2
    before = ledger(con)
    _, second = run(con, tmall, run_id="b")
    assert second == []
    assert ledger(con) == before


def test_case_10_ruled_for_the_shop_reverses(con, tmall):
    """A later export shows customer service ruled for the shop (buyer at fault): a reversal."""
    add_flag(con, "10", affected="99.00")
    _, lines = run(con, tmall, run_id="a")
    assert [(p.reason, p.points, p.yuan) for p in lines] == [("new", 2970, D("29.70"))]
    set_flag(con, "10", responsibility="buyer")  # what the next detection run writes
    _, lines = run(con, tmall, run_id="b")
    assert liability(con, "10")["status"] == "excluded"
    assert [(p.reason, p.points, p.yuan, p.run_id) for p in lines] == [("reversal", -2970, D("-29.70"), "b")]
    held = con.execute("select sum(points), sum(yuan) from payouts where order_id = '10'").fetchone()
    assert held == (0, D("0.00"))
    assert [p["reason"] for p in ledger(con, "10")] == ["new", "reversal"]  # the first line is kept


def test_case_11_one_cap_per_order_over_two_lines(con, tmall):
    """Two flagged lines in one order worth 1,200.00 and 900.00: one cap of 500.00 for the order."""
    add_order(con, "11", [("1200.00", 1, "1200.00"), ("900.00", 1, "900.00")])
    affected = affected_from_view(con, "11", 1, 1) + affected_from_view(con, "11", 2, 1)
    assert affected == D("2100.00")
    add_flag(con, "11", kind="short", missing_qty=2, affected=affected)
    _, lines = run(con, tmall)
    r = liability(con, "11")
    assert r["base_amount"] == D("2100.00")
    assert r["compensation_yuan"] == D("500.00") and r["points"] == 50000 and r["cap_applied"] is True
    assert [(p.points, p.yuan) for p in lines] == [(50000, D("500.00"))]


def test_case_12_taobao_preset(con, taobao):
    """Taobao on case 1: 29.70 yuan as a red packet; on case 3: capped at 100.00."""
    add_order(con, "1", [("99.00", 3, "297.00")])
    add_flag(con, "1", missing_qty=1, affected=affected_from_view(con, "1", 1, 1))
    add_order(con, "3", [("2000.00", 2, None)], buyer="b3")
    add_flag(con, "3", missing_qty=1, affected=affected_from_view(con, "3", 1, 1), buyer="b3")
    summary, lines = run(con, taobao)
    r1, r3 = liability(con, "1"), liability(con, "3")
    assert (r1["compensation_yuan"], r1["payout_form"], r1["policy"], r1["platform"]) == (
        D("29.70"), "red_packet", "taobao-2024", "taobao")
    assert r1["points"] == 0  # a red packet is paid in yuan
    assert r3["compensation_yuan"] == D("100.00") and r3["cap_applied"] is True
    assert sorted((p.order_id, p.yuan, p.points, p.payout_form) for p in lines) == [
        ("1", D("29.70"), 0, "red_packet"), ("3", D("100.00"), 0, "red_packet")]
    assert summary.owed_yuan == D("129.70")
