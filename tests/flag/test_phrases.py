"""What memos, messages and refund descriptions say (issue 14): counts read from the words,
make-ups traced to the order that was short, and the phrases that are no shortage.

One shop, loaded once; each order id names its case. Paid 2017-06-01 10:00 unless said
otherwise (ship-by 2017-06-04 10:00 with the 72-hour window); as of 2017-06-20.
"""
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from pipeline import db
from pipeline.policy import load_policy
from tests.flag.builders import Shop
from tests.flag.conftest import flag_rows

D = Decimal
BEAR = ("小熊公仔", "8.00", 4, "BEAR")
CAR = ("回力玩具车", "10.00", 3, "CAR")
BLOCK = ("益智积木", "12.00", 3, "BLOCK")
BATTERY = ("特价5号电池", "1.00", 10, "AA")
GUITAR = ("音乐小吉他", "6.00", 5, "GTR")
PULL = ("粉色拉线车", "3.00", 5, "PULL")
MIXER = ("惯性工程车", "7.00", 2, "6608GC")
LAMP = ("迷你防滑台灯", "20.00", 3, "LAMP")

GIFT_AND_ONE = "3000000000000000301"        # 送2个礼品  补发一个小熊公仔
TWO_ITEMS = "3000000000000000302"           # 补发 CAR一个 小熊两个
CARDS = "3000000000000000303"               # 补发2版5号电池
UNNAMED = "3000000000000000304"             # 补发两个 (one line)
NO_COUNT = "3000000000000000305"            # 补发小熊公仔
EACH = "3000000000000000306"                # 音乐小吉他 拉线车 各补发一
RECEIVED = "3000000000000000307"            # 客户说只收到一个 (4 ordered)
MEASURE_NAME = "3000000000000000308"        # 台灯补发两个: 台 is a measure word, 台灯 a name
MAKEUP_A, MAKEUP_B = "3000000000000000311", "3000000000000000312"          # 补发1个积木 on B
ASKED_A, ASKED_B = "3000000000000000313", "3000000000000000314"            # 记得补2个小熊 at checkout
LATEST_A1, LATEST_A2, LATEST_B = "3000000000000000315", "3000000000000000316", "3000000000000000317"
UNTRACED = "3000000000000000318"            # 补发一个恐龙模型, never bought
CODE_A, CODE_B = "3000000000000000319", "3000000000000000320"              # 6608补发一个
SHIPPED_A, SHIPPED_B = "3000000000000000321", "3000000000000000322"        # B's parcel in the shipments file
GIFT = "3000000000000000331"                # 赠品漏发了，补发一个
DAMAGE = "3000000000000000332"              # the buyer: 坏的, the seller: 补发一个小熊公仔
CLOSED_LINE = "3000000000000000333"         # 退款金额 = the closed line
PHONE = "3000000000000000334"               # an address and a phone in the memo
CHECKOUT = "3000000000000000335"            # 上次少发了一个，这次仔细点
# issue 22: memos read as the shop writes them
COURIER_A, COURIER_B = "3000000000000000341", "3000000000000000342"        # 补发2个小熊公仔  发申通 on B
COLOUR_A, COLOUR_B = "3000000000000000343", "3000000000000000344"          # 小熊公仔补发一个  都发粉色的吧
EXTRA_A, EXTRA_B = "3000000000000000345", "3000000000000000346"            # 补发一个积木  加3个回力玩具车
PACK_ALONE = "3000000000000000347"          # 补发一个小熊公仔  发申通, no earlier order
ACT_A, ACT_B = "3000000000000000348", "3000000000000000349"                # 补发一个积木 回力玩具车一个, B: CAR only
SWAP = "3000000000000000350"                # 少发一个小熊公仔换成2个回力玩具车
SWAP_NEXT = "3000000000000000351"           # 少发一个小熊公仔，换成2个回力玩具车
SPLIT_A1, SPLIT_A2, SPLIT_B = "3000000000000000352", "3000000000000000353", "3000000000000000354"  # 补发4个积木
REST_A, REST_B = "3000000000000000355", "3000000000000000356"              # 补发5个积木, 3 ordered before
FIT_A, FIT_B = "3000000000000000357", "3000000000000000358"                # 补发三个万向电动工程车
BOTH_A, BOTH_B = "3000000000000000359", "3000000000000000360"              # 补发2个小熊公仔, both hold 小熊
# a make-up is traced among the buyer's latest makeup_lookback_orders earlier orders only
BACK_A, BACK_B, BACK_C = "3000000000000000361", "3000000000000000362", "3000000000000000363"  # 补发一个积木 on C


