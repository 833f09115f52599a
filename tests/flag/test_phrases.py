"""What memos, messages and refund descriptions say (issue 14): counts read from the words,
make-ups traced to the order that was short, and the phrases that are no shortage.

One shop, loaded once; each order id names its case. Paid 2017-06-01 10:00 unless said
otherwise (ship-by 2017-06-04 10:00 with the 72-hour window); as of 2017-06-20.
"""
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from pipeline import db
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

GIFT_AND_ONE = "3000000000000000301"        # 送2个礼品  补发一个小熊公仔
TWO_ITEMS = "3000000000000000302"           # 补发 CAR一个 小熊两个
CARDS = "3000000000000000303"               # 补发2版5号电池
UNNAMED = "3000000000000000304"             # 补发两个 (one line)
NO_COUNT = "3000000000000000305"            # 补发小熊公仔
EACH = "3000000000000000306"                # 音乐小吉他 拉线车 各补发一
RECEIVED = "3000000000000000307"            # 客户说只收到一个 (4 ordered)
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


def build() -> Shop:
    s = Shop()
    s.order(GIFT_AND_ONE, BEAR, CAR, memo="' 送2个礼品  补发一个小熊公仔")
    s.order(TWO_ITEMS, BEAR, CAR, memo="'补发 CAR一个 小熊两个")
    s.order(CARDS, BATTERY, CAR, memo="'补发2版5号电池")
    s.order(UNNAMED, BEAR, memo="'补发两个")
    s.order(NO_COUNT, BEAR, CAR, memo="'补发小熊公仔")
    s.order(EACH, GUITAR, PULL, BEAR, memo="'音乐小吉他 拉线车 各补发一")
    s.order(RECEIVED, BEAR, memo="'客户说只收到一个")
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
    finally:
        con.close()
    return flags, notes, paid


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
