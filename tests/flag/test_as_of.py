"""The run's clock (issue 14): no step reads data from after the as-of, and only what can still be
cured is curable ("re-ship now")."""
from datetime import datetime
from pathlib import Path

import pytest

from pipeline import db
from pipeline.liabilities import compute_liabilities
from pipeline.policy import load_policy
from pipeline.run import run_pipeline
from tests.flag.builders import Shop
from tests.flag.conftest import flag_rows

ROOT = Path(__file__).resolve().parents[2]
CAR = ("玩具车", "10.00", 3, "CAR")

SHORT_OPEN = "3000000000000000401"        # shipments: 2 of 3, deadline ahead -> curable
SHORT_CLOSED = "3000000000000000402"      # the same, the order closed since -> owed
SHORT_REFUNDED = "3000000000000000403"    # the same, refunded whole -> owed
PAID_LATER = "3000000000000000404"        # paid after the as-of, closed 缺货 -> unseen
REFUND_LATER = "3000000000000000405"      # a 少件/漏发 refund applied after the as-of -> unseen
FINISHED_LATER = "3000000000000000406"    # refund applied before, refunded after the as-of
OOS_FINISHED_LATER = "3000000000000000407"  # closed 缺货 by a refund finished after the as-of

AS_OF = datetime(2017, 6, 18, 20, 0)


def build() -> Shop:
    s = Shop()
    shipped_car = CAR + ("shipped",)  # the line as shipped, whatever became of the order
    for oid, kw in ((SHORT_OPEN, {}), (SHORT_CLOSED, {"status": "closed", "close_reason": "其他"}),
                    (SHORT_REFUNDED, {"refund": "30.00"})):
        s.order(oid, shipped_car, status=kw.pop("status", "shipped"), paid_at="2017-06-18 10:00:00", **kw)
        s.ship(oid, "CAR", 2, "2017-06-18 12:00:00")
    s.order(PAID_LATER, CAR, status="closed", close_reason="卖家缺货", paid_at="2017-06-19 09:00:00")
    s.order(REFUND_LATER, CAR)
    s.refund(REFUND_LATER, "9000000000000000405", "10.00", "少件/漏发", applied="2017-06-19 09:00:00")
    s.order(FINISHED_LATER, CAR)
    s.refund(FINISHED_LATER, "9000000000000000406", "10.00", "少件/漏发", applied="2017-06-18 09:00:00",
             finished="2017-06-19 10:00:00")
    s.order(OOS_FINISHED_LATER, CAR, status="closed", close_reason="卖家缺货", paid_at="2017-06-17 10:00:00")
    s.refund(OOS_FINISHED_LATER, "9000000000000000407", "30.00", "缺货", goods_status="未发货",
             applied="2017-06-18 09:00:00", finished="2017-06-19 10:00:00")
    return s


@pytest.fixture(scope="module")
def clocked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("as_of")
    con = db.connect(folder / "flag.duckdb")
    try:
        build().load(con, folder / "exports")
        flags = flag_rows(con, as_of=AS_OF)
        compute_liabilities(con, AS_OF, load_policy("tmall"), "t")
        status = dict(con.execute("select order_id, status from liabilities").fetchall())
    finally:
        con.close()
    return flags, status


def test_curable_only_while_the_order_can_be_re_shipped(clocked):
    flags, status = clocked
    assert status[SHORT_OPEN] == "curable"
    assert status[SHORT_CLOSED] == "owed"      # a closed order ships nothing more
    assert status[SHORT_REFUNDED] == "owed"    # refunded whole: nothing left to re-ship


def test_an_order_paid_after_the_as_of_does_not_exist_yet(clocked):
    flags, _ = clocked
    assert PAID_LATER not in flags


def test_refunds_applied_after_the_as_of_are_unseen(clocked):
    flags, _ = clocked
    assert REFUND_LATER not in flags


def test_a_refund_finished_after_the_as_of_was_still_open(clocked):
    flags, _ = clocked
    r = flags[FINISHED_LATER]  # 退款成功 at export, but not yet at the as-of: not the shop refunding
    assert r["responsibility"] == "undetermined" and "shop_refunded" not in r["rules"]
    assert r["refunded_amount"] == 0
    r = flags[OOS_FINISHED_LATER]  # closed by that refund only later: not "closed as out of stock" yet
    assert "closed_out_of_stock" not in r["rules"] and r["kind"] == "unshipped"


def test_the_sample_run_before_an_order_was_paid(tmp_path):
    """The issue's case: with --as-of 2017-05-20, order 20314376765564886 (paid 2017-05-24,
    closed 卖家缺货) was offered as "re-ship now"; no flag, liability or summary row may read an
    order paid after the run's clock."""
    sample = ROOT / "data" / "sample"
    if not (sample / "truth.parquet").exists():
        pytest.skip("data/sample not generated")
    run_pipeline([sample], tmp_path / "s.duckdb", tmp_path / "out", as_of="2017-05-20", create=True)
    con = db.connect(tmp_path / "s.duckdb", read_only=True)
    try:
        assert con.execute("select count(*) from flags where order_id = '20314376765564886'").fetchone()[0] == 0
        assert con.execute("select count(*) from flags where paid_at > '2017-05-20'").fetchone()[0] == 0
        assert con.execute(
            "select count(*) from liabilities l join orders o using (order_id) where o.paid_at > '2017-05-20'"
        ).fetchone()[0] == 0
        seen = con.execute("select count(*) from orders where coalesce(paid_at, created_at) <= '2017-05-20'").fetchone()[0]
        summed = con.execute(
            f"select sum(orders) from read_parquet('{tmp_path / 'out' / 'summary.parquet'}')").fetchone()[0]
        assert summed == seen < con.execute("select count(*) from orders").fetchone()[0]
    finally:
        con.close()
