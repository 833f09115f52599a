"""liabilities.xlsx for finance and the shop: what it owes, this run's payouts, and what to act on.

Layout (`write_liabilities_xlsx`): sheets, in this order (names in the run's language; with
`--lang en` the canonical names below)

- `summary`: one row per liability status (count, compensation_yuan, points,
  goods_refund_yuan, freight_yuan, total_yuan) and a last row whose status is `total`;
- `liabilities`: every row of the `liabilities` table, ordered by order_id;
- `payouts`: the rows of `payouts` written by the run (all runs when run_id is None);
- `reship`: the rows of reship.csv (what to send, order × SKU);
- `courier_claims`: the rows of courier_claims.csv (one per order to claim), and
  `claim_totals`: per carrier × month, then per carrier (month empty);
- `review`: the orders awaiting a review decision, with the columns of review.csv: the evidence,
  the order's lines, the units detected (`missing_qty`, to correct) and the empty columns a
  person fills: `decision` (a drop-down list of the four decisions: 商家, 快递, 买家, 无责; with
  `--lang en` merchant, courier, buyer, no_fault), `note`, `decided_by`, `decided_at`.
  `missing_qty` accepts whole numbers from 0 to 1,000,000 only. Filled and put with the
  exports (or given to `run`), the workbook is a decisions input: the loader recognises it by
  the custom document property WORKBOOK_PROPERTY (pipeline/io/xlsx.py) or by this sheet's row 2,
  reads this sheet alone and passes over the others.

The liabilities and payouts sheets carry every column of their table, in table order (a column
added later appears without code changes; its cell type follows its DuckDB type). The summary
also sums at_risk_yuan and recoverable_yuan when the table has them.

Every sheet has two header rows: row 1 the heading in the run's language (bold; Chinese by
default, from the message catalogue), row 2 the canonical English column name. Data start on
row 3; panes are frozen below row 2 and the filter sits on row 2, so
`pd.read_excel(path, sheet_name=..., header=1, dtype=str)` gives the canonical names. Code
values (status, kind, responsibility, payout form, ledger reason, ...) are labelled in Chinese
(`owed` -> 应赔付); with `--lang en` they are the codes, as in the Parquet files. Ids (order_id, run_id: text
columns) are text cells, so a 19-digit id keeps every digit (payout_id, our own sequence number,
is a whole number); money (DECIMAL columns) is a number cell with format `0.00`, converted from
the Decimal rounded to cents; points and counts are whole numbers; times are Excel datetimes
(China time, no zone). Summary rows follow STATUS_ORDER (unknown statuses after, by name).
Quoted free text (evidence) has its phone numbers masked.

The file is written to a temporary file in the same folder and moved into place with
os.replace: a reader sees the old workbook or the new one, never half of one.
"""
from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pipeline.errors import ShortshipError
from pipeline.io.xlsx import WORKBOOK_PROPERTY
from pipeline.locale import Messages, mask_phones, messages
from pipeline.publish import Stage
from pipeline.setdata import REVIEW_ORDER, SetData, SetInfo

EXCEL_MAX_ROWS = 1_048_576
HEADER_ROWS = 2
FETCH_ROWS = 10_000

# headings: the catalogue's context "column" (pipeline/locale); a column added to the tables later
# is written with its canonical name in both header rows and a cell type taken from its DuckDB type.
# Code columns whose values are labelled, and the catalogue context of their values:
CODE_COLUMNS = {"status": "status", "kind": "kind", "responsibility": "responsibility",
                "payout_form": "payout_form", "reason": "payout_reason", "claim_rule": "claim_rule",
                "freight_source": "freight_source", "decision": "decision", "hold": "hold"}
BASIS_CONTEXTS = {"reship": "reship_basis", "courier_claims": "claim_basis", "review": "basis"}
WIDTHS = {"id": 22, "text": 14, "money": 13, "int": 10, "bool": 9, "ts": 19, "num": 10}

STATUS_ORDER = ["owed", "curable", "cured", "courier", "disputed", "excluded", "awaiting_data"]
SUMMARY_SUMS = ["compensation_yuan", "points", "goods_refund_yuan", "freight_yuan", "total_yuan"]
SUMMARY_OPTIONAL = ["at_risk_yuan", "recoverable_yuan"]  # summed too when the table has them

