"""Rows that do not add up are data problems, never evidence for money (SPEC section 8, issue
20): each problem of sql/outputs/data_problems.sql raises no signal (no units, no amount, no
responsibility from it), is listed, and sends its order to review (responsibility undetermined,
liability disputed, hold data_problem, the problem in the evidence of review.csv) until a person
decides; the ledger neither pays nor reverses the order meanwhile.

(The refund of 9,999,999.99 on an order of 39.40, through a whole run: tests/test_bad_inputs.py.)
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline import db
from pipeline.flag import flag_orders
from pipeline.liabilities import append_ledger, compute_liabilities
from pipeline.load import load_paths
from pipeline.policy import load_policy
from pipeline.setdata import review_queue
from tests.flag.builders import Shop

D = Decimal
AS_OF = datetime(2017, 6, 20)
CAR = ("玩具车", "10.00", 3, "CAR")
BEAR = ("小熊", "40.00", 2, "BEAR")

NOT_ON_ORDER = "3000000000000000701"   # a 少件 refund naming SKU NOPE on an order of CAR only
ON_ORDER = "3000000000000000702"       # the same naming CAR: owed (the control)
SUMMED = "3000000000000000703"         # two 少件 refunds of 50 and 40 on 80 paid: each fine, together not
UNITS = "3000000000000000704"          # a requested 少件 refund (undetermined); a decision of 5 missing of 3
LINE_PAID = "3000000000000000705"      # a 少件 refund naming sub-order A (paid 10.00) of 30.00
LINE_OK = "3000000000000000706"        # a 少件 refund naming sub-order B (paid 50.00) of 50.00 (control)

ORDERS_H = "订单编号,买家会员名,买家应付货款,买家应付邮费,总金额,买家实际支付金额,订单状态,订单创建时间,订单付款时间,宝贝总数量\n"
ITEMS_NEW_H = "主订单编号,子订单编号,商品标题,商品价格,购买数量,商家编码,订单状态,买家实付金额\n"
REFUNDS_LINE_H = "订单编号,退款编号,子订单编号,买家退款金额,退款状态,货物状态,买家退款原因,退款的申请时间,退款完结时间\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def run_steps(con, paths, run_id, as_of=AS_OF):
    pol = load_policy("tmall")
    load_paths(con, paths)
    flag_orders(con, as_of, pol, run_id)
    compute_liabilities(con, as_of, pol, run_id)
    return append_ledger(con, run_id, pol)


def rows(con, sql, params=None) -> dict[str, dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    base = tmp_path_factory.mktemp("problems")
    s = Shop()
    s.order(NOT_ON_ORDER, CAR)
    s.refund(NOT_ON_ORDER, "9000000000000000701", "10.00", "少件/漏发", sku="NOPE")
    s.order(ON_ORDER, CAR)
    s.refund(ON_ORDER, "9000000000000000702", "10.00", "少件/漏发", sku="CAR")
    s.order(SUMMED, BEAR)
    s.refund(SUMMED, "9000000000000000703", "50.00", "少件/漏发", sku="BEAR")
    s.refund(SUMMED, "9000000000000000713", "40.00", "少件/漏发", sku="BEAR")
    s.order(UNITS, CAR)
    s.refund(UNITS, "9000000000000000704", "10.00", "少件/漏发", status="买家已经申请退款，等待卖家同意", sku="CAR")
    paths = s.write(base / "shop")
    # the current layouts: the item export's per-line paid amount and sub-order ids, a refund naming a sub-order
    paths += [
        write(base / "lines", "ExportOrderList201706190000.csv", ORDERS_H + "".join(
            f"{o},b9,60.00,0.00,60.00,60.00,交易成功,2017-06-01 10:00:00,2017-06-01 10:00:00,2\n"
            for o in (LINE_PAID, LINE_OK))),
        write(base / "lines", "ExportOrderDetailList201706190000.csv", ITEMS_NEW_H + "".join(
            f"{o},{o}1,积木,10.00,1,BLOCK,交易成功,10.00\n{o},{o}2,小熊,50.00,1,BEAR,交易成功,50.00\n"
            for o in (LINE_PAID, LINE_OK))),
        write(base / "lines", "ExportRefundList201706190000.csv", REFUNDS_LINE_H
              + f"{LINE_PAID},9000000000000000705,{LINE_PAID}1,30.00,退款成功,买家已收到货,少件/漏发,"
                "2017-06-06 09:00:00,2017-06-07 12:00:00\n"
              + f"{LINE_OK},9000000000000000706,{LINE_OK}2,50.00,退款成功,买家已收到货,少件/漏发,"
                "2017-06-06 09:00:00,2017-06-07 12:00:00\n"),
        write(base / "decisions", "review201706190000.csv", f"order_id,decision,missing_qty\n{UNITS},merchant,5\n"),
    ]
    con = db.connect(base / "p.duckdb")
    state = {"base": base, "con": con}
    try:
        state["lines"] = run_steps(con, paths, "run1")
        state["problems"] = rows(con, f"select order_id, * from ({db.model_sql('outputs/data_problems.sql')})")
        state["flags"] = rows(con, "select * from flags")
        state["liabilities"] = rows(con, "select * from liabilities")
        state["review"] = {r["order_id"]: r for r in review_queue(con, "en").to_pylist()}
        yield state
    finally:
        con.close()


@pytest.mark.parametrize("order_id, problem", [
    (NOT_ON_ORDER, "refund_line_not_on_order"),
    (SUMMED, "refunds_exceed_paid"),
    (UNITS, "decision_units_exceed_ordered"),
    (LINE_PAID, "refund_exceeds_line_paid"),
])
def test_a_row_that_does_not_add_up_is_listed_and_sends_its_order_to_review(problems, order_id, problem):
    assert problems["problems"][order_id]["problem"] == problem
    f, li = problems["flags"][order_id], problems["liabilities"][order_id]
    assert (f["responsibility"], f["hold"], f["decision"]) == ("undetermined", "data_problem", None)
    assert "data_problem" in f["rules"] and f["evidence"].startswith(f"data problem ({problem})")
    assert (li["status"], li["hold"], li["total_yuan"], li["compensation_yuan"]) == (
        "disputed", "data_problem", D("0.00"), D("0.00"))
    assert order_id in problems["review"] and problem in problems["review"][order_id]["evidence"]
    assert order_id not in {p.order_id for p in problems["lines"]}


def test_a_refund_that_does_not_add_up_carries_no_units_amount_or_responsibility(problems):
    """The refunds held back raise only the data_problem rule: the shop's 退款成功 is not read as
    an admission, their amounts value nothing."""
    for oid in (NOT_ON_ORDER, SUMMED, LINE_PAID):
        f = problems["flags"][oid]
        assert f["rules"] == ["data_problem"] and f["missing_qty"] is None and f["affected_amount"] is None
        assert f["refunded_amount"] == D("0.00") and f["basis"] == "problem"
    assert "9000000000000000703" in problems["flags"][SUMMED]["evidence"]
    assert "9000000000000000713" in problems["flags"][SUMMED]["evidence"]


def test_rows_that_add_up_are_paid_as_before(problems):
    assert {p.order_id: p.yuan for p in problems["lines"]} == {ON_ORDER: D("5.00"), LINE_OK: D("15.00")}
    for oid in (ON_ORDER, LINE_OK):
        assert problems["flags"][oid]["hold"] is None and oid not in problems["problems"]


def test_a_decision_that_does_not_add_up_is_not_applied_and_a_newer_one_is(problems):
    """5 missing of 3 ordered decides nothing (the decision stays, not rejected, the order stays
    in review); a newer decision of 1 missing settles the order: owed, paid."""
    con = problems["con"]
    assert "decision merchant gives 5 unit(s) missing, more than the 3 ordered" in problems["flags"][UNITS]["evidence"]
    assert con.execute("select count(*) from decisions where order_id = ?", [UNITS]).fetchone()[0] == 1
    assert con.execute("select count(*) from rejects").fetchone()[0] == 0
    newer = write(problems["base"] / "decisions2", "review201706210000.csv",
                  f"order_id,decision,missing_qty\n{UNITS},merchant,1\n")
    lines = run_steps(con, [newer], "run2", as_of=datetime(2017, 6, 21))
    f = rows(con, "select * from flags where order_id = ?", [UNITS])[UNITS]
    assert (f["responsibility"], f["decision"], f["hold"], f["missing_qty"]) == ("merchant", "merchant", None, 1)
    assert [(p.order_id, p.yuan) for p in lines] == [(UNITS, D("5.00"))]


def test_an_owed_order_with_a_new_refund_that_does_not_add_up_is_held_not_reversed(tmp_path):
    """Owed and paid on the shop's own shipping record; a refund of 9,999,999.99 arrives: the
    order goes to review and the ledger keeps what it paid (the row is not evidence either
    way); a decision settles it: merchant, nothing new; no_fault, a reversal."""
    s = Shop()
    s.order(ON_ORDER, CAR)
    s.ship(ON_ORDER, "CAR", 2, "2017-06-01 18:00:00")
    con = db.connect(tmp_path / "h.duckdb")
    try:
        lines = run_steps(con, s.write(tmp_path / "a"), "run1")
        assert [(p.order_id, p.yuan) for p in lines] == [(ON_ORDER, D("5.00"))]
        huge = write(tmp_path / "b", "ExportRefundList201706200000.csv",
                     "订单编号,退款编号,买家退款金额,退款状态,货物状态,买家退款原因,退款的申请时间\n"
                     f'{ON_ORDER},9000000000000000799,"9,999,999.99",退款成功,买家已收到货,少件/漏发,2017-06-06 09:00:00\n')
        assert run_steps(con, [huge], "run2") == []
        li = rows(con, "select * from liabilities")[ON_ORDER]
        assert (li["status"], li["hold"]) == ("disputed", "data_problem")
        f = rows(con, "select * from flags")[ON_ORDER]
        assert "ship_shortfall" in f["rules"] and "data_problem" in f["rules"]  # the record still shows
        assert "the data alone: merchant" in f["evidence"]
        assert run_steps(con, [write(tmp_path / "c", "review201706200100.csv",
                                     f"order_id,decision\n{ON_ORDER},merchant\n")], "run3") == []
        assert rows(con, "select * from liabilities")[ON_ORDER]["status"] == "owed"
        lines = run_steps(con, [write(tmp_path / "d", "review201706200200.csv",
                                      f"order_id,decision\n{ON_ORDER},no_fault\n")], "run4")
        assert [(p.order_id, p.yuan, p.reason) for p in lines] == [(ON_ORDER, D("-5.00"), "reversal")]
    finally:
        con.close()
