"""liabilities.xlsx: sheets, bilingual headers, labelled values, ids kept as text, money as 0.00
numbers, totals. The layout tests write the English workbook (canonical sheet names); the
Chinese one is checked for its names, headings and labels."""
import os
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from pipeline.export_xlsx import write_liabilities_xlsx

LIABILITIES = [
    # order_id, shop, kind, responsibility, status, base, compensation, points, goods_refund, freight, total
    ("3515313147329357912", "玩具小店", "short", "merchant", "owed", "100.50", "30.15", 3015, "50.25", "0.00", "80.40"),
    ("3515313147329357913", "玩具小店", "short", "merchant", "owed", "19.90", "5.00", 500, "19.90", "0.00", "24.90"),
    ("2140730062701490123", "玩具小店", "wrong", "merchant", "curable", "33.33", "0.00", 0, "0.00", "0.00", "0.00"),
    ("351531314732935", "玩具小店", "not_received", "courier", "courier", "58.00", "0.00", 0, "0.00", "0.00", "0.00"),
    ("3515313147329357999", "玩具小店", "short", "merchant", "cured", "10.10", "0.00", 0, "0.00", "12.00", "12.00"),
]
PAYOUTS = [
    # payout_id, run_id, order_id, points, yuan, reason
    (1, "run-1", "3515313147329357912", 2000, "20.00", "new"),
    (2, "run-2", "3515313147329357912", 1015, "10.15", "top_up"),
    (3, "run-2", "3515313147329357913", 500, "5.00", "new"),
]


@pytest.fixture
def results(con):
    con.executemany(
        """insert into liabilities (order_id, shop, platform, kind, responsibility, status, base_amount,
               compensation_yuan, points, floor_applied, cap_applied, goods_refund_yuan, freight_yuan,
               total_yuan, deadline, policy, run_id)
           values (?, ?, 'tmall', ?, ?, ?, ?::decimal(18, 2), ?::decimal(18, 2), ?, false, false,
                   ?::decimal(18, 2), ?::decimal(18, 2), ?::decimal(18, 2), timestamp '2024-03-04 09:30:15',
                   'tmall', 'run-2')""",
        [list(r) for r in LIABILITIES],
    )
    con.executemany(
        """insert into payouts (payout_id, run_id, order_id, points, yuan, reason, policy, created_at)
           values (?, ?, ?, ?, ?::decimal(18, 2), ?, 'tmall', timestamp '2024-03-02 08:00:00')""",
        [list(p) for p in PAYOUTS],
    )
    return con


def read(path, sheet):
    return pd.read_excel(path, sheet_name=sheet, header=1, dtype=str, engine="openpyxl")


def test_workbook_layout_ids_and_money(results, tmp_path):
    out = write_liabilities_xlsx(results, tmp_path / "out" / "liabilities.xlsx", run_id="run-2", lang="en")
    assert out == tmp_path / "out" / "liabilities.xlsx"
    assert [p.name for p in out.parent.iterdir()] == ["liabilities.xlsx"]  # no temp file left

    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["summary", "liabilities", "payouts", "reship", "courier_claims", "claim_totals", "review"]
    ws = wb["liabilities"]
    heads = {ws.cell(2, c).value: ws.cell(1, c).value for c in range(1, ws.max_column + 1)}
    assert all(k == v for k, v in heads.items())  # English: the canonical names in both rows
    col = {ws.cell(2, c).value: c for c in range(1, ws.max_column + 1)}
    first = {name: ws.cell(3, c) for name, c in col.items()}  # rows are ordered by order_id
    assert first["order_id"].data_type == "s" and first["order_id"].value == "2140730062701490123"
    assert first["base_amount"].value == 33.33 and first["base_amount"].number_format == "0.00"
    assert first["points"].value == 0 and isinstance(first["points"].value, int)
    assert str(first["deadline"].value) == "2024-03-04 09:30:15"

    df = read(out, "liabilities")
    assert sorted(df["order_id"]) == sorted(r[0] for r in LIABILITIES)  # every digit kept
    assert all(len(i) in (15, 19) for i in df["order_id"])
    assert sum(Decimal(v) for v in df["total_yuan"]) == sum(Decimal(r[10]) for r in LIABILITIES)
    assert sum(int(v) for v in df["points"]) == sum(r[7] for r in LIABILITIES)

    pay = read(out, "payouts")
    assert list(pay["payout_id"]) == ["2", "3"]  # this run's only
    assert list(pay["order_id"]) == ["3515313147329357912", "3515313147329357913"]
    assert [Decimal(v) for v in pay["yuan"]] == [Decimal("10.15"), Decimal("5.00")]