def build() -> Shop:
    s = Shop()
    s.order(GIFT_AND_ONE, BEAR, CAR, memo="' 送2个礼品  补发一个小熊公仔")
    s.order(TWO_ITEMS, BEAR, CAR, memo="'补发 CAR一个 小熊两个")
    s.order(CARDS, BATTERY, CAR, memo="'补发2版5号电池")
    s.order(UNNAMED, BEAR, memo="'补发两个")
    s.order(NO_COUNT, BEAR, CAR, memo="'补发小熊公仔")
    s.order(EACH, GUITAR, PULL, BEAR, memo="'音乐小吉他 拉线车 各补发一")
    s.order(RECEIVED, BEAR, memo="'客户说只收到一个")
    s.order(MEASURE_NAME, LAMP, CAR, memo="'台灯补发两个")
    # make-ups: the earlier order holds the item, the later order (the same buyer) does not
    s.order(MAKEUP_A, BLOCK, BEAR, buyer="mk1")
    s.order(MAKEUP_B, CAR, buyer="mk1", paid_at="2017-06-08 10:00:00", memo="'补发1个积木")
    s.order(ASKED_A, BEAR, buyer="mk2")
    s.order(ASKED_B, BEAR, CAR, buyer="mk2", paid_at="2017-06-08 10:00:00", message="掌柜，记得补2个小熊")
    s.order(LATEST_A1, BLOCK, buyer="mk3")
    s.order(LATEST_A2, BLOCK, CAR, buyer="mk3", paid_at="2017-06-03 10:00:00")
    s.order(LATEST_B, CAR, buyer="mk3", paid_at="2017-06-10 10:00:00", memo="'积木补发一个")
    s.order(UNTRACED, CAR, buyer="mk4", memo="'补发一个恐龙模型")
    s.order(CODE_A, MIXER, BEAR, buyer="mk5")
    s.order(CODE_B, CAR, buyer="mk5", paid_at="2017-06-09 10:00:00", memo="'6608补发一个")
    s.order(SHIPPED_A, BLOCK, buyer="mk6")
    s.order(SHIPPED_B, CAR, buyer="mk6", paid_at="2017-06-02 09:00:00", memo="'补发两个积木")
    s.ship(SHIPPED_B, "CAR", 1, "2017-06-03 08:00:00")
    # phrases that are no shortage
    s.order(GIFT, BEAR, memo="'赠品漏发了，补发一个")
    s.order(DAMAGE, BEAR, message="上次的小熊有一个是坏的，请补发", memo="'补发一个小熊公仔")
    s.order(CLOSED_LINE, BEAR, ("积木", "5.00", 1, "BLK", "closed"), refund="5.00")
    s.order(PHONE, BEAR, memo="'补发一个小熊公仔  江西省抚州市南丰县盱江花园11栋2单元王美琴13607942067")
    s.order(CHECKOUT, BEAR, message="上次少发了一个，这次仔细点")
    # issue 22: a memo that says how to pack its parcel re-ships for an earlier order, even goods
    # its own order holds; a memo is one act; a swap is no shortage; a make-up larger than a line
    later = dict(paid_at="2017-06-08 10:00:00")
    s.order(COURIER_A, BEAR, buyer="pk1")
    s.order(COURIER_B, BEAR, CAR, buyer="pk1", memo="'补发2个小熊公仔  发申通", **later)
    s.order(COLOUR_A, BEAR, buyer="pk2")
    s.order(COLOUR_B, BEAR, buyer="pk2", memo="'小熊公仔补发一个  都发粉色的吧", **later)
    s.order(EXTRA_A, BLOCK, buyer="pk3")
    s.order(EXTRA_B, BLOCK, CAR, buyer="pk3", memo="'补发一个积木  加3个回力玩具车", **later)
    s.order(PACK_ALONE, BEAR, buyer="pk4", memo="'补发一个小熊公仔  发申通")
    s.order(ACT_A, BLOCK, CAR, buyer="ac1")
    s.order(ACT_B, CAR, buyer="ac1", memo="'补发一个积木 回力玩具车一个", **later)
    s.order(SWAP, BEAR, CAR, memo="'少发一个小熊公仔换成2个回力玩具车")
    s.order(SWAP_NEXT, BEAR, CAR, memo="'少发一个小熊公仔，换成2个回力玩具车")
    s.order(SPLIT_A1, BLOCK, buyer="sp1")
    s.order(SPLIT_A2, ("益智积木", "12.00", 2, "BLOCK"), buyer="sp1", paid_at="2017-06-03 10:00:00")
    s.order(SPLIT_B, CAR, buyer="sp1", memo="'补发4个积木", paid_at="2017-06-10 10:00:00")
    s.order(REST_A, BLOCK, buyer="sp2")
    s.order(REST_B, CAR, buyer="sp2", memo="'补发5个积木", **later)
    s.order(FIT_A, ("挖掘机玩具音乐发光电动车万向工程车", "22.50", 2, "WX2"),
            ("创意电动万向工程车音乐发光儿童玩具", "9.80", 5, "WX5"), buyer="fit")
    s.order(FIT_B, CAR, buyer="fit", memo="'补发三个万向电动工程车", **later)
    s.order(BOTH_A, BEAR, buyer="bt1")
    s.order(BOTH_B, BEAR, buyer="bt1", memo="'补发2个小熊公仔", **later)
    s.order(BACK_A, BLOCK, buyer="lb1")
    s.order(BACK_B, CAR, buyer="lb1", paid_at="2017-06-05 10:00:00")
    s.order(BACK_C, CAR, buyer="lb1", memo="'补发一个积木", **later)
    return s


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phrases")
    con = db.connect(folder / "flag.duckdb")
    try:
        build().load(con, folder / "exports")
        flags = flag_rows(con)
        notes = con.execute("select order_id, rule, related_order_ids, quote, missing_qty from notes").fetchall()
        paid = {(o, n): (p, q) for o, n, p, q in con.execute(
            "select order_id, line_no, line_paid, quantity from line_amounts").fetchall()}
        # the same shop under a policy that traces a make-up to the buyer's latest earlier order only
        one_back = replace(load_policy("tmall"), makeup_lookback_orders=1)
        flags_one_back = flag_rows(con, policy=one_back, run_id="test-run-one-back")
        notes_one_back = con.execute("select order_id, rule, missing_qty from notes").fetchall()
    finally:
        con.close()
    return flags, notes, paid, (flags_one_back, notes_one_back)