_CENT = Decimal("0.01")


def _money(v) -> float:
    """A DECIMAL (never a float of ours) rounded to cents, as the number Excel stores."""
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    return float(d.quantize(_CENT, rounding=ROUND_HALF_UP))


def _cell_type(name: str, duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith("DECIMAL"):
        return "money"
    if t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"):
        return "int"
    if t == "BOOLEAN":
        return "bool"
    if t.startswith(("TIMESTAMP", "DATE")):
        return "ts"
    if t in ("DOUBLE", "FLOAT", "REAL"):
        return "num"
    if t == "VARCHAR" and (name.endswith("_id") or name == "order_id"):
        return "id"
    return "text"


def _table_columns(con, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = ? and table_schema = 'main' order by ordinal_position",
        [table],
    ).fetchall()
    if not rows:
        raise ShortshipError(f"no {table} table in the database (run liabilities first)")
    return [(n, _cell_type(n, t)) for n, t in rows]


class _Sheet:
    def __init__(self, wb, name: str, columns: list[tuple[str, str]], fmt: dict, m: Messages, key: str = ""):
        self.ws = wb.add_worksheet(m.pgettext("sheet", name))
        self.columns = columns
        self.fmt = fmt
        self.row = HEADER_ROWS
        ws = self.ws
        # the values labelled per column (None: as they are)
        self.labels = [
            (CODE_COLUMNS.get(col) or (BASIS_CONTEXTS.get(key or name) if col == "basis" else None))
            for col, _ in columns
        ]
        self.m = m
        # constant_memory: a row is flushed once a later row is written, so row by row
        for c, (col, typ) in enumerate(columns):
            ws.set_column(c, c, max(WIDTHS[typ], len(col) + 2))
            ws.write_string(0, c, m.heading(col), fmt["zh"])
        for c, (col, _) in enumerate(columns):
            ws.write_string(1, c, col, fmt["en"])
        ws.freeze_panes(HEADER_ROWS, 0)
        import xlsxwriter.utility

        id_ranges = [
            xlsxwriter.utility.xl_range(HEADER_ROWS, c, EXCEL_MAX_ROWS - 1, c)
            for c, (_, typ) in enumerate(columns) if typ == "id"
        ]
        if id_ranges:  # no "number stored as text" warning triangles on the id columns
            ws.ignore_errors({"number_stored_as_text": " ".join(id_ranges)})

    def write(self, values) -> None:
        if self.row >= EXCEL_MAX_ROWS:
            raise ShortshipError(
                f"sheet {self.ws.name!r}: more than {EXCEL_MAX_ROWS - HEADER_ROWS} rows do not fit in Excel"
            )
        ws, r, fmt = self.ws, self.row, self.fmt
        for c, ((col, typ), v, label) in enumerate(zip(self.columns, values, self.labels)):
            if v is None:
                continue
            if label:
                ws.write_string(r, c, self.m.cell(label, v))
            elif typ == "money":
                ws.write_number(r, c, _money(v), fmt["money"])
            elif typ == "int":
                ws.write_number(r, c, int(v), fmt["int"])
            elif typ == "bool":
                ws.write_boolean(r, c, bool(v))
            elif typ == "ts" and isinstance(v, (datetime, date)):
                ws.write_datetime(r, c, v, fmt["ts"])
            elif typ == "num":
                ws.write_number(r, c, v)
            elif isinstance(v, (list, tuple)):
                ws.write_string(r, c, ", ".join("" if x is None else str(x) for x in v))
            elif col == "evidence":
                ws.write_string(r, c, mask_phones(v))
            else:  # ids and text: always a string cell, never a number or a formula
                ws.write_string(r, c, str(v))
        self.row += 1

    def finish(self) -> None:
        self.ws.autofilter(1, 0, max(self.row - 1, 1), len(self.columns) - 1)


def _stream(con, sql: str, params, sheet: _Sheet) -> None:
    cur = con.execute(sql, params)
    while True:
        rows = cur.fetchmany(FETCH_ROWS)
        if not rows:
            break
        for row in rows:
            sheet.write(row)
    sheet.finish()


def _dict_sheet(wb, name: str, columns: list[tuple[str, str]], rows: list[dict], fmt: dict, m: Messages) -> None:
    sheet = _Sheet(wb, name, columns, fmt, m)
    for r in rows:
        sheet.write([r.get(c) for c, _ in columns])
    sheet.finish()
    _validate(sheet, name, m)


# what a person may type in the review sheet: the decisions the loader reads (sql/staging/
# decisions.sql: 商家, 快递, 买家, 无责 or the codes) and the units missing (0 to 1,000,000)
DECISION_CHOICES = {"zh": ["商家", "快递", "买家", "无责"], "en": ["merchant", "courier", "buyer", "no_fault"]}
MAX_MISSING_QTY = 1_000_000


def _validate(sheet: _Sheet, name: str, m: Messages) -> None:
    """The review sheet's checks on the rows it lists: 判定 from a drop-down list of the four
    decisions, 缺件数量 a whole number."""
    if name != "review" or sheet.row <= HEADER_ROWS:
        return
    col = {c: i for i, (c, _) in enumerate(sheet.columns)}
    first, last = HEADER_ROWS, sheet.row - 1
    if "decision" in col:
        choices = DECISION_CHOICES["en" if m.lang == "en" else "zh"]
        sheet.ws.data_validation(first, col["decision"], last, col["decision"], {
            "validate": "list", "source": choices,
            "input_title": m.heading("decision")[:32],
            "input_message": m.gettext("Who was at fault: merchant, courier, buyer or no_fault (nobody). "
                                       "Leave it empty while undecided.")[:255],
            "error_title": m.heading("decision")[:32],
            "error_message": m.gettext("Pick one of the list: merchant, courier, buyer, no_fault.")[:255],
        })
    if "missing_qty" in col:
        sheet.ws.data_validation(first, col["missing_qty"], last, col["missing_qty"], {
            "validate": "integer", "criteria": "between", "minimum": 0, "maximum": MAX_MISSING_QTY,
            "error_title": m.heading("missing_qty")[:32],
            "error_message": m.gettext("Units missing: a whole number from 0 to 1,000,000.")[:255],
        })


# the sheets of what to act on: (column, cell type)
RESHIP_SHEET = [("order_id", "id"), ("shop", "text"), ("buyer", "text"), ("sku", "text"), ("title", "text"),
                ("attributes", "text"), ("quantity", "int"), ("deadline", "ts"), ("hours_left", "num"),
                ("penalty_avoided_yuan", "money"), ("status", "text"), ("kind", "text"), ("basis", "text"),
                ("line_id", "text"), ("line_no", "int")]
CLAIM_SHEET = [("carrier", "text"), ("month", "text"), ("order_id", "id"), ("shop", "text"), ("basis", "text"),
               ("status", "text"), ("kind", "text"), ("tracking_nos", "text"), ("shipped_at", "ts"),
               ("goods_value_yuan", "money"), ("freight_yuan", "money"), ("freight_source", "text"),
               ("claim_rule", "text"), ("claim_yuan", "money"), ("weight_kg", "num"), ("expected_kg", "num")]
CLAIM_TOTALS_SHEET = [("carrier", "text"), ("month", "text"), ("orders", "int"), ("goods_value_yuan", "money"),
                      ("claim_yuan", "money")]
# review.csv's columns (pipeline/review.py), the order's times, and the columns a person fills
REVIEW_SHEET = [("order_id", "id"), ("shop", "text"), ("buyer", "text"), ("kind", "text"), ("rules", "text"),
                ("evidence", "text"), ("lines", "text"), ("paid_at", "ts"), ("deadline", "ts"),
                ("affected_amount", "money"), ("missing_qty", "int"), ("decision", "text"), ("note", "text"),
                ("decided_by", "text"), ("decided_at", "ts")]


def _review_rows(data: SetData) -> list[dict]:
    """The orders awaiting a decision, the largest first (as the report lists them)."""
    if data.review is None or not data.review.num_rows:
        return []
    return data.review.rows(REVIEW_ORDER)


def write_liabilities_xlsx(con, out_path: str | Path, run_id: str | None = None, lang: str = "zh",
                           data: SetData | None = None, created: datetime | None = None) -> Path:
    """Write liabilities.xlsx (see the module doc) atomically; returns the path written.
    `data`: the output set's rows (reship, courier claims and their totals, the review queue),
    as the set computed them (pipeline/export.py); without it they are computed here from the
    database (pipeline/setdata.py), for the workbook alone. `created`: the creation time in its
    properties (the set's clock: the same content gives the same bytes)."""
    if data is None:
        from pipeline import setdata

        try:
            data = setdata.compute(con, setdata.set_info(con, batch_id="workbook", run_id=run_id, lang=lang))
        finally:
            setdata.drop_temp(con)
    m = messages(lang)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=".xlsx.tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    import xlsxwriter  # only with --xlsx: not imported by a run without the workbook

    try:
        wb = xlsxwriter.Workbook(str(tmp), {
            "constant_memory": True,       # rows stream to disk: flat memory for big tables
            "strings_to_numbers": False,   # ids stay text
            "strings_to_formulas": False,  # a memo starting with '=' stays text
            "strings_to_urls": False,
        })
        fmt = {
            "zh": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1}),
            "en": wb.add_format({"font_color": "#595959", "italic": True, "bg_color": "#F2F2F2", "border": 1}),
            "money": wb.add_format({"num_format": "0.00"}),
            "int": wb.add_format({"num_format": "0"}),
            "ts": wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        }
        wb.set_properties({
            **({"created": created} if created is not None else {}),
            "title": "shortship liabilities",
            "subject": f"run {run_id}" if run_id else "all runs",
            "comments": "Generated by shortship; money in yuan (CNY), times China time (UTC+8).",
        })
        # the mark the loader knows it by: put back with the exports, only the review sheet is read
        wb.set_custom_property(*WORKBOOK_PROPERTY)

        liab_cols = _table_columns(con, "liabilities")
        pay_cols = _table_columns(con, "payouts")
        have = {n for n, _ in liab_cols}
        sum_cols = [c for c in SUMMARY_SUMS if c in have] + [c for c in SUMMARY_OPTIONAL if c in have]
        types = dict(liab_cols)
        sums = "".join(
            f", sum({c})::{'bigint' if types[c] == 'int' else 'decimal(18, 2)'} as {c}" for c in sum_cols
        )
        summary = _Sheet(wb, "summary", [("status", "text"), ("count", "int")]
                         + [(c, types[c]) for c in sum_cols], fmt, m)
        _stream(con, f"""
            select status, count{''.join(', ' + c for c in sum_cols)} from (
                select coalesce(list_position($order, status), 99) as _o, status, count(*) as count{sums}
                from liabilities group by status
                union all
                select 100, 'total', count(*){sums} from liabilities
            ) order by _o, status""", {"order": STATUS_ORDER}, summary)

        liab = _Sheet(wb, "liabilities", liab_cols, fmt, m)
        _stream(con, f"select {', '.join(n for n, _ in liab_cols)} from liabilities "
                     "order by order_id", [], liab)

        pay = _Sheet(wb, "payouts", pay_cols, fmt, m)
        select = f"select {', '.join(n for n, _ in pay_cols)} from payouts"
        if run_id is None:
            _stream(con, f"{select} order by payout_id", [], pay)
        else:
            _stream(con, f"{select} where run_id = ? order by payout_id", [run_id], pay)

        _dict_sheet(wb, "reship", RESHIP_SHEET, data.reship, fmt, m)
        _dict_sheet(wb, "courier_claims", CLAIM_SHEET, data.claims, fmt, m)
        _dict_sheet(wb, "claim_totals", CLAIM_TOTALS_SHEET, data.claim_totals, fmt, m)
        _dict_sheet(wb, "review", REVIEW_SHEET, _review_rows(data), fmt, m)

        wb.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it private; give it a normal file's mode
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def stage_xlsx(con, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of liabilities.xlsx (with --xlsx): this run's payouts, the set's rows."""
    if not info.xlsx:
        return
    write_liabilities_xlsx(con, stage.path("liabilities.xlsx"), run_id=info.run_id, lang=info.lang, data=data,
                           created=info.as_of)
    stage.add("liabilities.xlsx")
