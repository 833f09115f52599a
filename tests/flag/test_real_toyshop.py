"""The real toy-shop exports (shared/real): amounts and words that the detection must find.

Checked by hand (2017 legacy layout, all orders 交易成功, no refund export, so the order's
退款金额 is the refund):
- 18643981250261300: one line 1.65 × 20, paid 31.80, 退款金额 1.59 = the paid share of one
  unit (31.80 / 20): one unit missing.
- 15228522762403700: nine lines, 退款金额 0.99 = line 1 (0.99 × 1) exactly: one whole line.
- 15583029864039600: fourteen lines, 退款金额 3.90 = line 10 (3.90 × 1) exactly.
- 20961510578522100: 退款金额 1.69 = its one closed line (交易关闭, 1.69 × 1).
- 13436751393648000 is NOT one: its 6.90 equals one unit of line 8 (6.90 × 2), but the order
  also has a line closed (refunded whole, 7.80 listed, 6.65 paid share) and the whole refund is
  that line's; nothing is left for line 8.
Memos and messages: 21269390271231200 订单备注 '6608补发一个', 21385360876390000 买家留言
'掌柜，记得补3个球', 20661662456619600 '补发两个狗'.
"""
from datetime import datetime
from pathlib import Path

import pytest

from pipeline import db
from pipeline.flag import flag_orders
from pipeline.load import load_paths
from pipeline.policy import load_policy

REAL = Path(__file__).resolve().parents[3] / "shared" / "real"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    if not (REAL / "toyshop_2017_orders.csv").exists():
        pytest.skip("shared/real not available")
    con = db.connect(tmp_path_factory.mktemp("toy") / "toy.duckdb")
    try:
        load_paths(con, [REAL / "toyshop_2017_orders.csv", REAL / "toyshop_2017_items.csv"])
        flag_orders(con, datetime(2017, 7, 1), load_policy("tmall"), "toy")
        cur = con.execute("select * from flags")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}
    finally:
        con.close()


def test_amount_signal_finds_the_hand_checked_refunds(toy):
    amount = {k for k, r in toy.items() if "refund_amount" in r["rules"]}
    assert {"18643981250261300", "15228522762403700", "15583029864039600", "20961510578522100"} <= amount
    r = toy["18643981250261300"]
    assert r["kind"] == "short" and r["missing_qty"] == 1 and str(r["affected_amount"]) == "1.59"
    assert "1.65 × 20" in r["evidence"] and "创意发光极速弹射陀螺" in r["evidence"]
    r = toy["15228522762403700"]
    assert r["line_no"] == 1 and "0.99 × 1" in r["evidence"] and "传统套圈圈玩具" in r["evidence"]
    assert "13436751393648000" not in amount
    assert 6 <= len(amount) <= 12


def test_memos_and_messages_about_missing_goods_are_evidence(toy):
    for oid, quote in (("21269390271231200", "6608补发一个"), ("21385360876390000", "记得补3个球"),
                       ("20661662456619600", "补发两个狗")):
        r = toy[oid]
        assert r["kind"] == "short" and r["responsibility"] == "undetermined" and quote in r["evidence"]
    # a buyer's warning is not a complaint: 别少发漏发 / 不要发错或少发
    assert "18216049704225900" not in toy and "17043200158203600" not in toy


def test_nothing_on_the_toyshop_is_blamed_on_anyone(toy):
    # no refund export, no shipments file: amounts and words alone never decide responsibility
    assert {r["responsibility"] for r in toy.values()} == {"undetermined"}
    assert {r["kind"] for r in toy.values()} == {"short"}
