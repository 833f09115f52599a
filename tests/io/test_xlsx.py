"""XLSX exports (current 千牛 layout): sheets, title rows, cell conversion, rounded ids, and the
same export as GBK CSV and as xlsx giving the same typed tables. Workbooks are written here."""
import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter

from pipeline import db
from pipeline.errors import ShortshipError
from pipeline.io.xlsx import cell_text, open_workbook
from pipeline.load import load_paths

ORDER_HEADER = [
    "订单编号", "支付单号", "买家应付货款", "买家应付邮费", "总金额", "买家实付金额", "订单状态", "收货地址",
    "运送方式", "订单创建时间", "商品标题", "宝贝种类", "物流单号", "物流公司", "备注标签", "商家备注",
    "宝贝总数量", "开票信息", "手机订单", "商品属性SKU", "发货时间",
]
ITEM_HEADER = [
    "子订单编号", "主订单编号", "商品标题", "商品价格", "购买数量", "外部系统编号", "商品属性", "订单状态",
    "商家编码", "买家实付金额", "退款状态", "退款金额", "订单创建时间", "订单付款时间", "商品ID",
]
T0 = dt.datetime(2024, 3, 1, 9, 30, 15)


class Num(float):
    """A value to store as a number cell (an id kept as a number, a date left as a serial)."""


