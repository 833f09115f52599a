"""The loader on fixture exports in the real formats, on bad input, and on the real files."""
import os
import shutil
from decimal import Decimal

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ShortshipError
from pipeline.load import export_time_of, load_paths

from .conftest import FIXTURES, REAL

EXPORTS = FIXTURES / "exports"
BAD = FIXTURES / "bad"


def table_snapshot(con):
    return {t: con.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("orders", "order_lines", "refunds", "shipments", "rejects", "load_manifest")}


def test_fixture_exports_load_with_counts_and_rejects(con):
    results = {os.path.basename(r.path): r for r in load_paths(con, [EXPORTS])}
    expected = {  # rows_in, loaded, rejected
        "ExportOrderList201705311200.csv": (7, 4, 3),
        "ExportOrderDetailList201705311200.csv": (6, 4, 2),
        "ExportRefundList201706031200.csv": (3, 2, 1),
        "refunds_2022.csv": (2, 2, 0),
        "refunds_2026.csv": (1, 1, 0),
        "ExportOrderList201903121048.csv": (1, 1, 0),
        "ExportOrderDetailList201903121048.csv": (1, 1, 0),
        "shipments_20170603.csv": (3, 2, 1),
    }
    for name, (rows_in, loaded, rejected) in expected.items():
        r = results[name]
        assert (r.rows_in, r.loaded, r.rejected, r.replaced) == (rows_in, loaded, rejected, 0), name
    rejects = con.execute("select source_file, line, reason from rejects order by source_file, line").fetchall()
    by_file = {}
    for f, line, reason in rejects:
        by_file.setdefault(os.path.basename(f), []).append((line, reason))
    # the multi-line buyer message on line 3-4 shifts the later records' physical lines
    assert [l for l, _ in by_file["ExportOrderList201705311200.csv"]] == [6, 7, 8]
    assert "scientific notation" in by_file["ExportOrderList201705311200.csv"][0][1]
    assert "paid_amount: abc" in by_file["ExportOrderList201705311200.csv"][1][1]
    assert "created_at" in by_file["ExportOrderList201705311200.csv"][2][1]
    # quantity 0 is outside the quantity range (1 to 1,000,000); x is no number
    assert by_file["ExportOrderDetailList201705311200.csv"] == [
        (3, "bad quantity: 0 (a whole number from 1 to 1000000)"),
        (7, "bad quantity: x (a whole number from 1 to 1000000)"),
    ]
    assert "refund id" in by_file["ExportRefundList201706031200.csv"][0][1]
    assert "shipped_at: bad-date" in by_file["shipments_20170603.csv"][0][1]


def test_formula_ids_bare_and_quoted_read_as_their_digits(con):
    """The GBK downloads write ids as bare formulas (="…", the field not quoted) and 特权订金订单id as
    the empty formula =""; the re-saved refunds_2022.csv has them quoted as text: all read as
    the digits."""
    orders = (EXPORTS / "ExportOrderList201705311200.csv").read_bytes().decode("gb18030").splitlines()
    assert orders[1].startswith('="35153131473293579","buyer_a",') and ',="",' in orders[1]
    items = (EXPORTS / "ExportOrderDetailList201705311200.csv").read_bytes().decode("gb18030").splitlines()
    assert items[1].startswith('="35153131473293579","') and items[1].endswith(",")
    refunds = (EXPORTS / "ExportRefundList201706031200.csv").read_bytes().decode("gb18030").splitlines()
    assert refunds[1].startswith('="35153131473293579",="12345678901234567",="2017053021001001",')
    resaved = (EXPORTS / "refunds_2022.csv").read_bytes().decode("utf-8-sig").splitlines()
    assert resaved[1].startswith('"=""35153131473293581""","=""22345678901234567""",')
    load_paths(con, [EXPORTS])
    assert con.execute("select count(*) from orders where order_id like '3515313147329358%'").fetchone()[0] == 3
    assert con.execute("select order_id from order_lines where line = 2").fetchone()[0] == "35153131473293579"
    assert sorted(r[0] for r in con.execute("select refund_id from refunds where order_id = '35153131473293581' "
                                            "or refund_id like '2234%'").fetchall()) == [
        "22345678901234567", "22345678901234568"]
    assert con.execute("select count(*) from orders where order_id like '%=%' or order_id like '%\"%'").fetchone()[0] == 0