@pytest.fixture(scope="module")
def f(shop):
    return shop[0]


def rules_of(shop, oid):
    return {r for o, r, _, _, _ in shop[1] if o == oid}


def share(paid, oid, line, k):
    p, q = paid[(oid, line)]
    return (p * k / q).quantize(D("0.01"), rounding=ROUND_HALF_UP)


# ---- counts read from the words ----------------------------------------------------------------

@pytest.mark.parametrize("oid, units, line", [
    (GIFT_AND_ONE, 1, 1),   # the 2 gifts are not goods of the order
    (TWO_ITEMS, 3, None),   # 1 CAR + 2 小熊: two lines
    (CARDS, 2, 1),          # 2版: two cards; 5号 is the battery's size
    (UNNAMED, 2, 1),        # nothing named, the order's only line
    (EACH, 2, None),        # 各补发一: one of each
    (RECEIVED, 3, 1),       # only one of 4 arrived
    (MEASURE_NAME, 2, 1),   # 台灯 begins with a measure word (一台): a name, not one unit
])
def test_units_are_read_from_the_words(shop, f, oid, units, line):
    r = f[oid]
    assert (r["kind"], r["responsibility"], r["rules"]) == ("short", "undetermined", ["text_words"])
    assert r["missing_qty"] == units
    assert r["line_no"] == line
    if line:
        assert r["affected_amount"] == share(shop[2], oid, line, units)


