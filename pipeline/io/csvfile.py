"""CSV exports: find the header, the dialect and the kind; stream a numbered UTF-8 copy.

The copy is what DuckDB parses: its first field is the source line number, then the fields
as exported (all text). Title rows above the header and blank lines are skipped.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ShortshipError
from pipeline.io.encoding import Encoding, detect_encoding, read_head, transcode_numbered_parts
from pipeline.io.headers import HeaderMap, detect_kind, looks_like_header, map_header

HEADER_SEARCH_ROWS = 20


@dataclass
class CsvSource:
    path: Path
    encoding: Encoding
    delimiter: str
    header: list[str]
    header_line: int  # 1-based physical line of the header
    header_map: HeaderMap
    trailing_comma: bool  # data rows carry one empty field more than the header
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.header_map.kind

    @property
    def field_count(self) -> int:
        return len(self.header) + (1 if self.trailing_comma else 0)


def _sniff_delimiter(line: str) -> str:
    return "\t" if line.count("\t") > line.count(",") else ","


def open_csv(path: Path, kind: str | None = None) -> CsvSource:
    """Read the head of a CSV export and work out how to parse it.

    Raises ShortshipError (one line naming the file) when it cannot be read, has no
    recognisable header, or lacks a required column.
    """
    enc = detect_encoding(path)
    head = read_head(path, enc)
    if head.startswith("\ufeff"):
        head = head[1:]
    lines = head.split("\n")
    if len(head) >= (1 << 18) - 1:
        lines = lines[:-1]  # the last line may be cut by the sample size
    first = next((ln for ln in lines if ln.strip()), "")
    if not first:
        raise ShortshipError(f"{path}: the file is empty")
    delimiter = _sniff_delimiter(first)
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))

    # physical line number of each parsed row: count line breaks as the csv module consumed them
    header_idx = None
    found_kind = None
    for idx, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if not any(c.strip() for c in row):
            continue
        k = kind or detect_kind(row)
        if kind and not looks_like_header(row):
            k = None
        if k:
            header_idx, found_kind = idx, k
            break
        if looks_like_header(row) and kind is None:
            header_idx = idx
            break
    if header_idx is None:
        raise ShortshipError(f"{path}: no recognisable export header in the first {HEADER_SEARCH_ROWS} rows")
    header = [h.strip() for h in rows[header_idx]]
    if found_kind is None:
        # a header of known names whose kind could not be decided: name what is missing
        hm = max(
            (map_header(k, header) for k in ("orders", "items", "refunds", "shipments")),
            key=lambda m: sum(1 for c in m.columns if c),
        )
        raise ShortshipError(f"{path}: {hm.kind} export lacks required column {', '.join(hm.missing_required())}")
    hm = map_header(found_kind, header)
    missing = hm.missing_required()
    if missing:
        raise ShortshipError(f"{path}: {found_kind} export lacks required column {', '.join(missing)}")

    header_line = _physical_line_of_row(lines, header_idx)
    data_rows = [r for r in rows[header_idx + 1 :] if any(c.strip() for c in r)]
    if not data_rows and len(head) < (1 << 18) - 1:
        raise ShortshipError(f"{path}: header only, no data rows")
    trailing = False
    if data_rows:
        r0 = data_rows[0]
        trailing = len(r0) == len(header) + 1 and r0[-1].strip() == ""
    return CsvSource(
        path=path,
        encoding=enc,
        delimiter=delimiter,
        header=header,
        header_line=header_line,
        header_map=hm,
        trailing_comma=trailing,
    )


def _physical_line_of_row(lines: list[str], row_idx: int) -> int:
    """1-based physical line on which parsed row `row_idx` ends (quotes may span lines)."""
    in_quote = False
    row = 0
    for i, ln in enumerate(lines):
        if ln.count('"') & 1:
            in_quote = not in_quote
        if not in_quote:
            if row == row_idx:
                return i + 1
            row += 1
    return len(lines)


def numbered_parts(src: CsvSource, out_dir: Path, tick=None, pool=None):
    """Stream the data records of `src` into numbered UTF-8 part files under `out_dir`
    (one for a small file, several transcoded in parallel for a large one, by `pool` when
    given: see encoding.new_pool)."""
    return transcode_numbered_parts(src.path, src.encoding, out_dir, src.header_line, src.delimiter,
                                    tick=tick, pool=pool)
