"""XLSX exports (what 千牛 hands out today): one source per recognised sheet.

A workbook is read with python-calamine (a Rust reader). Every worksheet is searched for an
export header among its first `HEADER_SEARCH_ROWS` non-blank rows (title rows above the header
are skipped): the first row that holds a signature name of some kind (pipeline/io/headers.py).
A sheet whose header is recognised becomes a source of its kind, a sheet with nothing
recognisable (a summary, an empty `Sheet2`) is passed over. A workbook that cannot be read or
has no recognised sheet is NotAnExport (skipped in a folder, an error when named); a
recognised sheet that lacks a required column is a ShortshipError naming the file, the sheet
and the column.

`XlsxSource.insert_raw` turns every cell into the text the CSV path would have seen for the
same export and bulk-inserts it into `raw_<kind>` through pyarrow tables registered in DuckDB,
a chunk of rows at a time. Cell rules (`cell_text`):

- strings as they are; empty cells are NULL (as an empty CSV field);
- integers, and floats that are whole and below 2**53, as digits without `.0`;
- other floats with at most 15 significant digits (what Excel keeps and shows), so binary
  noise such as 0.1 + 0.2 = 0.30000000000000004 comes out as `0.3`;
- in an id column (order_id, line_id, refund_id, payment_no, main_order_id) a number of 1e15
  or more went through Excel and lost digits: it is written in scientific notation
  (`2.14073006270149E+16`), which the staging model rejects as "id in scientific notation";
- datetimes as `YYYY-MM-DD HH:MM:SS` (rounded to the second), dates (calamine's answer for a
  date-time at midnight) as `YYYY-MM-DD`, times as `HH:MM:SS`; in a date column (`*_at`,
  `ship_by`) an Excel serial number (10000 to 2958465, i.e. 1927 to 9999) or a date shown with
  a duration format becomes the same `YYYY-MM-DD HH:MM:SS` text;
- booleans as `TRUE` / `FALSE` (as Excel writes them to CSV).

`line` is the sheet row number as Excel shows it (1-based). Blank rows are not records. A row
with values right of the header's last named column is rejected (as the CSV path rejects a row
with more fields than the header) and reported in `rejects` with its row number.

shortship's own workbook (liabilities.xlsx, pipeline/export_xlsx.py) is a way back, never an
export: the writer leaves WORKBOOK_PROPERTY in its custom document properties (Excel, WPS and
openpyxl keep them), and every sheet carries the canonical column names in row 2. A workbook
with the property, or with a sheet whose row 2 names both `order_id` and `decision` (the review
sheet, should a tool have dropped the properties), is read for its review sheet alone: as
decisions, with row 2 as the header (the filled 判定 / decision column, 缺件数量, 备注, 判定人,
判定时间); its other sheets (summary, liabilities, payouts, reship, courier claims) are results
and are passed over without a word.
"""
from __future__ import annotations

import datetime as dt
import gc
import os
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import python_calamine as pc

from pipeline.errors import ShortshipError
from pipeline.io.errors import NotAnExport
from pipeline.io.headers import KINDS, HeaderMap, detect_kind, lacks, map_header, normalize_header, signature_hits

HEADER_SEARCH_ROWS = 20
CHUNK_ROWS = 50_000

# shortship's own workbook: the custom document property the writer sets (name, value), and the
# row of its sheets that holds the canonical column names (row 1: the headings people read)
WORKBOOK_PROPERTY = ("shortship", "liabilities.xlsx")
CANONICAL_ROW = 2
REVIEW_COLUMNS = frozenset({"order_id", "decision"})  # row 2 of the review sheet names both

ID_COLUMNS = frozenset({"order_id", "line_id", "refund_id", "payment_no", "main_order_id"})
EXCEL_ID_LIMIT = 1e15  # Excel keeps 15 significant digits: a number id this large lost some
_EXACT_INT_LIMIT = 2**53
_SERIAL_MIN, _SERIAL_MAX = 10_000, 2_958_466  # 1927-05-18 .. 9999-12-31 (ss_ts takes 5 digits)
_EPOCH = dt.datetime(1899, 12, 30)


def is_date_column(canon: str | None) -> bool:
    return bool(canon) and (canon.endswith("_at") or canon == "ship_by")


# ---------------------------------------------------------------------------- cell -> text