def test_several_items_value_each_line(shop, f):
    r = f[TWO_ITEMS]
    assert r["affected_amount"] == share(shop[2], TWO_ITEMS, 1, 2) + share(shop[2], TWO_ITEMS, 2, 1)


def test_no_count_no_units(f):
    r = f[NO_COUNT]  # 补发小熊公仔: the line is known, the units are not: left empty, not guessed
    assert r["missing_qty"] is None and r["affected_amount"] is None and r["line_no"] == 1


# ---- make-ups ----------------------------------------------------------------------------------

def test_make_up_flags_the_earlier_order(shop, f):
    assert MAKEUP_B not in f
    r = f[MAKEUP_A]
    assert r["rules"] == ["text_makeup"] and r["kind"] == "short" and r["responsibility"] == "undetermined"
    assert (r["line_no"], r["sku"], r["missing_qty"]) == (1, "BLOCK", 1)
    assert r["affected_amount"] == share(shop[2], MAKEUP_A, 1, 1)
    assert MAKEUP_B in r["evidence"] and "补发1个积木" in r["evidence"]
    # the later order was paid after the earlier one's ship-by: its parcel left later still
    assert r["reshipped_at"] == datetime(2017, 6, 8, 10) and r["reshipped_at"] > r["ship_by"]
    assert (MAKEUP_B, "text_makeup", [MAKEUP_A]) in [(o, ru, rel) for o, ru, rel, _, _ in shop[1]]


def test_a_checkout_request_is_an_earlier_order_even_for_an_item_on_this_one(f):
    assert ASKED_B not in f  # 小熊 is on the later order too: a checkout message cannot be about its parcel
    r = f[ASKED_A]
    assert r["rules"] == ["text_makeup"] and r["missing_qty"] == 2 and r["complaint"] is True


def test_the_latest_earlier_order_holding_the_item(f):
    assert LATEST_A2 in f and LATEST_A1 not in f and LATEST_B not in f
    assert f[LATEST_A2]["line_no"] == 1


def test_a_make_up_no_earlier_order_matches_is_context(shop, f):
    assert UNTRACED not in f
    assert rules_of(shop, UNTRACED) == {"text_other_order"}


def test_a_make_up_named_by_its_code(f):
    r = f[CODE_A]
    assert r["sku"] == "6608GC" and r["missing_qty"] == 1 and CODE_B not in f


def test_the_later_parcel_dates_the_reshipment(f):
    r = f[SHIPPED_A]  # the later order's parcel left 06-03 08:00, before the ship-by 06-04 10:00
    assert r["reshipped_at"] == datetime(2017, 6, 3, 8) and r["missing_qty"] == 2


# ---- memos read as the shop writes them (issue 22) ------------------------------------------------

@pytest.mark.parametrize("later, earlier, line, units", [
    (COURIER_B, COURIER_A, 1, 2),   # 发申通: a courier for this parcel
    (COLOUR_B, COLOUR_A, 1, 1),     # 都发粉色的吧: a colour choice
    (EXTRA_B, EXTRA_A, 1, 1),       # 加3个回力玩具车: extra goods to put in
])
def test_a_packing_instruction_makes_the_memo_a_make_up(shop, f, later, earlier, line, units):
    """Written before this parcel left, the memo cannot report its shortage: what it re-ships was
    missing from the earlier order, although the later order holds the item too."""
    assert later not in f
    r = f[earlier]
    assert r["rules"] == ["text_makeup"] and (r["line_no"], r["missing_qty"]) == (line, units)
    assert later in r["evidence"] and "packing instructions" in r["evidence"]
    assert (later, "text_makeup", [earlier]) in [(o, ru, rel) for o, ru, rel, _, _ in shop[1]]


