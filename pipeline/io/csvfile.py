"""CSV exports: find the header, the dialect and the kind; stream a numbered UTF-8 copy.

The copy is what DuckDB parses: its first field is the source line number, then the fields
as exported (all text). Title rows above the header and blank lines are skipped. The header is
found among the records of the file's head cut by the same rule as the transcoder's
(pipeline/io/records.py), so both agree on where the header ends and the data begins.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ShortshipError
from pipeline.io.encoding import Encoding, detect_encoding, read_head, transcode_numbered_parts
from pipeline.io.errors import NotAnExport
from pipeline.io.headers import HeaderMap, detect_kind, lacks, map_header, signature_hits
from pipeline.io.records import number_lines, physical_lines, split_fields

HEADER_SEARCH_ROWS = 20
HEAD_CHARS = 1 << 18


@dataclass
class CsvSource:
    path: Path
    encoding: Encoding
    delimiter: str
    header: list[str]
    header_line: int  # 1-based physical line on which the header record ends
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

    @property
    def record_fields(self) -> set[int]:
        """The field counts a record spanning several lines may have."""
        return {len(self.header), self.field_count}


def _sniff_delimiter(line: str) -> str:
    return "\t" if line.count("\t") > line.count(",") else ","


def head_records(path: Path, enc: Encoding) -> tuple[str, list[tuple[int, int, list[str]]], list[int], bool]:
    """The delimiter, the records of the file's head as (first line, last line, fields; the
    fields of the first HEADER_SEARCH_ROWS + 1 records only, None after them), the
    lines of the records refused there (broken quoting), and whether the head is the whole
    file. NotAnExport when the head holds nothing."""
    try:
        head, complete = read_head(path, enc, HEAD_CHARS)
    except OSError as e:
        raise NotAnExport(f"{path}: cannot read the file ({e.strerror or e})") from None
    if head.startswith("\ufeff"):
        head = head[1:]
    lines = physical_lines(head)
    if not complete:
        if "\n" not in head and "\r" not in head:
            raise NotAnExport(f"{path}: no header found (no line break in the first {HEAD_CHARS // 1024} KB)")
        lines = lines[:-1]  # the last line may be cut by the sample size
    first = next((ln for ln in lines if ln.strip()), "")
    if not first:
        raise NotAnExport(f"{path}: the file is empty")
    delimiter = _sniff_delimiter(first)
    split = number_lines(lines, delimiter)
    records = []
    for i, rec in enumerate(split.out):
        num, _, text = rec[:-1].partition(delimiter)
        # the fields of the records the header can be among, and of the first record after it:
        # the rest of the head only counts (splitting a 256 KB head cost 20 ms a file)
        fields = split_fields(text, delimiter) if i <= HEADER_SEARCH_ROWS else None
        records.append((int(num), int(num) + text.count("\n"), fields))
    return delimiter, records, [line for line, _ in split.rejects], complete


def open_csv(path: Path, kind: str | None = None) -> CsvSource:
    """Read the head of a CSV export and work out how to parse it.

    Raises NotAnExport (one line naming the file) when it cannot be read, is empty, has no
    recognisable header or no data rows, and ShortshipError when it lacks a required column.
    """
    enc = detect_encoding(path)
    delimiter, records, refused, complete = head_records(path, enc)
    if not records:
        raise NotAnExport(f"{path}: no header found")
    found = None
    for idx, (_first, last, row) in enumerate(records[:HEADER_SEARCH_ROWS]):
        k = detect_kind(row) if kind is None else (kind if signature_hits(kind, row) or detect_kind(row) == kind else None)
        if k:
            found = (idx, last, [h.strip() for h in row], k)
            break
    if found is None:
        what = f"{kind} " if kind else ""
        raise NotAnExport(f"{path}: no recognisable {what}export header in the first {HEADER_SEARCH_ROWS} rows")
    idx, header_line, header, found_kind = found
    if kind is not None and detect_kind(header) not in (None, kind):
        raise NotAnExport(f"{path}: this is a {detect_kind(header)} export, not {kind}")
    hm = map_header(found_kind, header)
    problem = lacks(hm) or hm.duplicate_problem()
    if problem:
        raise ShortshipError(f"{path}: {problem}")
    data = records[idx + 1:]
    if not data and complete and not any(line > header_line for line in refused):
        raise NotAnExport(f"{path}: header only, no data rows")
    trailing = False
    if data:
        r0 = data[0][2]
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


def numbered_parts(src: CsvSource, out_dir: Path, tick=None, pool=None):
    """Stream the data records of `src` into numbered UTF-8 part files under `out_dir`
    (one for a small file, several transcoded in parallel for a large one, by `pool` when
    given: see encoding.new_pool)."""
    return transcode_numbered_parts(src.path, src.encoding, out_dir, src.header_line, src.delimiter,
                                    fields=src.record_fields, tick=tick, pool=pool)