def _float_text(x: float) -> str:
    if x.is_integer() and -_EXACT_INT_LIMIT < x < _EXACT_INT_LIMIT:
        return str(int(x))
    if x != x or x in (_INF, -_INF):
        return str(x)
    s = "%.15g" % x
    if "e" in s:
        if abs(x) >= 1:  # too large for its digits to be real: show it as Excel does
            return "%.15G" % x
        s = format(Decimal(s), "f")
    return s


_INF = float("inf")


def _datetime_text(v: dt.datetime) -> str:
    if v.microsecond:
        v = v.replace(microsecond=0) + (_SECOND if v.microsecond >= 500_000 else _ZERO)
    return v.isoformat(" ")


_SECOND, _ZERO = dt.timedelta(seconds=1), dt.timedelta(0)


def _serial_text(x: float) -> str:
    return (_EPOCH + dt.timedelta(seconds=round(x * 86400))).isoformat(" ")


def _other_text(v) -> str | None:
    t = v.__class__
    if t is bool:
        return "TRUE" if v else "FALSE"
    if t is int:
        return str(v)
    if t is dt.datetime:
        return _datetime_text(v)
    if t is dt.date:
        return v.isoformat()
    if t is dt.time:
        return v.replace(microsecond=0).isoformat()
    if t is dt.timedelta:
        total = round(v.total_seconds())
        sign, total = ("-" if total < 0 else ""), abs(total)
        return f"{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
    if v is None:
        return None
    return str(v) or None


def _id_float(x: float) -> str:
    if -EXCEL_ID_LIMIT < x < EXCEL_ID_LIMIT:
        return _float_text(x)
    return "%.15G" % x  # digits lost in Excel: let staging reject it as scientific notation


def _date_float(x: float) -> str:
    if _SERIAL_MIN <= x < _SERIAL_MAX:
        return _serial_text(x)
    return _float_text(x)


def _date_other(v) -> str | None:
    """A date column's non-float cell: a duration-formatted date ([h]:mm:ss) is still a date."""
    if v.__class__ is dt.timedelta and _SERIAL_MIN <= v.days < _SERIAL_MAX:
        return _datetime_text(_EPOCH + v)
    return _other_text(v)


def _converters(canon: str | None):
    if canon in ID_COLUMNS:
        return _id_float, _other_text
    if is_date_column(canon):
        return _date_float, _date_other
    return _float_text, _other_text


def cell_text(v, canon: str | None = None) -> str | None:
    """The text of one cell as the CSV export of the same data would hold it (None = empty).

    `canon` is the canonical column the cell belongs to (None for an extra column).
    """
    t = v.__class__
    if t is str:
        return v or None
    ftext, otext = _converters(canon)
    return ftext(v) if t is float else otext(v)


def column_text(values, canon: str | None) -> list[str | None]:
    """cell_text over a column, strings (most cells) and floats on fast paths."""
    ftext, otext = _converters(canon)
    return [
        (v or None) if v.__class__ is str else ftext(v) if v.__class__ is float else otext(v)
        for v in values
    ]


# ---------------------------------------------------------------------------- workbook

# The sheets parsed while opening the last workbook, kept so that loading it right after does
# not parse it again (the common case: one workbook per load). At most one workbook is held.
_parsed: dict = {"key": None, "sheets": {}}


