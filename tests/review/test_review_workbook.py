"""The workbook as a way back (issue 22): liabilities.xlsx, written with --xlsx, lists the orders
awaiting a decision in its review sheet (待判定) with the columns of review.csv, a drop-down list
of the four decisions under 判定 and a whole-number check under 缺件数量. A person fills it in
Excel (here: openpyxl, as a user would) and puts it with the exports: the next run reads the
review sheet alone, as decisions, and passes over the other sheets (results, never exports).

One shop of tests/review/test_review_loop.py: WORDS (the seller's memo: 2 missing) and AMOUNT (a
refund of one unit) are disputed; OWED is the shop's own fault. Two runs in the module fixture.
"""
import shutil
from pathlib import Path

import openpyxl
import pytest

from pipeline import db
from pipeline.errors import ShortshipError
from pipeline.export_xlsx import DECISION_CHOICES
from pipeline.io.errors import NotAnExport
from pipeline.io.xlsx import open_workbook, written_by_shortship
from pipeline.load import load_paths
from pipeline.run import run_pipeline
from tests.review.test_review_loop import AMOUNT, OWED, WORDS, build

SHEET = "待判定"


def rows_by_order(ws) -> dict[str, int]:
    """The sheet's data rows by order id (row 2 names the columns)."""
    col = {ws.cell(2, c).value: c for c in range(1, ws.max_column + 1)}
    return {ws.cell(r, col["order_id"]).value: r for r in range(3, ws.max_row + 1)}, col


def fill(path: Path, target: Path, decisions: dict[str, dict]) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET]
    rows, col = rows_by_order(ws)
    for oid, values in decisions.items():
        for name, v in values.items():
            ws.cell(rows[oid], col[name]).value = v
    wb.save(target)


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    base = tmp_path_factory.mktemp("workbook")
    exports = base / "exports"
    build().write(exports)
    dbp, out = base / "w.duckdb", base / "out"
    first = run_pipeline([exports], dbp, out, as_of="2017-06-20", xlsx=True, create=True)
    workbook = out / "liabilities.xlsx"
    kept = base / "as_written.xlsx"
    shutil.copy(workbook, kept)
    fill(workbook, exports / "liabilities.xlsx", {
        WORDS: {"decision": "商家", "missing_qty": 1, "note": "看过包裹照片", "decided_by": "小王"},
        AMOUNT: {"decision": "无责", "decided_by": "小王"},
    })
    second = run_pipeline([exports], dbp, out, as_of="2017-06-21", xlsx=True)
    con = db.connect(dbp, read_only=True)
    try:
        cur = con.execute("select * from flags")
        cols = [c[0] for c in cur.description]
        flags = {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}
        status = dict(con.execute("select order_id, status from liabilities").fetchall())
        decisions = {r[0]: r[1:] for r in con.execute(
            "select d.order_id, d.decision, d.missing_qty, d.decided_by, d.source_file, d.line, m.sheet "
            "from decisions d join load_manifest m using (load_id)").fetchall()}
        manifest = con.execute("select sheet, kind, rows_in, loaded, rejected, ignored from load_manifest "
                               "where file_name = 'liabilities.xlsx'").fetchall()
        ledger = con.execute("select order_id, yuan, reason from payouts order by payout_id").fetchall()
        rejects = con.execute("select count(*) from rejects").fetchone()[0]
    finally:
        con.close()
    return dict(first=first, second=second, kept=kept, workbook=workbook, exports=exports, flags=flags,
                status=status, decisions=decisions, manifest=manifest, ledger=ledger, rejects=rejects, base=base)


def test_the_review_sheet_carries_review_csv_columns_and_checks(loop):
    wb = openpyxl.load_workbook(loop["kept"])
    ws = wb[SHEET]
    names = [ws.cell(2, c).value for c in range(1, ws.max_column + 1)]
    for name in ("order_id", "shop", "buyer", "kind", "rules", "evidence", "lines", "affected_amount",
                 "missing_qty", "decision", "note", "decided_by", "decided_at"):
        assert name in names, name
    heads = {ws.cell(2, c).value: ws.cell(1, c).value for c in range(1, ws.max_column + 1)}
    assert (heads["decision"], heads["note"], heads["decided_by"], heads["decided_at"]) == ("判定", "备注", "判定人", "判定时间")
    rows, col = rows_by_order(ws)
    assert set(rows) == {WORDS, AMOUNT, "3000000000000000505"}  # the disputed orders, ids as text
    checks = {tuple(str(r) for r in dv.sqref.ranges): dv for dv in ws.data_validations.dataValidation}
    letter = openpyxl.utils.get_column_letter
    first, last = min(rows.values()), max(rows.values())
    dv = checks[(f"{letter(col['decision'])}{first}:{letter(col['decision'])}{last}",)]
    assert dv.type == "list" and dv.formula1 == '"商家,快递,买家,无责"'
    qty = checks[(f"{letter(col['missing_qty'])}{first}:{letter(col['missing_qty'])}{last}",)]
    # between is the schema's default operator: written as nothing
    assert (qty.type, qty.operator or "between", qty.formula1, qty.formula2) == ("whole", "between", "0", "1000000")
    assert written_by_shortship(loop["kept"])