def test_a_packing_memo_no_earlier_order_matches_is_context(shop, f):
    assert PACK_ALONE not in f
    assert rules_of(shop, PACK_ALONE) == {"text_other_order"}


def test_a_memo_is_one_act(shop, f):
    """补发一个积木 回力玩具车一个 on an order holding only the car: the 积木 is for the earlier order,
    so the car is too (one re-shipment), not a shortage of the later order."""
    assert ACT_B not in f
    r = f[ACT_A]
    assert r["rules"] == ["text_makeup"] and r["missing_qty"] == 2
    assert r["affected_amount"] == share(shop[2], ACT_A, 1, 1) + share(shop[2], ACT_A, 2, 1)
    assert "one make-up" in r["evidence"]
    assert rules_of(shop, ACT_B) == {"text_makeup"}


@pytest.mark.parametrize("oid", [SWAP, SWAP_NEXT])
def test_an_agreed_swap_is_no_shortage(shop, f, oid):
    assert oid not in f
    assert rules_of(shop, oid) == {"text_substitution"}


def test_a_make_up_larger_than_the_line_is_split_over_earlier_orders(shop, f):
    """补发4个积木: the latest earlier order holds 2, the one before it 3: 2 + 2, latest first."""
    assert SPLIT_B not in f
    a2, a1 = f[SPLIT_A2], f[SPLIT_A1]
    assert (a2["missing_qty"], a1["missing_qty"]) == (2, 2)
    assert a2["affected_amount"] == share(shop[2], SPLIT_A2, 1, 2)
    assert SPLIT_A1 in a2["evidence"] and "the make-up gives 4" in a2["evidence"]
    assert (SPLIT_B, "text_makeup", sorted([SPLIT_A1, SPLIT_A2])) in [(o, ru, rel) for o, ru, rel, _, _ in shop[1]]


def test_the_rest_of_a_make_up_no_earlier_line_holds_is_said(shop, f):
    """补发5个积木 against one earlier line of 3: the 3 are missing there, 2 go nowhere (said)."""
    r = f[REST_A]
    assert r["missing_qty"] == 3 and "2 unit(s) no earlier order of the buyer holds" in r["evidence"]
    notes = {(ru, q) for o, ru, _, _, q in shop[1] if o == REST_B}
    assert notes == {("text_makeup", 3), ("text_other_order", 2)}


def test_of_two_lines_alike_the_one_holding_the_units(shop, f):
    """补发三个万向电动工程车: both lines read as the item alike; only the line of 5 can miss 3."""
    r = f[FIT_A]
    assert (r["line_no"], r["sku"], r["missing_qty"]) == (2, "WX5", 3)


def test_undecided_words_flag_this_order_with_both_readings(f):
    """补发2个小熊公仔 with no packing instruction, on an order holding 小熊 like the earlier one: the
    words cannot say which parcel was short; the order is flagged for review and its evidence
    names the other reading."""
    r = f[BOTH_B]
    assert r["rules"] == ["text_words"] and r["responsibility"] == "undetermined" and r["missing_qty"] == 2
    assert f"or a make-up for the buyer's earlier order {BOTH_A}" in r["evidence"]
    assert "the words do not say which parcel was short" in r["evidence"]
    assert BOTH_A not in f