def _file_key(path: Path) -> tuple:
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def _read_sheet(path: Path, name: str):
    key = _file_key(path)
    if _parsed["key"] == key and name in _parsed["sheets"]:
        return _parsed["sheets"].pop(name)
    try:
        return pc.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name)
    except Exception as e:  # calamine raises its own error types (zip, xml, password)
        raise ShortshipError(f"{path}: cannot read sheet {name!r} ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _blank(row: list) -> bool:
    return row.count("") == len(row)


@dataclass
class XlsxSource:
    path: Path
    sheet: str
    header: list[str]
    header_row: int  # 1-based sheet row of the header
    header_map: HeaderMap
    encoding: str = "xlsx"  # what load_manifest.encoding records

    @property
    def kind(self) -> str:
        return self.header_map.kind

    def insert_raw(self, con, load_id: int, target: str | None = None) -> tuple[int, int, list[tuple[int | None, str]]]:
        """Insert the sheet's data rows into `target` (default raw_<kind>), shaped like raw_<kind>.

        Returns (data rows in the sheet, rows inserted, [(row, reason)] for rows not inserted).
        """
        sheet = _read_sheet(self.path, self.sheet)
        width = len(self.header)
        columns = list(self.header_map.columns)
        extra_pos = [p for p, c in enumerate(columns) if not c]
        extra_keys = _unique([self.header[p].strip() or f"column_{p + 1}" for p in extra_pos])
        mapped = [(p, c) for p, c in enumerate(columns) if c]

        # a column named under two of its aliases is read from both (HeaderMap.value_sql)
        also = [(p, c) for c, ps in self.header_map.more.items() for p in ps]
        table = f"_xlsx_rows_{load_id}"
        cols = ["load_id", "line"] + [c for _, c in mapped]
        select = [f"{int(load_id)}::integer", "line"] + [
            self.header_map.value_sql(c, lambda p: f'"s{p}"') for _, c in mapped]
        if extra_keys:
            cols.append("extra")
            select.append(f"map($keys, [{', '.join(f'e{i}' for i in range(len(extra_keys)))}])")
        sql = f"insert into {target or 'raw_' + self.kind} ({', '.join(cols)}) select {', '.join(select)} from {table}"
        params = {"keys": extra_keys} if extra_keys else {}

        rows_in = 0
        inserted = 0
        rejects: list[tuple[int | None, str]] = []
        lines: list[int] = []
        chunk: list[list] = []

        def flush() -> None:
            if not chunk:
                return
            data = list(zip(*chunk))
            import pyarrow as pa  # here: a run over CSV files imports no pyarrow (pipeline/setdata.py)

            arrays = {"line": pa.array(lines, type=pa.int64())}
            for p, c in mapped + also:
                arrays[f"s{p}"] = pa.array(column_text(data[p], c), type=pa.string())
            for i, p in enumerate(extra_pos):
                arrays[f"e{i}"] = pa.array(column_text(data[p], None), type=pa.string())
            con.register(table, pa.table(arrays))
            try:
                con.execute(sql, params)
            finally:
                con.unregister(table)
            chunk.clear()
            lines.clear()

        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of short-lived lists: the cycle collector only slows this down
        try:
            for lineno, row in enumerate(sheet.iter_rows(), start=1):
                if lineno <= self.header_row or _blank(row):
                    continue
                rows_in += 1
                n = len(row)
                if n > width:
                    over = row[width:]
                    if over.count("") != len(over):
                        last = max(i for i, c in enumerate(over) if c != "") + width + 1
                        rejects.append((lineno, f"row has {last} fields, the header has {width} "
                                                f"(values right of the last named column)"))
                        continue
                    row = row[:width]
                elif n < width:
                    row = row + [""] * (width - n)
                chunk.append(row)
                lines.append(lineno)
                inserted += 1
                if len(chunk) >= CHUNK_ROWS:
                    flush()
            flush()
        except duckdb.Error as e:
            raise ShortshipError(f"{self.path} [{self.sheet}]: cannot load rows ({_one_line(e)})") from None
        finally:
            if gc_was_enabled:
                gc.enable()
        return rows_in, inserted, rejects


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 1)
        out.append(n)
    return out


@dataclass
class _SheetHead:
    name: str
    row: int | None = None  # 1-based row of the header, None when none was found
    header: list[str] | None = None
    kind: str | None = None  # the kind the header resembles most, or the kind given
    other_kind: str | None = None  # with a kind given: the sheet is an export of another kind


def _find_header(sheet, name: str, kind: str | None) -> _SheetHead:
    """The first of the sheet's first HEADER_SEARCH_ROWS non-blank rows that holds a signature
    name (pipeline/io/headers.py): of any kind, or of `kind` when it is given."""
    head = _SheetHead(name)
    seen = 0
    for lineno, row in enumerate(sheet.iter_rows(), start=1):
        if _blank(row):
            continue
        seen += 1
        if seen > HEADER_SEARCH_ROWS:
            break
        names = [(cell_text(c) or "").strip() for c in row]
        while names and not names[-1]:
            names.pop()
        detected = detect_kind(names)
        if kind is not None:
            if (signature_hits(kind, names) or detected == kind) and detected in (None, kind):
                head.row, head.header, head.kind = lineno, names, kind
                return head
            if detected is not None:
                head.row, head.header, head.other_kind = lineno, names, detected
                return head
            continue
        if detected is not None:
            head.row, head.header, head.kind = lineno, names, detected
            return head
    return head


def written_by_shortship(path: Path) -> bool:
    """Whether the workbook carries the property liabilities.xlsx is written with."""
    name, value = WORKBOOK_PROPERTY
    try:
        with zipfile.ZipFile(path) as z:
            if "docProps/custom.xml" not in z.namelist():
                return False
            xml = z.read("docProps/custom.xml").decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile, KeyError):
        return False
    m = re.search(r'<property\b[^>]*\bname="' + re.escape(name) + r'"[^>]*>(.*?)</property>', xml, re.S)
    return bool(m) and value in m.group(1)