def test_summary_totals_equal_the_table_sums(results, tmp_path):
    out = write_liabilities_xlsx(results, tmp_path / "liabilities.xlsx", lang="en")
    summary = read(out, "summary")
    assert list(summary["status"]) == ["owed", "curable", "cured", "courier", "total"]
    money = ["compensation_yuan", "goods_refund_yuan", "freight_yuan", "total_yuan"]
    expected = results.execute(
        f"select status, count(*), {', '.join(f'sum({c})' for c in money)}, sum(points) "
        "from liabilities group by status").fetchall()
    by_status = {row["status"]: row for _, row in summary.iterrows()}
    for status, count, *sums, points in expected:
        row = by_status[status]
        assert int(row["count"]) == count
        assert [Decimal(row[c]).quantize(Decimal("0.01")) for c in money] == sums
        assert int(row["points"]) == points
    total = by_status["total"]
    table = results.execute(
        f"select count(*), {', '.join(f'sum({c})' for c in money)}, sum(points) from liabilities").fetchone()
    assert (int(total["count"]), *[Decimal(total[c]).quantize(Decimal("0.01")) for c in money],
            int(total["points"])) == table
    assert Decimal(total["total_yuan"]) == Decimal("117.30")

    ws = openpyxl.load_workbook(out)["summary"]
    assert ws.cell(1, 1).value == "status" and ws.cell(2, 1).value == "status"  # English: canonical headings
    assert ws.cell(3, 3).number_format == "0.00"
    # all payouts when no run is given
    assert list(read(out, "payouts")["payout_id"]) == ["1", "2", "3"]


def test_replaces_the_old_workbook_atomically(results, tmp_path, monkeypatch):
    out = tmp_path / "liabilities.xlsx"
    out.write_bytes(b"old workbook")
    write_liabilities_xlsx(results, out)
    assert out.read_bytes()[:2] == b"PK"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # like any file written, not mkstemp's 0600

    # a failure while writing leaves the old file and no temp file
    before = out.read_bytes()
    import pipeline.export_xlsx as ex

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(ex._Sheet, "finish", boom)
    with pytest.raises(RuntimeError):
        write_liabilities_xlsx(results, out)
    assert out.read_bytes() == before
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


def test_empty_tables_give_headers_and_a_zero_total(con, tmp_path):
    out = write_liabilities_xlsx(con, tmp_path / "liabilities.xlsx", run_id="nothing", lang="en")
    summary = read(out, "summary")
    assert list(summary["status"]) == ["total"] and summary["count"][0] == "0"
    for sheet in ("liabilities", "payouts", "reship", "courier_claims", "claim_totals", "review"):
        assert read(out, sheet).empty, sheet


def test_chinese_workbook_names_headings_and_values(results, tmp_path):
    out = write_liabilities_xlsx(results, tmp_path / "liabilities.xlsx", run_id="run-2")  # zh, the default
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["汇总", "赔付明细", "打款记录", "待补发", "快递索赔", "快递索赔合计", "待判定"]
    ws = wb["赔付明细"]
    heads = {ws.cell(2, c).value: ws.cell(1, c).value for c in range(1, ws.max_column + 1)}
    assert heads["order_id"] == "订单编号" and heads["total_yuan"] == "合计(元)" and heads["points"] == "积分"
    df = read(out, "赔付明细")
    by_id = dict(zip(df["order_id"], zip(df["status"], df["kind"], df["responsibility"])))
    assert by_id["3515313147329357912"] == ("应赔付", "少发/漏发", "商家")
    assert by_id["351531314732935"] == ("快递责任", "未收到货", "快递")
    assert by_id["2140730062701490123"][1] == "错发"
    summary = read(out, "汇总")
    assert list(summary["status"]) == ["应赔付", "可补发免赔", "已及时补发", "快递责任", "合计"]
    assert list(read(out, "打款记录")["reason"]) == ["补足", "新增"]
    # the numbers are the same as in English
    en = write_liabilities_xlsx(results, tmp_path / "en.xlsx", run_id="run-2", lang="en")
    assert list(read(en, "summary")["total_yuan"]) == list(summary["total_yuan"])
