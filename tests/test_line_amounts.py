"""The line_amounts view: what was actually paid for each line, postage excluded."""
from decimal import Decimal


def add_order(con, order_id, paid, postage=Decimal("0"), refund=None, gross=None):
    con.execute(
        "insert into orders (order_id, paid_amount, refund_amount, paid_gross, postage, load_id, source_file, line) "
        "values (?, ?, ?, ?, ?, 0, 't', 1)",
        [order_id, paid, refund, gross if gross is not None else paid, postage],
    )


def add_line(con, order_id, line_no, price, qty, paid=None):
    con.execute(
        "insert into order_lines (order_id, line_no, price, quantity, paid_amount, load_id, source_file, line) "
        "values (?, ?, ?, ?, ?, 0, 't', 1)",
        [order_id, line_no, price, qty, paid],
    )


def paid(con, order_id):
    return [r[0] for r in con.execute(
        "select line_paid from line_amounts where order_id = ? order by line_no", [order_id]).fetchall()]


def test_split_in_proportion_with_cents_to_the_largest_lines(con):
    add_order(con, "1", Decimal("100.00"))
    for i in range(3):
        add_line(con, "1", i + 1, Decimal("10.00"), 1)
    assert paid(con, "1") == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    add_order(con, "2", Decimal("95.00"), postage=Decimal("5.00"))
    add_line(con, "2", 1, Decimal("30.00"), 2)   # weight 60
    add_line(con, "2", 2, Decimal("40.00"), 1)   # weight 40
    assert paid(con, "2") == [Decimal("54.00"), Decimal("36.00")]


def test_own_line_paid_amount_wins_and_single_line_postage_is_removed(con):
    add_order(con, "3", Decimal("108.00"), postage=Decimal("8.00"))
    add_line(con, "3", 1, Decimal("120.00"), 1, paid=Decimal("108.00"))
    assert paid(con, "3") == [Decimal("100.00")]


def test_lines_without_own_amount_split_what_is_left(con):
    add_order(con, "4", Decimal("100.00"))
    add_line(con, "4", 1, Decimal("50.00"), 1, paid=Decimal("40.00"))
    add_line(con, "4", 2, Decimal("30.00"), 1)
    add_line(con, "4", 3, Decimal("30.00"), 1)
    assert paid(con, "4") == [Decimal("40.00"), Decimal("30.00"), Decimal("30.00")]


def test_legacy_net_paid_is_grossed_up_before_the_split(con):
    add_order(con, "5", Decimal("75.38"), refund=Decimal("132.62"), gross=Decimal("208.00"))
    add_line(con, "5", 1, Decimal("100.00"), 1)
    add_line(con, "5", 2, Decimal("127.00"), 1)
    assert sum(paid(con, "5")) == Decimal("208.00")


def test_lines_without_an_order_use_the_listed_price(con):
    add_line(con, "6", 1, Decimal("2.50"), 4)
    assert paid(con, "6") == [Decimal("10.00")]