def _first_rows(sheet, n: int) -> list[list[str]]:
    """The sheet's first n rows (blank ones too), as header text."""
    out = []
    for row in sheet.iter_rows():
        out.append([(cell_text(c) or "").strip() for c in row])
        if len(out) == n:
            break
    return out


def _review_source(path: Path, name: str, sheet) -> XlsxSource | None:
    """The review sheet of shortship's workbook as a decisions source (row 2 the header), or None
    when the sheet is not one."""
    rows = _first_rows(sheet, CANONICAL_ROW)
    if len(rows) < CANONICAL_ROW or _blank(rows[0]):
        return None
    header = rows[CANONICAL_ROW - 1]
    while header and not header[-1]:
        header.pop()
    if not REVIEW_COLUMNS <= {normalize_header(h) for h in header}:
        return None
    hm = map_header("decisions", header)
    problem = lacks(hm) or hm.duplicate_problem()
    if problem:
        raise ShortshipError(f"{path}: sheet {name!r}: {problem}")
    return XlsxSource(path=path, sheet=name, header=header, header_row=CANONICAL_ROW, header_map=hm)


def _our_workbook(path: Path, wb, names: list[str], kind: str | None, loaded: dict) -> list[XlsxSource]:
    """The sources of shortship's own workbook: its review sheet, as decisions (the others are
    results, passed over). The review sheet is the last one the writer adds: looked for from
    the end."""
    if kind not in (None, "decisions"):
        raise NotAnExport(f"{path}: shortship's own workbook (liabilities.xlsx) holds no {kind} export; "
                          "only its review sheet is read, as decisions")
    for name in reversed(names):
        sheet = loaded.get(name)
        if sheet is None:
            try:
                sheet = wb.get_sheet_by_name(name)
            except Exception as e:
                raise ShortshipError(f"{path}: cannot read sheet {name!r} ({_one_line(e)})") from None
        src = _review_source(path, name, sheet)
        if src is not None:
            _parsed["key"] = _file_key(path)
            _parsed["sheets"] = {name: sheet}
            return [src]
    raise NotAnExport(f"{path}: shortship's own workbook (liabilities.xlsx) without its review sheet: "
                      "nothing to load")


def open_workbook(path: Path, kind: str | None = None) -> list[XlsxSource]:
    """The sources of a workbook: one per sheet whose header is recognised; of shortship's own
    workbook, its review sheet alone (as decisions).

    With `kind` given, sheets recognised as another kind are passed over and a sheet whose
    header is export-like but undecided is taken as `kind`.
    """
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise ShortshipError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
        names = [m.name for m in wb.sheets_metadata if m.typ == pc.SheetTypeEnum.WorkSheet]
    except Exception as e:
        raise NotAnExport(f"{path}: cannot read as an xlsx workbook ({_one_line(e)})") from None
    if written_by_shortship(path):
        return _our_workbook(path, wb, names, kind, {})

    loaded: dict = {}
    for name in names:
        try:
            loaded[name] = sheet = wb.get_sheet_by_name(name)
        except Exception as e:
            raise ShortshipError(f"{path}: cannot read sheet {name!r} ({_one_line(e)})") from None
        if _review_source(path, name, sheet) is not None:  # ours, its properties lost on the way
            return _our_workbook(path, wb, names, kind, loaded)

    sources: list[XlsxSource] = []
    keep: dict = {}
    others: list[str] = []
    for name in names:
        sheet = loaded[name]
        head = _find_header(sheet, name, kind)
        if head.row is None:
            continue
        if head.other_kind is not None:
            others.append(f"{name!r} is a {head.other_kind} export")
            continue
        hm = map_header(head.kind, head.header)
        problem = lacks(hm) or hm.duplicate_problem()
        if problem:
            raise ShortshipError(f"{path}: sheet {name!r}: {problem}")
        sources.append(XlsxSource(path=path, sheet=name, header=head.header, header_row=head.row, header_map=hm))
        keep[name] = sheet
    if not sources:
        what = f"{kind} " if kind else ""
        detail = f" ({'; '.join(others)})" if others else ""
        raise NotAnExport(f"{path}: no sheet with a recognisable {what}export header{detail}")
    _parsed["key"] = _file_key(path)
    _parsed["sheets"] = keep
    return sources