def write_xlsx(path: Path, sheets: dict, title_rows: dict | None = None) -> Path:
    """sheets: name -> rows (header first). str cells are text, int/float/Num numbers,
    datetimes date cells, None empty. title_rows: name -> rows written above the header."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False})
    ts = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        r = 0
        for title in (title_rows or {}).get(name, []):
            for c, v in enumerate(title):
                if v is not None:
                    ws.write(r, c, v)
            r += 1
        for row in rows:
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, dt.datetime):
                    ws.write_datetime(r, c, v, ts)
                elif isinstance(v, str):
                    ws.write_string(r, c, v)
                else:
                    ws.write_number(r, c, v)
            r += 1
    wb.close()
    return path


def csv_text(v) -> str:
    """How the same value appears in a GBK CSV export."""
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, float):
        return f"{v:.2f}" if not isinstance(v, Num) else str(int(v))
    return str(v)


def write_gbk_csv(path: Path, rows: list) -> Path:
    with open(path, "w", encoding="gbk", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        for row in rows:
            w.writerow([csv_text(v) for v in row])
    return path


def order_row(order_id, paid, *, created=T0, shipped=None, memo=None, status="交易成功", postage=8.0):
    goods = round(paid - postage, 2)
    return [
        order_id, "2024030122001100000000000001", goods, postage, paid, paid, status,
        "浙江省 杭州市 西湖区 ****", "快递", created, "儿童积木，小球", 2, "YT7000000000001", "圆通速递",
        None, memo, 3, None, "手机订单", "颜色分类：小号", shipped,
    ]


def item_row(line_id, order_id, price, qty, *, sku="SKU-1", refund_status="没有申请退款", refund=None, paid=None):
    return [
        line_id, order_id, "儿童积木", price, qty, None, "颜色分类：小号", "交易成功", sku,
        paid if paid is not None else round(price * qty, 2), refund_status, refund, T0, T0, 612345678901,
    ]


def orders_table(con):
    return con.execute(
        "select * exclude (load_id, source_file, line) from orders order by order_id").fetchall()


def lines_table(con):
    return con.execute(
        "select * exclude (load_id, source_file, line) from order_lines order by order_id, line_no").fetchall()


def rejects(con):
    return con.execute("select line, reason from rejects order by line").fetchall()


# ---------------------------------------------------------------------------- cell conversion

@pytest.mark.parametrize("value, column, text", [
    ("35153131473293579 ", "order_id", "35153131473293579 "),
    ("", None, None),
    (12.0, "quantity", "12"),
    (12, "quantity", "12"),
    (0.1 + 0.2, "paid_amount", "0.3"),
    (19.899999999999999, "price", "19.9"),
    (1234567.1 + 0.2, "paid_amount", "1234567.3"),
    (-0.0, "refund_amount", "0"),
    (351531314732935.0, "order_id", "351531314732935"),  # 15 digits: exact
    (2.14073006270149e16, "order_id", "2.14073006270149E+16"),  # Excel kept 15 of 17 digits
    (21407300627014900.0, "line_id", "2.14073006270149E+16"),
    (1.2345678901234568e18, "refund_id", "1.23456789012346E+18"),
    (3.5153131473293578e16, "payment_no", "3.51531314732936E+16"),
    (12.000000000000002, "quantity", "12"),  # noise next to a whole number
    (7000000000000.0, "tracking_no", "7000000000000"),
    (42885.97, "paid_at", "2017-05-30 23:16:48"),  # a date stored as a serial number
    (42885.5, "shipped_at", "2017-05-30 12:00:00"),
    (42885.97, "paid_amount", "42885.97"),  # the same number elsewhere is a number
    (dt.datetime(2017, 5, 30, 23, 18, 5, 600000), "paid_at", "2017-05-30 23:18:06"),
    (dt.datetime(2017, 5, 30, 23, 18, 5), None, "2017-05-30 23:18:05"),
    (dt.date(2020, 1, 2), "paid_at", "2020-01-02"),
    (dt.time(1, 2, 3), None, "01:02:03"),
    (dt.timedelta(days=45352, seconds=34215), "paid_at", "2024-03-01 09:30:15"),  # [h]:mm:ss format
    (dt.timedelta(hours=26, minutes=3), None, "26:03:00"),
    (True, "reship", "TRUE"),
    (1e-7, None, "0.0000001"),
])
def test_cell_text(value, column, text):
    assert cell_text(value, column) == text


# ---------------------------------------------------------------------------- loading

def test_current_order_export_with_text_and_number_ids(con, tmp_path):
    rows = [
        ORDER_HEADER,
        order_row("3515313147329357912", 108.5, shipped=T0 + dt.timedelta(hours=20), memo="补发一个"),
        order_row(Num(351531314732935), 20.1),  # a 15-digit id stored as a number: exact
        order_row("3515313147329357913\t", 0.1 + 0.2, postage=0.0),  # trailing tab, float noise
        order_row("3515313147329357914", 59.0, created=Num(42885.97)),  # date left as a serial
        order_row("3515313147329357915", 59.0, shipped="2017/5/30 23:18"),  # date typed as text
    ]
    rows[2][3] = Num(0)  # postage 0 as a number
    book = write_xlsx(tmp_path / "ExportOrderList202403011200.xlsx", {"订单报表": rows})

    [r] = load_paths(con, [book], keep_raw=True)
    assert (r.kind, r.sheet, r.rows_in, r.loaded, r.rejected, r.replaced) == ("orders", "订单报表", 5, 5, 0, 0)
    got = {o[0]: o for o in con.execute(
        "select order_id, paid_amount, postage, goods_amount, created_at::varchar, shipped_at::varchar, "
        "seller_memo, status, item_count, line from orders").fetchall()}
    assert got["3515313147329357912"] == (
        "3515313147329357912", Decimal("108.50"), Decimal("8.00"), Decimal("100.50"),
        "2024-03-01 09:30:15", "2024-03-02 05:30:15", "补发一个", "completed", 3, 2)
    assert got["351531314732935"][1:3] == (Decimal("20.10"), Decimal("0.00"))
    assert got["3515313147329357913"][1] == Decimal("0.30")
    assert got["3515313147329357914"][4] == "2017-05-30 23:16:48"
    assert got["3515313147329357915"][5] == "2017-05-30 23:18:00"
    assert sorted(o[-1] for o in got.values()) == [2, 3, 4, 5, 6]  # Excel row numbers

    raw = con.execute(
        "select order_id, goods_amount, created_at, extra['商品属性SKU'], extra['手机订单'] "
        "from raw_orders where line = 2").fetchone()
    assert raw == ("3515313147329357912", "100.5", "2024-03-01 09:30:15", "颜色分类：小号", "手机订单")
    assert con.execute("select order_id from raw_orders where line = 3").fetchone() == ("351531314732935",)
    m = con.execute("select kind, sheet, encoding, paid_is_net, rows_in, loaded, export_time::varchar, header[1] "
                    "from load_manifest").fetchone()
    assert m == ("orders", "订单报表", "xlsx", False, 5, 5, "2024-03-01 12:00:00", "订单编号")
    assert rejects(con) == []

    # the same workbook again: nothing changes
    [again] = load_paths(con, [book])
    assert again.status == "skipped"
    assert con.execute("select count(*) from orders").fetchone() == (5,)


def test_multi_sheet_workbook_loads_each_recognised_sheet(con, tmp_path):
    orders = [ORDER_HEADER, order_row("3515313147329357912", 108.5), order_row("3515313147329357913", 58.0)]
    items = [
        ITEM_HEADER,
        item_row("4515313147329357001", "3515313147329357912", 50.25, 2),
        item_row("4515313147329357002", "3515313147329357913", 50.0, 1, refund_status="退款成功", refund=50.0),
        item_row(Num(451531314732935), "3515313147329357913", 0.0, 1, sku="GIFT"),
    ]
    shipping = [["日期", "发货单数", "快递"], ["2024-03-01", 2, "圆通"]]
    book = write_xlsx(tmp_path / "千牛导出202403011200.xlsx",
                      {"订单报表": orders, "销售明细": items, "发货报表": shipping, "Sheet4": []})

    sources = open_workbook(book)
    assert [(s.sheet, s.kind) for s in sources] == [("订单报表", "orders"), ("销售明细", "items")]
    results = load_paths(con, [book])
    assert [(r.sheet, r.kind, r.rows_in, r.loaded, r.rejected) for r in results] == [
        ("订单报表", "orders", 2, 2, 0), ("销售明细", "items", 3, 3, 0)]
    assert con.execute("select count(*) from orders").fetchone() == (2,)
    lines = con.execute(
        "select order_id, line_no, line_id, price, quantity, refund_status, refund_amount, item_id, line "
        "from order_lines order by order_id, line_no").fetchall()
    assert lines == [
        ("3515313147329357912", 1, "4515313147329357001", Decimal("50.25"), 2, None, None, "612345678901", 2),
        ("3515313147329357913", 1, "4515313147329357002", Decimal("50.00"), 1, "success", Decimal("50.00"), "612345678901", 3),
        ("3515313147329357913", 2, "451531314732935", Decimal("0.00"), 1, None, None, "612345678901", 4),
    ]
    assert con.execute("select sheet, kind from load_manifest order by load_id").fetchall() == [
        ("订单报表", "orders"), ("销售明细", "items")]

    # a kind given: only the sheets of that kind
    con2 = db.connect(tmp_path / "items_only.duckdb")
    try:
        [r] = load_paths(con2, [book], kind="items")
        assert (r.sheet, r.kind, r.loaded) == ("销售明细", "items", 3)
        assert con2.execute("select count(*) from orders").fetchone() == (0,)
    finally:
        con2.close()


def test_title_rows_above_the_header_and_blank_rows(con, tmp_path):
    rows = [
        ORDER_HEADER,
        order_row("3515313147329357912", 108.5),
        [None] * len(ORDER_HEADER),  # a blank row: not a record
        order_row("3515313147329357913", 20.0),
        order_row("3515313147329357914", 20.0),
    ]
    rows[4][5] = "待定"  # a bad amount: rejected with its row
    titles = [["订单报表"], ["导出时间：2024-03-01 12:00", None, "店铺：玩具小店"], []]
    book = write_xlsx(tmp_path / "orders.xlsx", {"订单报表": rows}, {"订单报表": titles})

    [src] = open_workbook(book)
    assert src.header_row == 4
    [r] = load_paths(con, [book])
    assert (r.rows_in, r.loaded, r.rejected) == (3, 2, 1)
    assert con.execute("select order_id, line from orders order by line").fetchall() == [
        ("3515313147329357912", 5), ("3515313147329357913", 7)]
    assert rejects(con) == [(8, "bad amount in paid_amount: 待定 (not an amount)")]


def test_excel_rounded_ids_are_rejected_with_their_row(con, tmp_path):
    orders = [
        ORDER_HEADER,
        order_row("3515313147329357912", 108.5),
        order_row(Num(2.14073006270149e16), 20.0),  # Excel kept 15 of the 17 digits
        order_row(Num(21407300627014901), 20.0),
        order_row(Num(351531314732935), 30.0),  # 15 digits: nothing lost
    ]
    items = [
        ITEM_HEADER,
        item_row("4515313147329357001", "3515313147329357912", 50.25, 2),
        item_row(Num(4.515313147329357e18), "3515313147329357912", 8.0, 1),
    ]
    book = write_xlsx(tmp_path / "ExportOrderList202403011200.xlsx", {"订单报表": orders, "宝贝报表": items})
    results = load_paths(con, [book])
    assert [(r.kind, r.rows_in, r.loaded, r.rejected) for r in results] == [
        ("orders", 4, 2, 2), ("items", 2, 1, 1)]
    for r in results:
        assert r.rows_in == r.loaded + r.rejected + r.replaced
    got = con.execute("select r.line, r.reason, m.sheet from rejects r join load_manifest m using (load_id) "
                      "order by m.load_id, r.line").fetchall()
    assert [(line, sheet) for line, _, sheet in got] == [(3, "订单报表"), (4, "订单报表"), (3, "宝贝报表")]
    assert got[0][1] == ("id in scientific notation (digits lost in Excel, cannot be repaired): "
                         "2.14073006270149E+16")
    assert "2.14073006270149E+16" in got[1][1]
    assert got[2][1].startswith("sub-order id: id in scientific notation") and "4.51531314732936E+18" in got[2][1]
    assert sorted(o for (o,) in con.execute("select order_id from orders").fetchall()) == [
        "351531314732935", "3515313147329357912"]


def test_values_right_of_the_header_reject_the_row(con, tmp_path):
    rows = [ORDER_HEADER, order_row("3515313147329357912", 108.5), order_row("3515313147329357913", 20.0)]
    rows[2] = rows[2] + [None, "stray"]
    book = write_xlsx(tmp_path / "orders.xlsx", {"订单报表": rows})
    [r] = load_paths(con, [book])
    assert (r.rows_in, r.loaded, r.rejected) == (2, 1, 1)
    [(line, reason)] = rejects(con)
    assert line == 3 and reason.startswith(f"row has {len(ORDER_HEADER) + 2} fields, the header has {len(ORDER_HEADER)}")


def test_workbook_without_a_recognised_sheet_is_an_error(con, tmp_path):
    book = write_xlsx(tmp_path / "summary.xlsx", {"汇总": [["日期", "销售额"], ["2024-03-01", 100.0]], "Sheet2": []})
    with pytest.raises(ShortshipError, match=r"summary\.xlsx: no sheet with a recognisable export header"):
        load_paths(con, [book])
    assert con.execute("select count(*) from load_manifest").fetchone() == (0,)


def test_recognised_sheet_lacking_a_required_column_is_an_error(con, tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", {"订单报表": [ORDER_HEADER, order_row("3515313147329357912", 1.0)]})
    header = [h for h in ORDER_HEADER if h != "买家实付金额"]
    bad = write_xlsx(tmp_path / "bad.xlsx", {
        "订单报表": [header, ["3515313147329357912"] + [None] * (len(header) - 1)],
        "宝贝报表": [ITEM_HEADER, item_row("4515313147329357001", "3515313147329357912", 1.0, 1)],
    })
    with pytest.raises(ShortshipError) as e:
        load_paths(con, [good, bad])
    msg = str(e.value)
    assert "bad.xlsx" in msg and "'订单报表'" in msg and "买家实际支付金额 (paid_amount)" in msg
    assert "\n" not in msg
    for t in ("orders", "order_lines", "load_manifest"):  # the whole load did nothing
        assert con.execute(f"select count(*) from {t}").fetchone() == (0,)


def test_not_a_workbook_is_an_error(con, tmp_path):
    fake = tmp_path / "orders.xlsx"
    fake.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ShortshipError, match=r"orders\.xlsx: cannot read as an xlsx workbook"):
        load_paths(con, [fake])


def test_same_exports_as_gbk_csv_and_as_xlsx_give_the_same_tables(tmp_path):
    orders = [
        ORDER_HEADER,
        order_row("3515313147329357912", 108.5, shipped=T0 + dt.timedelta(hours=20), memo="'6608补发一个"),
        order_row(Num(351531314732935), 20.1, status="卖家已发货，等待买家确认"),
        order_row("3515313147329357913", 0.3, postage=0.0),
        order_row("3515313147329357914", 1234.56, created=T0 + dt.timedelta(days=3)),
    ]
    items = [
        ITEM_HEADER,
        item_row("4515313147329357001", "3515313147329357912", 50.25, 2),
        item_row("4515313147329357002", "3515313147329357913", 0.3, 1, refund_status="退款成功", refund=0.3),
        item_row(Num(451531314732935), "351531314732935", 12.1, 1, sku="SKU-2"),
        item_row("4515313147329357003", "3515313147329357914", 1234.56, 1, paid=1200.0),
    ]
    xdir, cdir = tmp_path / "xlsx", tmp_path / "csv"
    xdir.mkdir()
    cdir.mkdir()
    write_xlsx(xdir / "ExportOrderList202403011200.xlsx", {"订单报表": orders})
    write_xlsx(xdir / "ExportOrderDetailList202403011200.xlsx", {"宝贝报表": items})
    write_gbk_csv(cdir / "ExportOrderList202403011200.csv", orders)
    write_gbk_csv(cdir / "ExportOrderDetailList202403011200.csv", items)
    assert (cdir / "ExportOrderList202403011200.csv").read_bytes().decode("gbk")  # really GBK

    tables = {}
    for name, folder in (("xlsx", xdir), ("csv", cdir)):
        con = db.connect(tmp_path / f"{name}.duckdb")
        try:
            results = load_paths(con, [folder])
            assert [(r.kind, r.loaded, r.rejected) for r in results] == [("items", 4, 0), ("orders", 4, 0)]
            tables[name] = (orders_table(con), lines_table(con))
        finally:
            con.close()
    assert tables["xlsx"][0] == tables["csv"][0]
    assert tables["xlsx"][1] == tables["csv"][1]
    assert len(tables["xlsx"][0]) == 4 and len(tables["xlsx"][1]) == 4


def test_row_numbers_when_the_table_does_not_start_at_a1(con, tmp_path):
    path = tmp_path / "offset.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("订单报表")
    ws.write_row(2, 1, ["订单编号", "买家实付金额", "订单付款时间"])  # header on row 3, from column B
    ws.write_row(3, 1, ["3515313147329357912", 10.5])
    ws.write_row(5, 1, ["3515313147329357913", 7])
    ws.write_number(5, 3, 45352.39600694444)  # a date left as a serial number
    wb.close()
    [r] = load_paths(con, [path])
    assert (r.rows_in, r.loaded) == (2, 2)
    assert con.execute("select line, order_id, paid_amount, paid_at::varchar from orders order by line").fetchall() == [
        (4, "3515313147329357912", Decimal("10.50"), None),
        (6, "3515313147329357913", Decimal("7.00"), "2024-03-01 09:30:15"),
    ]


def test_newest_refund_export_sheet(con, tmp_path):
    header = ["订单编号", "退款编号", "支付单号", "退给买家金额", "退给平台金额", "退款状态", "货物状态",
              "买家退款原因", "退款的申请时间", "售后类型", "部分退款/全额退款", "商品 id"]
    rows = [
        header,
        ["3515313147329357912", "171234567890123456", "2024030122001100000000000001", 50.25, 0,
         "退款成功", "已收到货", "少件/漏发", T0, "仅退款", "部分退款", 612345678901],
        ["3515313147329357913", Num(1.71234567890123e17), None, 8.8, 0,
         "退款成功", "未收到货", "空包裹", T0, "仅退款", "全额退款", None],
    ]
    book = write_xlsx(tmp_path / "refunds.xlsx", {"export": rows})
    [r] = load_paths(con, [book])
    assert (r.kind, r.sheet, r.rows_in, r.loaded, r.rejected) == ("refunds", "export", 2, 1, 1)
    assert con.execute("select refund_id, order_id from refunds").fetchall() == [
        ("171234567890123456", "3515313147329357912")]
    [(line, reason)] = rejects(con)
    assert line == 3 and reason.startswith("refund id: id in scientific notation")


def test_a_column_under_two_of_its_names_reads_both_in_csv_and_xlsx(con, tmp_path):
    """An ERP superset holds both 订单备注 and 商家备忘 (two memos) and may hold 买家应付邮费 beside
    邮费: the memos are joined in the alias table's order, another column reads its first
    non-empty name; the CSV and the xlsx path agree."""
    header = ["订单编号", "买家实付金额", "订单备注", "买家应付邮费", "商家备忘", "邮费"]
    rows = [["3515313147329357901", "10.00", "", "", "补发一个锅盖", "6.00"],
            ["3515313147329357902", "10.00", "发顺丰", "0.00", "补发一个", "6.00"],
            ["3515313147329357903", "10.00", "", "", "", ""]]
    book = write_xlsx(tmp_path / "ExportOrderList202403011200.xlsx", {"orders": [header] + rows})
    text = "\n".join(",".join(r) for r in [header] + [[f'="{r[0]}"', *r[1:]] for r in rows]) + "\n"
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "ExportOrderList202403011200.csv").write_text(text, encoding="utf-8")
    want = [("3515313147329357901", "补发一个锅盖", Decimal("6.00")),
            ("3515313147329357902", "发顺丰；补发一个", Decimal("0.00")),
            ("3515313147329357903", None, None)]
    for source in (book, tmp_path / "csv"):
        con.execute("delete from orders")
        con.execute("delete from load_manifest")
        [r] = load_paths(con, [source])
        assert (r.rows_in, r.loaded, r.rejected) == (3, 3, 0), source
        got = con.execute("select order_id, seller_memo, postage from orders order by order_id").fetchall()
        assert got == want, source
