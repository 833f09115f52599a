"""No money from rows we do not have (SPEC section 8, issue 20): a refund, parcel or decision
whose order row is not loaded, a short flag whose order lines are not loaded and a fault whose
cure deadline is unknown (no paid time) owe nothing and pay nothing; they are listed as awaiting
data until the data arrives, and then the normal rules apply, paid once. The ledger neither pays
nor reverses an order while it waits.

The detection scenarios load real-layout exports (tests/flag/builders.py) and run the library's
steps; the ledger cases insert flags directly (tests/liabilities/helpers.py)."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
from click.testing import CliRunner

from pipeline import db
from pipeline.cli import cli
from pipeline.flag import flag_orders
from pipeline.liabilities import append_ledger, compute_liabilities
from pipeline.load import load_paths
from pipeline.setdata import review_queue
from tests.flag.builders import Shop

from .helpers import D, add_flag, add_order, hours, ledger, liability, run, set_flag

AS_OF = datetime(2017, 6, 20)
CAR = ("玩具车", "10.00", 3, "CAR")       # 3 units at 10.00
BEAR = ("小熊", "40.00", 2, "BEAR")       # 2 units at 40.00

SHORT = "3000000000000000601"        # 退款成功 少件/漏发 of one CAR: merchant, owed 5.00 (floor)
BIG = "3000000000000000602"          # 退款成功 少件/漏发 of one BEAR: owed 12.00
ASKED = "3000000000000000603"        # a requested 少件/漏发 refund: undetermined; a decision says merchant
PARCEL = "3000000000000000604"       # the shipments file: 2 of 3 CAR shipped, not re-shipped: owed
QUIET = "3000000000000000605"        # a postage refund (no fault, fits no units): nothing


def shop() -> Shop:
    s = Shop()
    s.order(SHORT, CAR)
    s.refund(SHORT, "9000000000000000601", "10.00", "少件/漏发", sku="CAR")
    s.order(BIG, BEAR)
    s.refund(BIG, "9000000000000000602", "40.00", "少件/漏发", sku="BEAR")
    s.order(ASKED, CAR)
    s.refund(ASKED, "9000000000000000603", "10.00", "少件/漏发", status="买家已经申请退款，等待卖家同意", sku="CAR")
    s.order(PARCEL, CAR)
    s.ship(PARCEL, "CAR", 2, "2017-06-01 18:00:00")
    s.order(QUIET, CAR)
    s.refund(QUIET, "9000000000000000605", "3.00", "退运费", sku="CAR")
    return s


def write_decision(folder: Path, rows: list[tuple[str, str, str]], name: str = "review_filled.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text("order_id,decision,missing_qty\n" + "".join(f"{o},{d},{q}\n" for o, d, q in rows), encoding="utf-8")
    return p


def steps(con, paths, run_id, as_of=AS_OF, policy="tmall"):
    """What a run writes to the database: load, flag, liabilities, ledger. Returns the new lines."""
    from pipeline.policy import load_policy

    pol = load_policy(policy)
    load_paths(con, paths)
    flag_orders(con, as_of, pol, run_id)
    compute_liabilities(con, as_of, pol, run_id)
    return append_ledger(con, run_id, pol)


def table(con, sql):
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def results(con):
    """The results that must not depend on the order the files came in (run ids aside)."""
    flags = table(con, "select * exclude (run_id, as_of) from flags order by order_id")
    liabilities = table(con, "select * exclude (run_id, as_of) from liabilities order by order_id")
    paid = con.execute("select order_id, sum(yuan), sum(points) from payouts group by order_id order by order_id").fetchall()
    return flags, liabilities, paid


def awaiting(con) -> dict[str, str]:
    return dict(con.execute(f"select order_id, waiting_for from ({db.model_sql('outputs/awaiting.sql')})").fetchall())


# --- refunds, parcels and decisions before their orders -----------------------------------

def test_rows_before_their_order_owe_nothing_then_the_order_arrives_and_is_paid_once(tmp_path):
    """Run 1 has the refunds, the shipments file and a decision but no order export: every order
    it names is awaiting data, nothing is owed, the ledger gets nothing, review.csv is empty and
    the decision is kept, not rejected. Run 2 adds the order and item exports: flags,
    liabilities and ledger are those of a fresh run over all the files, paid once; run 3
    changes nothing."""
    full = shop()
    early = Shop(refunds=full.refunds, shipments=full.shipments)  # same rows, no order export
    rows_only = early.write(tmp_path / "early", stamp="201706190000") + [
        write_decision(tmp_path / "early", [(ASKED, "merchant", "")])]
    orders = [p for p in full.write(tmp_path / "late", stamp="201706190000") if "ExportOrder" in p.name]

    con = db.connect(tmp_path / "a.duckdb")
    try:
        lines = steps(con, rows_only, "run1")
        assert lines == [] and ledger(con) == []
        status = dict(con.execute("select order_id, status from liabilities").fetchall())
        assert status == {SHORT: "awaiting_data", BIG: "awaiting_data", ASKED: "awaiting_data"}
        assert con.execute("select sum(total_yuan), sum(points), count(base_amount) from liabilities").fetchone() == (
            D("0.00"), 0, 0)
        assert {r[0] for r in con.execute("select hold from flags").fetchall()} == {"order_not_loaded"}
        # every order a refund, parcel or decision names is listed, flagged or not
        assert awaiting(con) == {SHORT: "order_not_loaded", BIG: "order_not_loaded", ASKED: "order_not_loaded",
                                 PARCEL: "order_not_loaded", QUIET: "order_not_loaded"}
        assert review_queue(con).num_rows == 0
        assert con.execute("select order_id from decisions").fetchall() == [(ASKED,)]  # waits, not rejected
        assert con.execute("select count(*) from rejects").fetchone()[0] == 0

        lines = steps(con, orders, "run2")
        got = results(con)
        assert awaiting(con) == {}
        assert dict(con.execute("select order_id, status from liabilities").fetchall()) == {
            SHORT: "owed", BIG: "owed", ASKED: "owed", PARCEL: "owed"}
        assert con.execute("select decision from flags where order_id = ?", [ASKED]).fetchone() == ("merchant",)
        assert sorted((p.order_id, p.yuan, p.reason) for p in lines) == [
            (SHORT, D("5.00"), "new"), (BIG, D("12.00"), "new"), (ASKED, D("5.00"), "new"), (PARCEL, D("5.00"), "new")]
        assert steps(con, orders, "run3") == []
    finally:
        con.close()

    con = db.connect(tmp_path / "fresh.duckdb")
    try:
        steps(con, rows_only + orders, "fresh")
        assert results(con) == got
    finally:
        con.close()


def test_zero_orders_loaded_pays_nothing(tmp_path):
    """The run measured from outside: every order row rejected (ids mangled by Excel), the
    refunds loaded. Before: 8 orders owed 5.00 each from nothing. Now: 0 owed, 0 paid, 8
    awaiting data, in the printed summary, --json and the report."""
    folder = tmp_path / "in"
    folder.mkdir()
    ids = [f"20170000000000007{i:02d}" for i in range(8)]
    (folder / "ExportOrderList201705040000.csv").write_text(
        "订单编号,买家会员名,买家应付货款,买家应付邮费,总金额,买家实际支付金额,订单状态,订单创建时间,订单付款时间,宝贝总数量\n"
        + "".join(f"2.01700E+18,b{i},39.40,0.00,39.40,39.40,交易成功,2017-05-01 10:00:00,2017-05-01 10:01:00,2\n"
                  for i in range(8)), encoding="utf-8")
    (folder / "ExportRefundList201705040000.csv").write_text(
        "订单编号,退款编号,买家退款金额,退款状态,货物状态,买家退款原因,退款的申请时间,买家实际支付金额\n"
        + "".join(f"{o},9{o[1:]},10.00,退款成功,买家已收到货,少件/漏发,2017-05-03 10:00:00,39.40\n" for o in ids),
        encoding="utf-8")
    dbp, out = tmp_path / "z.duckdb", tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", str(folder), "--db", str(dbp), "--create", "--out", str(out),
                                 "--as-of", "2017-05-10", "--lang", "en", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["orders"] == 0 and s["files"]["rows_rejected"] == 8
    assert s["owed"] == {"orders": 0, "yuan": "0.00", "points": 0} and s["total_yuan"] == "0.00"
    assert s["ledger"]["lines"] == 0 and s["status"]["awaiting_data"] == 8 and s["status"]["owed"] == 0
    assert s["awaiting_data"] == {"orders": 8, "order_not_loaded": 8}
    con = duckdb.connect(str(dbp), read_only=True)
    try:
        assert con.execute("select count(*) from payouts").fetchone()[0] == 0
    finally:
        con.close()
    report = (out / "report.html").read_text(encoding="utf-8")
    section = report.split('<section id="awaiting">', 1)[1].split("</section>", 1)[0]
    assert all(o in section for o in ids) and section.count('data-waiting-for="order_not_loaded"') == 8
    assert 'data-awaiting-orders="8"' in report and 'data-total-yuan="0.00"' in report

    r = CliRunner().invoke(cli, ["run", str(folder), "--db", str(dbp), "--out", str(out), "--as-of", "2017-05-10",
                                 "--lang", "en"])
    assert r.exit_code == 0, r.output + r.stderr
    assert "awaiting data: 8 order(s) (order not loaded 8): nothing owed or paid until it arrives" in r.stdout
    assert "awaiting data 8" in r.stdout  # the status line


# --- order lines, paid time ------------------------------------------------------------

def test_a_shortage_whose_order_lines_are_not_loaded_waits_for_them(tmp_path):
    """A 少件 refund and a re-shipment parcel on orders whose item export is not loaded yet:
    the units cannot be valued (and a parcel cannot be compared with nothing), so nothing is
    owed (the policy floor used to apply to a base of nothing); a complete parcel raises nothing
    but is listed too (it cannot be checked yet); the item export brings the normal result, as a
    fresh run over all the files."""
    s = Shop()
    s.order(SHORT, CAR)
    s.refund(SHORT, "9000000000000000601", "10.00", "少件/漏发", sku="CAR")
    s.order(PARCEL, CAR)
    s.ship(PARCEL, "CAR", 3, "2017-06-01 18:00:00")
    s.ship(PARCEL, "CAR", 1, "2017-06-08 18:00:00", reship=True)
    s.order(QUIET, CAR)
    s.ship(QUIET, "CAR", 3, "2017-06-01 18:00:00")  # complete, but nothing to compare it with yet
    paths = s.write(tmp_path / "x")
    items = [p for p in paths if "ExportOrderDetailList" in p.name]
    rest = [p for p in paths if p not in items]
    con = db.connect(tmp_path / "a.duckdb")
    try:
        assert steps(con, rest, "run1") == []
        rows = {r["order_id"]: r for r in table(con, "select * from liabilities")}
        assert {o: (r["status"], r["hold"], r["total_yuan"]) for o, r in rows.items()} == {
            SHORT: ("awaiting_data", "lines_not_loaded", D("0.00")),
            PARCEL: ("awaiting_data", "lines_not_loaded", D("0.00"))}
        assert awaiting(con) == {SHORT: "lines_not_loaded", PARCEL: "lines_not_loaded", QUIET: "lines_not_loaded"}
        lines = steps(con, items, "run2")
        assert awaiting(con) == {}
        assert sorted((p.order_id, p.yuan) for p in lines) == [(SHORT, D("5.00")), (PARCEL, D("5.00"))]
        got = results(con)
    finally:
        con.close()
    con = db.connect(tmp_path / "fresh.duckdb")
    try:
        steps(con, paths, "fresh")
        assert results(con) == got
    finally:
        con.close()


def test_a_fault_without_a_paid_time_waits_for_it(tmp_path):
    """The shipments file shows 2 of 3 units shipped on an order the export gives no paid time
    for: the shop is at fault, but without the ship-by deadline cured, curable and owed cannot
    be told apart: awaiting data (no_paid_time), nothing owed. The paid time arrives with a
    newer order export: owed."""
    s = Shop()
    o = s.order(PARCEL, CAR, paid_at="")
    s.ship(PARCEL, "CAR", 2, "2017-06-01 18:00:00")
    con = db.connect(tmp_path / "a.duckdb")
    try:
        assert steps(con, s.write(tmp_path / "x", stamp="201706190000"), "run1") == []
        r = liability(con, PARCEL)
        assert (r["status"], r["hold"], r["deadline"], r["total_yuan"]) == ("awaiting_data", "no_paid_time", None,
                                                                          D("0.00"))
        assert awaiting(con) == {PARCEL: "no_paid_time"}
        o.paid_at = "2017-06-01 10:00:00"
        lines = steps(con, [p for p in s.write(tmp_path / "y", stamp="201706200000") if "ExportOrderList" in p.name],
                      "run2")
        assert liability(con, PARCEL)["status"] == "owed" and [(p.order_id, p.reason) for p in lines] == [
            (PARCEL, "new")]
    finally:
        con.close()


# --- the ledger holds --------------------------------------------------------------------

def test_an_owed_order_that_starts_waiting_is_not_reversed(con, tmall):
    """Owed and paid; a newer order export lacks its paid time (the deadline is unknown):
    awaiting data, and the ledger keeps what it paid (no reversal by accident); the paid time
    back, nothing new; a later fault taken away reverses as usual."""
    add_flag(con, "1", affected="99.00")
    _, lines = run(con, tmall, run_id="a")
    assert [(p.reason, p.yuan) for p in lines] == [("new", D("29.70"))]
    con.execute("update orders set paid_at = null where order_id = '1'")
    set_flag(con, "1", paid_at=None, ship_by=None)
    _, lines = run(con, tmall, run_id="b")
    assert liability(con, "1")["status"] == "awaiting_data" and lines == []
    con.execute("update orders set paid_at = ? where order_id = '1'", [hours(0)])
    set_flag(con, "1", paid_at=hours(0), ship_by=hours(72))
    _, lines = run(con, tmall, run_id="c")
    assert liability(con, "1")["status"] == "owed" and lines == []
    set_flag(con, "1", responsibility="buyer")
    _, lines = run(con, tmall, run_id="d")
    assert [(p.reason, p.yuan) for p in lines] == [("reversal", D("-29.70"))]


def test_what_an_earlier_version_paid_without_the_order_is_held_until_it_arrives(con, tmall):
    """Earlier versions paid the 5.00 floor on a refund whose order row was not loaded. Such an
    order is now awaiting data: its payout is neither topped up nor reversed while it waits; when
    the order arrives the normal difference follows, once: here a top-up to what is owed, or a
    reversal for an order that turns out not to be flagged at all."""
    for oid in ("7", "8"):
        con.execute("insert into payouts values (nextval('payout_seq'), 'old', ?, 500, 5.00, 'new', 'tmall-2023', "
                    "?, 'points')", [oid, hours(1)])
    add_flag(con, "7", affected="99.00", order=False)
    _, lines = run(con, tmall, run_id="a")
    assert lines == [] and liability(con, "7")["status"] == "awaiting_data"  # "8": no flag, no order: held too
    add_order(con, "7", [("99.00", 3, "297.00")])
    add_order(con, "8", [("99.00", 3, "297.00")])
    _, lines = run(con, tmall, run_id="b")
    assert sorted((p.order_id, p.reason, p.yuan, p.points) for p in lines) == [
        ("7", "top_up", D("24.70"), 2470), ("8", "reversal", D("-5.00"), -500)]
    assert con.execute("select sum(yuan) from payouts where order_id = '7'").fetchone()[0] == D("29.70")
    _, lines = run(con, tmall, run_id="c")
    assert lines == []