def test_the_english_workbook_offers_the_codes(loop, tmp_path):
    from pipeline.export_xlsx import write_liabilities_xlsx

    con = db.connect(loop["base"] / "w.duckdb", read_only=True)
    try:
        out = write_liabilities_xlsx(con, tmp_path / "en.xlsx", lang="en")
    finally:
        con.close()
    ws = openpyxl.load_workbook(out)["review"]
    (dv,) = [d for d in ws.data_validations.dataValidation if d.type == "list"]
    assert dv.formula1 == '"merchant,courier,buyer,no_fault"'


def test_the_filled_workbook_decides_and_pays(loop):
    f, status = loop["flags"], loop["status"]
    assert f[WORDS]["decision"] == "merchant" and f[WORDS]["responsibility"] == "merchant"
    assert f[WORDS]["missing_qty"] == 1 and "review_decision" in f[WORDS]["rules"]
    assert status[WORDS] == "owed" and status[AMOUNT] == "excluded"
    assert f[AMOUNT]["decision"] == "no_fault"
    assert [r for r in loop["ledger"] if r[0] == WORDS and r[2] == "new"]
    assert loop["second"].files and loop["rejects"] == 0


def test_the_decision_keeps_its_file_sheet_and_line(loop):
    decision, qty, by, source, line, sheet = loop["decisions"][WORDS]
    assert (decision, qty, by, sheet) == ("merchant", 1, "小王", SHEET)
    assert source.endswith("liabilities.xlsx") and line >= 3
    ws = openpyxl.load_workbook(loop["exports"] / "liabilities.xlsx")[SHEET]
    rows, _ = rows_by_order(ws)
    assert line == rows[WORDS]
    assert f"liabilities.xlsx [{SHEET}], line {line})" in loop["flags"][WORDS]["evidence"]


def test_only_the_review_sheet_is_read_and_the_others_pass_quietly(loop):
    # one source: the review sheet, as decisions (two rows filled, one left empty: ignored)
    assert loop["manifest"] == [(SHEET, "decisions", 3, 2, 0, 1)]
    second = loop["second"]
    assert not second.not_exports  # no "skipped, not an export" for the results' sheets
    assert not any("liabilities.xlsx" in line and "skipped" in line for line in second.lines())


def test_a_workbook_whose_properties_were_lost_is_known_by_its_review_sheet(loop, tmp_path):
    wb = openpyxl.load_workbook(loop["kept"])
    for name in list(wb.custom_doc_props.names):
        del wb.custom_doc_props[name]
    wb.save(tmp_path / "resaved.xlsx")
    assert not written_by_shortship(tmp_path / "resaved.xlsx")
    (src,) = open_workbook(tmp_path / "resaved.xlsx")
    assert (src.sheet, src.kind, src.header_row) == (SHEET, "decisions", 2)


def test_our_workbook_is_no_export_of_another_kind(loop):
    with pytest.raises(NotAnExport, match="only its review sheet is read"):
        open_workbook(loop["kept"], "orders")
    (src,) = open_workbook(loop["kept"], "decisions")
    assert src.sheet == SHEET


def test_a_workbook_that_is_not_ours_loads_as_exports(tmp_path):
    """A sheet whose row 2 is data (an export, a person's own decisions list) is read as before."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "判定"
    ws.append(["订单编号", "判定", "备注"])
    ws.append([WORDS, "商家", "我的表"])
    orders = wb.create_sheet("订单")
    orders.append(["订单编号", "买家实付金额", "订单状态", "总金额"])
    orders.append([OWED, "10.00", "交易成功", "10.00"])
    wb.save(tmp_path / "mine.xlsx")
    assert not written_by_shortship(tmp_path / "mine.xlsx")
    assert sorted(s.kind for s in open_workbook(tmp_path / "mine.xlsx")) == ["decisions", "orders"]
    con = db.connect(tmp_path / "x.duckdb")
    try:
        results = load_paths(con, [tmp_path / "mine.xlsx"])
        assert sorted((r.sheet, r.kind, r.loaded) for r in results) == [("判定", "decisions", 1), ("订单", "orders", 1)]
    finally:
        con.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_choice_of_the_list_is_a_decision_the_loader_reads(tmp_path, lang):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["订单编号", "判定"])
    for i, choice in enumerate(DECISION_CHOICES[lang]):
        ws.append([f"300000000000000090{i}", choice])
    wb.save(tmp_path / "choices.xlsx")
    con = db.connect(tmp_path / "c.duckdb")
    try:
        (r,) = load_paths(con, [tmp_path / "choices.xlsx"])
        assert (r.loaded, r.rejected) == (4, 0)
        got = [d for (d,) in con.execute("select decision from decisions order by order_id").fetchall()]
        assert got == ["merchant", "courier", "buyer", "no_fault"]
    finally:
        con.close()