def test_a_make_up_is_traced_among_the_latest_earlier_orders_only(shop, f):
    """补发一个积木 on C: B (the latest earlier order) holds no 积木, A before it does. Traced to A
    under the default look-back; with makeup_lookback_orders = 1 only B is searched: untraced,
    context only, and a split make-up stops at the latest order too."""
    assert f[BACK_A]["rules"] == ["text_makeup"] and BACK_B not in f and BACK_C not in f
    one_back, notes = shop[3]
    assert BACK_A not in one_back and BACK_B not in one_back and BACK_C not in one_back
    assert {ru for o, ru, _ in notes if o == BACK_C} == {"text_other_order"}
    # 补发4个积木: the latest earlier order holds 2; the 2 more are said, not put on the one before
    assert one_back[SPLIT_A2]["missing_qty"] == 2 and SPLIT_A1 not in one_back
    assert {(ru, q) for o, ru, q in notes if o == SPLIT_B} == {("text_makeup", 2), ("text_other_order", 2)}
    # what the look-back does not reach is unchanged
    assert one_back[MAKEUP_A]["missing_qty"] == f[MAKEUP_A]["missing_qty"] == 1


# ---- phrases that are no shortage ------------------------------------------------------------------

@pytest.mark.parametrize("oid, rule", [
    (GIFT, "text_gift"), (DAMAGE, "text_damage"), (CLOSED_LINE, "refund_explained"), (CHECKOUT, "text_checkout"),
])
def test_no_shortage_no_flag(shop, f, oid, rule):
    assert oid not in f
    assert rule in rules_of(shop, oid)


def test_quotes_carry_no_personal_data(shop, f):
    r = f[PHONE]
    assert r["missing_qty"] == 1
    for quoted in [r["evidence"]] + [q for o, _, _, q, _ in shop[1] if o == PHONE]:
        assert "13607942067" not in quoted and "王美琴" not in quoted and "盱江花园" not in quoted
    assert "〔地址〕" in r["evidence"] and "补发一个小熊公仔" in r["evidence"]


# ---- the reading macros ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def macros():
    con = duckdb.connect()
    db.run_script(con, db.read_sql("flags/macros.sql"))
    yield con
    con.close()


@pytest.mark.parametrize("text, n", [("2", 2), ("13", 13), ("一", 1), ("两", 2), ("十", 10), ("十五", 15),
                                     ("二十", 20), ("二十三", 23), ("几", None), ("", None)])
def test_numerals(macros, text, n):
    assert macros.execute("select fl_number(?)", [text]).fetchone()[0] == n


@pytest.mark.parametrize("text, masked", [
    ("王美琴13607942067", "136****2067"),
    ("电话0571-88812345", "0571-****2345"),
    ("订单21385360876390000", "订单21385360876390000"),  # an order id is not a phone number
])
def test_phone_numbers_are_masked(macros, text, masked):
    assert masked in macros.execute("select fl_mask(?)", [text]).fetchone()[0]


def _flags_of(tmp_path, name: str, refunds_reversed: bool) -> dict:
    s = Shop()
    oid = "3000000000000000901"
    s.order(oid, BEAR, CAR, status="completed")
    first = dict(reason="少件/漏发", status="退款成功", desc="少发了一个小熊公仔")
    second = dict(reason="少件/漏发", status="退款成功", desc="少发了两个小熊公仔")
    pairs = [("9000000000000000001", "8.00", first), ("9000000000000000002", "16.00", second)]
    for rid, amount, kw in (reversed(pairs) if refunds_reversed else pairs):
        s.refund(oid, rid, amount, kw.pop("reason"), **kw)
    con = db.connect(tmp_path / f"{name}.duckdb")
    try:
        s.load(con, tmp_path / name)
        return flag_rows(con)
    finally:
        con.close()


def test_evidence_does_not_depend_on_the_order_rows_arrive_in(tmp_path):
    """Two refund descriptions about one line, read at the same place of their texts: the evidence lists them
    in one order whatever order the export (or DuckDB's threads) gave them (a repeated run
    and a Spark task must word a flag alike)."""
    a = _flags_of(tmp_path, "a", refunds_reversed=False)
    b = _flags_of(tmp_path, "b", refunds_reversed=True)
    assert a.keys() == b.keys() and a
    for oid in a:
        for col in ("evidence", "rules", "missing_qty", "affected_amount", "kind", "responsibility"):
            assert a[oid][col] == b[oid][col], (col, a[oid][col], b[oid][col])