def test_values_are_typed_and_cleaned(con):
    load_paths(con, [EXPORTS])
    o = con.execute(
        "select paid_amount, refund_amount, paid_gross, created_at::varchar, tracking_no, status from orders "
        "where order_id = '35153131473293579'").fetchone()
    assert o == (Decimal("198.00"), Decimal("99.00"), Decimal("297.00"), "2017-05-30 10:00:00", "3330622150731", "completed")
    msg, memo, created = con.execute(
        "select buyer_message, seller_memo, created_at::varchar from orders where order_id = '35153131473293580'").fetchone()
    assert msg == "掌柜，记得补3个球\n谢谢" and memo == "6608补发一个" and created == "2017-05-30 23:18:00"
    # ￥ and thousands commas; 订单未关闭 placeholder read as NULL; closed status
    assert con.execute("select paid_amount, close_reason, status from orders where order_id = '35153131473293585'").fetchone() == (
        Decimal("1200.00"), "买家不想买了", "closed")
    assert con.execute("select count(*) from orders where close_reason = '订单未关闭'").fetchone()[0] == 0
    # tab-separated UTF-8-BOM CRLF file with a trailing space in the id and full-width space in a header
    assert con.execute("select title, tracking_no, shipped_at::varchar, paid_gross from orders where order_id = '45153131473293579'").fetchone() == (
        "帽子", "YT123", "2019-03-12 18:00:00", Decimal("50.00"))
    # legacy items: trailing comma, apostrophe, attributes
    assert con.execute("select attributes from order_lines where order_id = '35153131473293580'").fetchone()[0] == "粉色"
    lines = con.execute("select line_no, sku, quantity, price from order_lines where order_id = '35153131473293579' order by line_no").fetchall()
    assert lines == [(1, "XB-01", 3, Decimal("99.00"))]  # the JM-02 line of 0 units is rejected
    # current items: sub-order id, 没有申请退款 placeholder
    assert con.execute("select line_id, refund_status from order_lines where order_id = '45153131473293579'").fetchone() == ("4515313147329358", None)
    # refunds: 2022 '.' spelling kept as exported; 2026 amount = to buyer + to platform; 售后类型 仅退款 -> no return
    assert con.execute("select reason from refunds where refund_id = '22345678901234568'").fetchone()[0] == "少件.漏发"
    assert con.execute("select refund_amount, return_required, responsible_party from refunds where refund_id = '4515313147329359'").fetchone() == (
        Decimal("45.00"), False, "快递")
    assert con.execute("select return_required from refunds where refund_id = '12345678901234568'").fetchone()[0] is True
    ship = con.execute("select quantity, reship, weight_kg from shipments order by shipped_at").fetchall()
    assert ship == [(2, False, Decimal("0.800")), (1, True, Decimal("0.400"))]


def test_unknown_columns_are_kept_as_extras_with_keep_raw(con):
    load_paths(con, [EXPORTS / "ExportOrderList201705311200.csv"], keep_raw=True)
    assert con.execute("select count(*) from raw_orders").fetchone()[0] == 7
    extra = con.execute("select extra from raw_orders where line = 2").fetchone()[0]
    assert extra["买家服务费"] == "0元" and "是否手机订单" in extra


def test_rows_in_equals_loaded_plus_rejected_plus_replaced_across_overlapping_exports(con, tmp_path):
    old = tmp_path / "ExportOrderList201705301200.csv"
    new = tmp_path / "ExportOrderList201705311200.csv"
    shutil.copy(EXPORTS / "ExportOrderList201705311200.csv", old)
    body = (EXPORTS / "ExportOrderList201705311200.csv").read_bytes().decode("gb18030")
    new.write_bytes(body.replace('"198.00"', '"150.00"').encode("gb18030"))
    # load the newer one first: the older one must not win
    r_new = load_paths(con, [new])[0]
    r_old = load_paths(con, [old])[0]
    assert r_old.replaced == r_old.rows_in - r_old.rejected and r_old.loaded == 0
    assert con.execute("select paid_amount from orders where order_id = '35153131473293579'").fetchone()[0] == Decimal("150.00")
    for row in con.execute("select rows_in, loaded, rejected, replaced from load_manifest").fetchall():
        assert row[0] == row[1] + row[2] + row[3]
    # a newer export of an older load supersedes it and moves the older manifest counts
    con2_newest = tmp_path / "ExportOrderList201706011200.csv"
    con2_newest.write_bytes(body.replace('"198.00"', '"120.00"').encode("gb18030"))
    r3 = load_paths(con, [con2_newest])[0]
    assert r3.superseded == r_new.loaded
    assert con.execute("select paid_amount from orders where order_id = '35153131473293579'").fetchone()[0] == Decimal("120.00")
    assert con.execute("select count(*) from orders").fetchone()[0] == r3.loaded
    total_in = con.execute("select sum(rows_in), sum(loaded), sum(rejected), sum(replaced) from load_manifest").fetchone()
    assert total_in[0] == total_in[1] + total_in[2] + total_in[3]
    assert total_in[1] == con.execute("select count(*) from orders").fetchone()[0]


def test_newer_items_export_replaces_all_lines_of_an_order(con, tmp_path):
    src = (EXPORTS / "ExportOrderDetailList201705311200.csv").read_bytes().decode("gb18030")
    a = tmp_path / "ExportOrderDetailList201705311200.csv"
    b = tmp_path / "ExportOrderDetailList201706011200.csv"
    a.write_bytes(src.encode("gb18030"))
    lines = src.split("\n")
    b.write_bytes("\n".join([lines[0], lines[1]]).encode("gb18030") + b"\n")  # order 579 now has one line
    load_paths(con, [a, b])
    assert con.execute("select count(*) from order_lines where order_id = '35153131473293579'").fetchone()[0] == 1
    assert con.execute("select count(*) from order_lines where order_id = '35153131473293580'").fetchone()[0] == 1


def test_raw_tables_stay_empty_without_keep_raw(con):
    load_paths(con, [EXPORTS / "ExportOrderList201705311200.csv"])
    assert con.execute("select count(*) from raw_orders").fetchone()[0] == 0
    assert con.execute("select count(*) from orders").fetchone()[0] == 4


def test_loading_the_same_file_twice_changes_nothing(con):
    load_paths(con, [EXPORTS])
    before = table_snapshot(con)
    again = load_paths(con, [EXPORTS / "ExportOrderList201705311200.csv"])
    assert again[0].status == "skipped" and "already loaded" in again[0].line()
    assert table_snapshot(con) == before


def test_same_file_twice_in_one_call_is_loaded_once(con, tmp_path):
    copy = tmp_path / "copy.csv"
    shutil.copy(EXPORTS / "refunds_2026.csv", copy)
    res = load_paths(con, [EXPORTS / "refunds_2026.csv", copy])
    assert [r.status for r in res] == ["loaded", "skipped"]


def test_export_time_from_name_else_mtime(tmp_path):
    assert str(export_time_of(tmp_path / "ExportOrderList201903121048.csv")) == "2019-03-12 10:48:00"
    p = tmp_path / "orders.csv"
    p.write_text("x")
    os.utime(p, (1_600_000_000, 1_600_000_000))
    assert export_time_of(p).timestamp() == 1_600_000_000


@pytest.mark.parametrize(
    "name,message",
    [
        ("empty.csv", "the file is empty"),
        ("header_only.csv", "header only"),
        ("not_text.csv", "unknown encoding"),
        ("wrong_encoding.csv", "unknown encoding"),
        ("no_header.csv", "no recognisable export header"),
        ("missing_column.csv", "orders export lacks 买家实际支付金额 (paid_amount), a required column"),
    ],
)
def test_bad_files_fail_with_one_line_and_leave_the_database_unchanged(con, name, message):
    load_paths(con, [EXPORTS / "refunds_2026.csv"])
    before = table_snapshot(con)
    with pytest.raises(ShortshipError) as e:
        # a good file first: the whole call is one transaction
        load_paths(con, [EXPORTS / "refunds_2022.csv", BAD / name])
    assert message in str(e.value) and name in str(e.value) and "\n" not in str(e.value)
    assert table_snapshot(con) == before


def test_truncated_last_line_and_mangled_ids_are_rejected_not_fatal(con):
    r = load_paths(con, [BAD / "truncated_items.csv"])[0]
    assert (r.rows_in, r.loaded, r.rejected) == (3, 2, 1)
    assert con.execute("select line, reason from rejects").fetchall() == [(4, "unclosed quote")]
    r = load_paths(con, [BAD / "mangled_id.csv"])[0]
    assert (r.rows_in, r.loaded, r.rejected) == (3, 1, 2)
    # the id that lost digits in Excel but kept its form loads (trailing space trimmed)
    assert con.execute("select order_id from orders").fetchall() == [("21407300627014900",)]


def test_row_with_too_few_fields_is_rejected_with_its_line(con, tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("订单编号,买家实际支付金额,订单状态\n1,2.00,交易成功\n2,3.00\n3,4.00,交易成功\n", encoding="utf-8")
    r = load_paths(con, [p])[0]
    assert (r.rows_in, r.loaded, r.rejected) == (3, 2, 1)
    line, reason = con.execute("select line, reason from rejects").fetchone()
    assert line == 3 and "2 fields, the header has 3" in reason


def test_title_rows_above_the_header_are_skipped(con, tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("订单报表 2019-03-12\n导出人: 店长\n订单编号,买家实付金额\n1,2.00\n", encoding="utf-8")
    r = load_paths(con, [p])[0]
    assert r.loaded == 1
    assert con.execute("select line from orders").fetchone()[0] == 4


def test_explicit_kind_overrides_detection(con, tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("order_id,shipped_at\n1,2017-05-31 10:00:00\n", encoding="utf-8")
    assert load_paths(con, [p], kind="shipments")[0].kind == "shipments"
    q = tmp_path / "s2.csv"
    q.write_text("order_id,shipped_at\n2,2017-05-31 10:00:00\n", encoding="utf-8")
    with pytest.raises(ShortshipError, match="no recognisable refunds export header"):
        load_paths(con, [q], kind="refunds")


def test_folder_without_exports(con, tmp_path):
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ShortshipError, match="no export files"):
        load_paths(con, [tmp_path])
    with pytest.raises(ShortshipError, match="no such file"):
        load_paths(con, [tmp_path / "missing.csv"])


@pytest.mark.skipif(not REAL.exists(), reason="shared/real not present")
def test_real_exports_load_completely_and_join(con):
    res = load_paths(con, [REAL / "toyshop_2017_orders.csv", REAL / "toyshop_2017_items.csv", REAL / "tmall_2020_orders.csv"])
    counts = {os.path.basename(r.path): (r.rows_in, r.loaded, r.rejected, r.replaced) for r in res}
    assert counts["toyshop_2017_orders.csv"] == (3989, 3989, 0, 0)
    assert counts["toyshop_2017_items.csv"] == (21897, 21897, 0, 0)
    assert counts["tmall_2020_orders.csv"] == (28010, 28010, 0, 0)
    assert con.execute("select count(*) from orders").fetchone()[0] == 3989 + 28010
    # every toy-shop line joins its order (the order file's ids carry a trailing space)
    assert con.execute("select count(*) from order_lines l anti join orders o using (order_id)").fetchone()[0] == 0
    # 实付 is net of refunds in the legacy export: 75.38 + 132.62 = 208.00
    assert con.execute("select paid_gross from orders where paid_amount = 75.38 and refund_amount = 132.62").fetchone()[0] == Decimal("208.00")
    assert con.execute("select count(*) from orders where created_at is null").fetchone()[0] == 0
    # Tmall file: an empty 订单付款时间 means unpaid
    assert con.execute("select count(*) from orders where order_id = '1' and paid_at is null").fetchone()[0] == 1
    assert con.execute("select count(*) from orders where tracking_no like 'No:%'").fetchone()[0] == 0
    assert con.execute("select count(*) from order_lines where attributes like '''%'").fetchone()[0] == 0
    # the line split adds up to the goods paid of every order
    assert con.execute(
        "select count(*) from (select order_id, sum(line_paid) s from line_amounts group by all) l "
        "join orders o using (order_id) where s <> o.paid_gross - o.postage").fetchone()[0] == 0


def test_cli_load_prints_counts_and_errors_in_one_line(tmp_path):
    runner = CliRunner()
    dbf = str(tmp_path / "c.duckdb")
    ok = runner.invoke(cli, ["load", str(EXPORTS / "ExportOrderList201705311200.csv"), "--db", dbf, "--create"])
    assert ok.exit_code == 0, ok.output
    assert "7 rows in = 4 loaded + 3 rejected + 0 replaced" in ok.output
    bad = runner.invoke(cli, ["load", str(BAD / "missing_column.csv"), "--db", dbf])
    assert bad.exit_code == 1
    err = bad.stderr if hasattr(bad, "stderr") else bad.output
    assert err.strip().startswith("Error:") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in bad.output


def test_unknown_columns_with_the_same_name_are_all_kept(con, tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("订单编号,买家实付金额,备注标签,备注标签\n1,2.00,a,b\n", encoding="utf-8")
    assert load_paths(con, [p], keep_raw=True)[0].loaded == 1
    extra = con.execute("select extra from raw_orders").fetchone()[0]
    assert sorted(extra.values()) == ["a", "b"]


def test_a_refund_twice_in_one_file_keeps_the_last_line(con, tmp_path):
    """The same refund id twice in one export: the later line wins and the earlier is counted
    as replaced (the repeated-key check may not miss it)."""
    f = tmp_path / "refunds.csv"
    f.write_text(
        "订单编号,退款编号,买家退款金额,退款状态\n"
        "35153131473293579,12345678901234567,10.00,退款成功\n"
        "35153131473293580,12345678901234568,20.00,退款成功\n"
        "35153131473293579,12345678901234567,15.00,退款成功\n",
        encoding="utf-8",
    )
    [res] = load_paths(con, [f])
    assert (res.rows_in, res.loaded, res.rejected, res.replaced) == (3, 2, 0, 1)
    rows = con.execute("select refund_id, refund_amount, line from refunds order by refund_id").fetchall()
    assert rows == [("12345678901234567", Decimal("15.00"), 4), ("12345678901234568", Decimal("20.00"), 3)]


SHIP_HEADER = "order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship\n"


def test_shipment_rows_of_one_parcel_add_up_within_a_file_and_a_later_file_replaces_them(con, tmp_path):
    """A warehouse writes a row per order line; two lines of one order share a SKU: both rows
    (same order, tracking number, SKU and time) are kept, and count together. A later file's
    rows for that key replace all of them."""
    first = tmp_path / "shipments_20170604.csv"
    first.write_text(
        SHIP_HEADER
        + "35153131473293579,XB-01,2,2017-05-31 10:00:00,3330622150731,0.800,false\n"
        + "35153131473293580,DC-5,1,2017-05-31 11:00:00,3330622150732,0.300,false\n"
        + "35153131473293579,XB-01,1,2017-05-31 10:00:00,3330622150731,0.800,false\n",
        encoding="utf-8",
    )
    [res] = load_paths(con, [first])
    assert (res.rows_in, res.loaded, res.rejected, res.replaced) == (3, 3, 0, 0)
    assert con.execute("select sum(quantity) from shipments where order_id = '35153131473293579'").fetchone()[0] == 3
    later = tmp_path / "shipments_20170605.csv"
    later.write_text(SHIP_HEADER + "35153131473293579,XB-01,3,2017-05-31 10:00:00,3330622150731,0.800,false\n",
                     encoding="utf-8")
    [res2] = load_paths(con, [later])
    assert (res2.loaded, res2.superseded) == (1, 2)
    rows = con.execute("select order_id, quantity, line from shipments order by order_id").fetchall()
    assert rows == [("35153131473293579", 3, 2), ("35153131473293580", 1, 3)]
    for row in con.execute("select rows_in, loaded, rejected, replaced from load_manifest").fetchall():
        assert row[0] == row[1] + row[2] + row[3]


def test_files_cut_into_ranges_load_exactly_like_whole_files(tmp_path, monkeypatch):
    """Large files are cut into ranges that worker processes transcode in the background while
    DuckDB types the previous file; on the fixture exports (with their bad rows) that path must
    give the same typed rows, line numbers and rejects as transcoding each file whole."""
    from pipeline import db
    from pipeline.io import encoding as enc

    def snapshot(con):
        tables = ("orders", "order_lines", "refunds", "shipments", "rejects")
        return {t: con.execute(f"select * exclude (load_id) from {t} order by all").fetchall() for t in tables}

    whole = db.connect(tmp_path / "whole.duckdb")
    load_paths(whole, [EXPORTS])
    monkeypatch.setattr(enc, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(enc, "RANGE_BYTES", 150)
    in_ranges = []
    by_workers = enc._transcode_ranges

    def spy(pool, path, *args, **kwargs):  # ranges done by the worker processes (not a fallback)
        parts, result = by_workers(pool, path, *args, **kwargs)
        in_ranges.append(len(parts))
        return parts, result

    monkeypatch.setattr(enc, "_transcode_ranges", spy)
    cut = db.connect(tmp_path / "cut.duckdb")
    load_paths(cut, [EXPORTS])
    assert in_ranges and max(in_ranges) > 1
    want = snapshot(whole)
    assert sum(len(v) for v in want.values()) > 20
    assert snapshot(cut) == want


# --- a load that loses too much stops (SPEC 8); the files: tests/fixtures/bad/expected.toml ----

@pytest.mark.parametrize("rows_in,rejected,stops", [
    (100, 10, False), (100, 11, True),                  # the floor: 10 rows never stop, 11 do (11 % > 2 %)
    (1_000, 20, False), (1_000, 21, True),              # the share: 2 % exactly loads, just over stops
    (550, 11, False), (550, 12, True),                  # 11 of 550 is exactly 2 % (over the floor): loads
    (10_000_000, 1_000, False), (10_000_000, 1_001, True),  # the count: 0.01 % of a large file, still stops
    (10, 10, False), (5, 0, False),
])
def test_the_default_reject_limit_at_its_edges(rows_in, rejected, stops):
    from pipeline.load import RejectLimit

    assert RejectLimit().exceeded(rows_in, rejected) is stops
    assert RejectLimit.parse(None) == RejectLimit.parse("2%,1000") == RejectLimit()
    assert str(RejectLimit()) == "2%,1000"


def test_max_rejects_as_a_share_a_count_both_or_none():
    from fractions import Fraction

    from pipeline.load import RejectLimit

    share = RejectLimit.parse("5%")  # a share alone: no count
    assert (share.share, share.rows) == (Fraction(1, 20), None)
    assert not share.exceeded(1_000_000, 50_000) and share.exceeded(1_000_000, 50_001)
    assert not share.exceeded(100, 10)  # the floor still holds: ten rows never stop a file for a share
    count = RejectLimit.parse("2000")  # a count alone: no share
    assert not count.exceeded(2_000, 2_000) and count.exceeded(1_000_000, 2_001)
    assert RejectLimit.parse("0").exceeded(1_000_000, 1)  # strict: any reject stops
    assert not RejectLimit.parse("0").exceeded(1_000_000, 0)
    both = RejectLimit.parse(" 2000 , 0.5% ")
    assert both == RejectLimit(share=Fraction(1, 200), rows=2000) and str(both) == "0.5%,2000"
    assert both.exceeded(4_000, 21) and not both.exceeded(4_000, 20) and both.exceeded(10_000_000, 2_001)
    off = RejectLimit.parse("NONE")
    assert str(off) == "none" and not off.exceeded(10_000_000, 10_000_000)
    assert str(RejectLimit.parse("20%")) == "20%" and str(RejectLimit.parse("100%")) == "100%"
    for bad in ("", "%", "5x", "-1", "1,000", "5%,6%", "101%", "1e3", "5 %,", "2%,1000,3"):
        with pytest.raises(ShortshipError, match=r"^--max-rejects .*: expected a share \(5%\), a count"):
            RejectLimit.parse(bad)


def test_a_bad_max_rejects_is_one_line_before_the_database_is_touched(tmp_path):
    db = tmp_path / "never.duckdb"
    for cmd in ("load", "run"):
        r = CliRunner().invoke(cli, [cmd, str(EXPORTS), "--db", str(db), "--create", "--max-rejects", "lots"])
        assert r.exit_code == 1 and r.stderr.strip().startswith("Error: --max-rejects 'lots'"), r.output
    assert not db.exists()


def test_decisions_read_as_the_outputs_label_them(con, tmp_path):
    """A reviewer may copy the label review.csv and the workbook show (商家责任 …) rather than the
    short word: each reads as its decision."""
    rows = ["订单编号,判定", '="20170000000000001",商家责任', '="20170000000000002",快递责任',
            '="20170000000000003",买家责任', '="20170000000000004",无过错', '="20170000000000005",无责任',
            '="20170000000000006",商家', '="20170000000000007",No_Fault']
    p = tmp_path / "review.csv"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    [r] = load_paths(con, [p], kind="decisions")
    assert (r.rows_in, r.loaded, r.rejected) == (7, 7, 0)
    got = dict(con.execute("select order_id, decision from decisions").fetchall())
    assert [got[f"2017000000000000{i}"] for i in range(1, 8)] == [
        "merchant", "courier", "buyer", "no_fault", "no_fault", "merchant", "no_fault"]
