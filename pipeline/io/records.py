"""Where a CSV record starts and ends: the one rule that the transcoder (pipeline/io/encoding.py,
serial and parallel) and the header reader (pipeline/io/csvfile.py) both apply, so that they, and
DuckDB after them, cannot disagree about where records start.

The rule (RFC 4180, read strictly, as DuckDB reads it):

* Lines are physical lines: a line break is LF, CRLF or a lone CR (old Excel), each one break.
* A field is either quoted (`"..."`, a quote inside written as `""`; it may hold delimiters and
  line breaks), a bare Excel formula (`="..."`: an `=` and then a quoted field, as the seller
  back office writes ids: `="35153131473293579","tb6125470",...`, an empty one `=""`), or
  unquoted (no quote at all). A record is fields separated by the delimiter, ending at a line
  break outside quotes. A formula field reads as its text (`35153131473293579`): the copy
  handed to DuckDB writes it as a quoted field (`"35153131473293579"`). The re-saved variant,
  a quoted field holding the formula (`"=""35153131473293579""\"`), is an ordinary quoted
  field whose text is `="35153131473293579"`; the value rules unwrap it
  (sql/schema/00_macros.sql, ss_unwrap).
* A record may span several physical lines (a buyer message with line breaks), but at most
  MAX_RECORD_LINES lines and MAX_RECORD_CHARS characters: far more than any real message. A
  record that spans lines must also have the header's number of fields, and none of the lines
  it runs on over may look like a record itself (in an export of four or more columns: as many
  delimiters before its first quote as a record has), so two stray quotes cannot fold the rows
  between them into one.
* A record whose quoting is broken is refused at its FIRST line, and the next record is looked
  for on the NEXT line, so a broken quote costs only the line it is on:
    - `unclosed quote`: a quoted field that does not end with a quote followed by the delimiter
      or the line end (its closing quote is missing), within the cap;
    - `stray quote in an unquoted field`: a `"` inside a field that does not start with one
      (`9999300000000001,TV-55",1`).
* A line holding a NUL character is refused the same way. (A line longer than MAX_LINE_BYTES
  in UTF-8 is refused by DuckDB's reader, with its line: see pipeline/load.py.)
* Blank lines (empty, white space, or only delimiters) are not records.

Only records that follow the rule reach DuckDB, numbered with the physical line they start on,
so its CSV reader splits them exactly where this module did. Most lines are checked by a couple
of string counts (the fast path); only lines with quotes in other places are scanned field by
field. The transcoder goes further (`RecordSplitter.write_numbered`): it checks blocks of lines
at once on their UTF-8 bytes and numbers the plain ones in bulk, handing only the others to the
fast and slow paths, with the same result (tests/io/test_numbered_blocks.py).
"""
from __future__ import annotations

import functools
from itertools import chain
from typing import Callable, Iterator

MAX_RECORD_LINES = 200
MAX_RECORD_CHARS = 200_000

UNCLOSED = "unclosed quote"
STRAY = "stray quote in an unquoted field"
MAX_LINE_BYTES = 4 * MAX_RECORD_CHARS  # DuckDB's max_line_size for the numbered copy
NUL = "NUL byte in the row (binary data in a text export)"
TOO_LONG = f"row longer than {MAX_LINE_BYTES:,} bytes"

# a line the chunk reader found to hold a NUL is handed to the splitter with this prefix, which
# sends it off the fast path (it starts with a character that is not a quote and holds a quote)
MARK = '\x00"'

_CLOSED, _OPEN, _STRAY, _UNCLOSED = 0, 1, 2, 3


def scan(text: str, d: str, pos: int = 0, nfields: int = 0) -> tuple[int, int, int]:
    """Scan the fields of `text` (one record's text so far) from field start `pos`.

    Returns (state, position, fields): _CLOSED with the number of fields when `text` is a whole
    record; _OPEN with the start of the quoted field that runs past the end of `text` (scan on
    from there once the next line is appended) and the fields before it; _STRAY or _UNCLOSED
    when the quoting is broken."""
    n = len(text)
    find = text.find
    while True:
        nfields += 1
        if pos + 1 < n and text[pos] == "=" and text[pos + 1] == '"':
            pos += 1  # a bare formula ="...": the quoted field after the `=`
            formula = True
        else:
            formula = False
        if pos < n and text[pos] == '"':
            start = pos
            p = pos + 1
            while True:
                q = find('"', p)
                if q < 0:
                    return _OPEN, start, nfields - 1
                if q + 1 < n and text[q + 1] == '"':
                    p = q + 2  # a doubled quote inside the field
                    continue
                break
            pos = q + 1
            if pos == n:
                return _CLOSED, pos, nfields
            if text[pos] != d:
                # `"ab"c` is a quoted field left unclosed; `="ab"c` was never a formula field,
                # but an unquoted one holding quotes
                return (_STRAY if formula else _UNCLOSED), pos, nfields
            pos += 1
        else:
            e = find(d, pos)
            if e < 0:
                e = n
            if find('"', pos, e) >= 0:
                return _STRAY, pos, nfields
            if e == n:
                return _CLOSED, n, nfields
            pos = e + 1


def split_fields(record: str, d: str) -> list[str]:
    """The field values of one record that follows the rule (quotes removed, `""` -> `"`)."""
    out: list[str] = []
    n = len(record)
    pos = 0
    while True:
        if pos + 1 < n and record[pos] == "=" and record[pos + 1] == '"':
            pos += 1  # a bare formula ="...": its text is the quoted field's
        if pos < n and record[pos] == '"':
            p = pos + 1
            parts = []
            while True:
                q = record.find('"', p)
                if q < 0:  # not a record that follows the rule: keep the rest as it is
                    parts.append(record[p:])
                    return out + ["".join(parts)]
                if q + 1 < n and record[q + 1] == '"':
                    parts.append(record[p:q + 1])
                    p = q + 2
                    continue
                parts.append(record[p:q])
                break
            out.append("".join(parts))
            pos = q + 1
            e = record.find(d, pos)
            if e < 0:
                return out
            pos = e + 1
        else:
            e = record.find(d, pos)
            if e < 0:
                out.append(record[pos:])
                return out
            out.append(record[pos:e])
            pos = e + 1


def is_blank(line: str, d: str) -> bool:
    """Empty, white space only, or only delimiters and white space: not a record."""
    return not line or line.isspace() or (line[0] == d or line[0].isspace()) and not line.strip(d + " \t\u3000")


class RecordSplitter:
    """Splits physical lines into records by the rule above and writes each record that follows
    it to `out` as `<line><delimiter><record>\\n` (the numbered copy DuckDB parses).

    Feed it an iterator of physical lines (line breaks removed) with `feed`; `lineno` is the
    number of the line before the first one fed. Records refused go to `rejects` as (line,
    reason). `fields`: the field counts a record spanning several lines may have (None: any).
    `beyond(i)`: the i-th line after the end of what is fed (None past the end of the file), for
    a worker that owns a byte range of a file: a record starting in its range may end after it;
    `beyond_lines` is then how many of those lines the last record took.
    """

    def __init__(self, delimiter: str, lineno: int = 0, fields: set[int] | None = None,
                 beyond: Callable[[int], str | None] | None = None):
        self.d = delimiter
        self.qdq = '"' + delimiter + '"'
        self.qdf = '"' + delimiter + '="'  # a field boundary before a bare formula
        self.lineno = lineno
        self.records = 0  # records written to out
        self.out: list[str] = []
        self.rejects: list[tuple[int, str]] = []
        self.fields = fields
        self.beyond = beyond
        self.beyond_lines = 0

    def take_output(self) -> str:
        text = "".join(self.out)
        self.out.clear()
        return text

    def feed(self, lines: Iterator[str]) -> None:
        it: Iterator[str] | None = iter(lines)
        while it is not None:
            it = self._fast(it)

    def write_numbered(self, text: bytes, pos: int, write: Callable[[bytes], object]) -> None:
        """Split the lines of `text[pos:]` (UTF-8, each line ending in LF, none holding a CR)
        into records as `feed` does, and write the numbered copy to `write` as UTF-8 bytes.

        The text is taken in blocks of about BLOCK_BYTES, whose lines `_plain_lines` sorts at
        once: a run of plain lines (each a whole record that `_fast` writes as it is, or with its
        bare formulas as quoted fields) is numbered at once; any other line goes through `_fast`
        (and `_slow`, which may take the lines after it, past the block too: the lines after
        the record it took are sorted again). Same records, numbers and rejects as `feed`."""
        import numpy as np  # here, not at the top: most commands never transcode a large file

        n = len(text)
        d = self.d.encode()
        form = b"%d" + d + b"%b\n"
        while pos < n:
            end = text.find(b"\n", pos + BLOCK_BYTES) + 1 or n
            plain, starts, ends, at, good = _plain_lines(text[pos:end], d[0])
            lines = len(good)
            odd = np.flatnonzero(~good).tolist() + [lines]
            i = 0
            for j in odd:
                if j > i:  # lines i..j-1 are plain
                    first = self.lineno + 1
                    rows = plain[starts[i]:ends[j - 1]].split(b"\n")
                    write(b"".join([form % x for x in zip(range(first, first + j - i), rows)]))
                    self.lineno += j - i
                    self.records += j - i
                if j == lines:
                    break
                # line j, and the lines its record takes, line by line
                cursor = _Cursor(text, pos + int(at[j]), pos + int(at[j]) + 1)
                it: Iterator[str] | None = cursor
                while it is not None:
                    it = self._fast(it)
                if self.out:
                    write(self.take_output().encode("utf-8"))
                if cursor.pos >= end:  # the record ran on past the block
                    break
                i = int(np.searchsorted(at, cursor.pos - pos))
                if i > j + 1:  # lines taken by that record: sort the rest of the block again
                    break
            pos = end if j == lines else cursor.pos

    def _fast(self, it: Iterator[str]) -> Iterator[str] | None:
        """The common case: a line without quotes, or whose fields are all quoted (doubled
        quotes inside allowed, a trailing delimiter allowed), is a whole record. Any other line
        goes to _slow, which returns the iterator to go on with."""
        d = self.d
        qdq = self.qdq
        qdf = self.qdf
        out = self.out
        append = out.append
        before = len(out)
        lineno = self.lineno
        for lineno, line in enumerate(it, lineno + 1):
            if '"' in line:
                if line[0] == "=" or qdf in line:
                    # bare formulas (="123","a",="",...): written as plain quoted fields, the
                    # line is whole if then every quote is at a field boundary (no quote inside
                    # a field: each `","` of the rewritten line was a `","` or a `",="`)
                    rec = (line[1:] if line[0] == "=" and line[1] == '"' else line).replace(qdf, qdq)
                    if _plain_quoted(rec, d, qdq):
                        append(f"{lineno}{d}{rec}\n")
                        continue
                # all fields quoted: "a","b","c" (or "a","b",): every quote but the first and
                # the last is in a `","` between two fields (the guards keep those two out of one)
                elif _plain_quoted(line, d, qdq) or _quoted_ok(line, d, qdq):
                    append(f"{lineno}{d}{line}\n")
                    continue
                self.lineno = lineno
                self.records += len(out) - before
                return self._slow(line, it)
            if not line or line.isspace() or (line[0] == d or line[0].isspace()) and is_blank(line, d):
                continue
            append(f"{lineno}{d}{line}\n")
        self.lineno = lineno
        self.records += len(out) - before
        return None

    def _slow(self, line: str, it: Iterator[str]) -> Iterator[str]:
        """A line that starts a record but needs a closer look (self.lineno is its number)."""
        d = self.d
        first = self.lineno
        bad = None
        if line.startswith(MARK):
            line = line[len(MARK):]
            bad = NUL
        state, pos, nf = scan(line, d)
        if state == _CLOSED:
            if bad:
                self.rejects.append((first, bad))
            elif not is_blank(line, d):
                self.records += 1
                self.out.append(f"{first}{d}{plain_formulas(line, d)}\n")
            return it
        if state != _OPEN:
            self.rejects.append((first, bad or (STRAY if state == _STRAY else UNCLOSED)))
            return it
        # a quoted field runs on to the next line: take lines until the record closes
        take = it.take if isinstance(it, _Cursor) else functools.partial(next, it, None)
        rewind = it.pos if isinstance(it, _Cursor) else None
        taken: list[str] = []  # lines taken from `it`
        extra = 0  # lines taken from beyond the end of `it`
        # a line holding as many delimiters as a whole record is a record, not message text
        row_like = min(self.fields) - 1 if self.fields and min(self.fields) >= 4 else None
        parts = [line]
        size = len(line)
        text = line
        while True:
            if 1 + len(taken) + extra >= MAX_RECORD_LINES:
                break
            nxt = take()
            if nxt is not None:
                taken.append(nxt)
            elif self.beyond is not None and (nxt := self.beyond(extra)) is not None:
                extra += 1
            else:
                break  # the end of the file inside quotes
            if nxt.startswith(MARK):
                nxt = nxt[len(MARK):]
                bad = NUL
            size += 1 + len(nxt)
            if size > MAX_RECORD_CHARS:
                break
            if row_like is not None and nxt.count(d, 0, nxt.find('"') % (len(nxt) + 1)) >= row_like:
                break  # the part of the line inside the open field looks like a record
            parts.append(nxt)
            text = "\n".join(parts)
            state, pos, nf = scan(text, d, pos, nf)
            if state == _OPEN:
                continue
            if state == _CLOSED and (self.fields is None or nf in self.fields):
                self.lineno += len(taken) + extra
                self.beyond_lines = extra
                if bad:
                    self.rejects.append((first, bad))
                else:
                    self.records += 1
                    self.out.append(f"{first}{d}{plain_formulas(text, d)}\n")
                return it
            break
        # no proper end within the cap: refuse the first line, look for a record on the next
        self.rejects.append((first, UNCLOSED))
        if rewind is not None:  # read on from the line after the first
            it.pos = rewind
            return it
        return chain(taken, it) if taken else it


class _Cursor:
    """The lines of UTF-8 `text` (each ending in LF) from byte `pos`, decoded, a line holding a
    NUL marked (MARK). Iterating stops at byte `stop` (the end of a block), so `_fast` returns
    there; `take` reads on to the end of the text (a record that spans the stop) and gives None
    there; `_slow` sets `pos` back to read again from the line after a record it refused."""

    __slots__ = ("text", "pos", "stop")

    def __init__(self, text: bytes, pos: int, stop: int):
        self.text, self.pos, self.stop = text, pos, stop

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.pos >= self.stop:
            raise StopIteration
        return self.take()

    def take(self) -> str | None:
        p = self.pos
        if p >= len(self.text):
            return None
        e = self.text.find(b"\n", p)
        if e < 0:
            e = len(self.text)
        self.pos = e + 1
        line = self.text[p:e].decode("utf-8")
        return MARK + line if "\x00" in line else line


BLOCK_BYTES = 1 << 17

# the first UTF-8 bytes of the characters str.isspace() holds white space (the ASCII ones, then
# U+0085 and U+00A0, U+1680, U+2000..U+205F, U+3000): a line without quotes that starts with
# one of them, or with the delimiter, may be blank (is_blank) and is left to _fast
SPACE_LEAD_BYTES = bytes([9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 0xC2, 0xE1, 0xE2, 0xE3])
_not_first: dict = {}  # delimiter byte -> a table of 256: may this byte start a blank line?


def _not_first_table(dd: int):
    import numpy as np

    table = _not_first.get(dd)
    if table is None:
        table = np.zeros(256, dtype=bool)
        table[list(SPACE_LEAD_BYTES) + [dd]] = True
        _not_first[dd] = table
    return table


def _plain_lines(block: bytes, dd: int):
    """Sort the lines of `block` (whole lines, each ending in LF; `dd` the delimiter byte):
    plain or not. Returns (text, starts, ends, at, plain): the block with its bare formulas
    written as quoted fields, where each line starts and ends (its LF) in that text, where it
    starts in `block`, and whether it is plain.

    Plain: no NUL, and either no quote and a first byte that is neither the delimiter nor one
    that may start white space (so not blank), or, once its bare formulas are written as quoted
    fields (`="` at its start -> `"`, `",="` -> `","`, as `_fast` writes them), all fields
    quoted and no quote inside a field (`_plain_quoted`): it starts with a quote, is at least
    two characters long, its second is not the delimiter, it ends with `"` not after the
    delimiter (or with `",` not after one), no two `","` share a quote (as str.count counts
    them), and it holds 2 x its `","` + 2 quotes.

    The counts are first taken over the whole block: under those conditions a line holds at
    least 2 x its `","` + 2 quotes (its first and last quotes are in no `","`), so the block
    holds 2 x its `","` + 2 x its lines only when every line does. Only a block that fails is
    counted line by line."""
    import numpy as np

    b = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(b == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    at = starts.copy()
    first = b[starts]
    odd = []  # lines found not plain on the way
    if b"\x00" in block:
        odd.append(np.searchsorted(ends, np.flatnonzero(b == 0)))
    if b'"' not in block:
        plain = ~_not_first_table(dd)[first]
        for o in odd:
            plain[o] = False
        return block, starts, ends, at, plain
    eqs = np.flatnonzero(b == 61)
    if len(eqs):
        # the `=` of a `="` that starts a line, and of each `",="` (two that share a quote,
        # `",=",="`, of which line.replace takes the first only, become `",","` here: such a
        # line is not plain, below)
        mid = eqs[(eqs >= 2) & (eqs < len(b) - 1)]
        mid = mid[(b[mid - 2] == 34) & (b[mid - 1] == dd) & (b[mid + 1] == 34)]
        keep = np.ones(len(b), dtype=bool)
        keep[starts[(first == 61) & (b[np.minimum(starts + 1, len(b) - 1)] == 34)]] = False
        keep[mid] = False
        b = b[keep]
        block = b.tobytes()
        ends = np.flatnonzero(b == 10)
        starts[1:] = ends[:-1] + 1
    ok = (b[starts] == 34) & (ends - starts >= 2) & (b[np.minimum(starts + 1, ends)] != dd)
    last, before, third = (b[np.maximum(ends - k, 0)] for k in (1, 2, 3))
    ok &= ((last == 34) & (before != dd)) | ((last == dd) & (before == 34) & (third != dd))
    quote = b == 34
    sep = np.zeros(len(b), dtype=bool)
    sep[:-2] = quote[:-2] & (b[1:-1] == dd) & quote[2:]  # `","` starting here
    shared = np.flatnonzero(sep[:-2] & sep[2:])  # `",","`
    if shared.size:
        odd.append(np.searchsorted(ends, shared))
    if not odd and ok.all() and np.count_nonzero(quote) == 2 * np.count_nonzero(sep) + 2 * len(ends):
        return block, starts, ends, at, ok
    # line by line: the quotes and separators in each
    at_quote, at_sep = np.flatnonzero(quote), np.flatnonzero(sep)
    quotes = np.searchsorted(at_quote, ends) - np.searchsorted(at_quote, starts)
    seps = np.searchsorted(at_sep, ends) - np.searchsorted(at_sep, starts)
    plain = np.where(quotes > 0, ok & (quotes == 2 * seps + 2), ~_not_first_table(dd)[first])
    for o in odd:
        plain[o] = False
    return block, starts, ends, at, plain


def _plain_quoted(line: str, d: str, qdq: str) -> bool:
    """All fields quoted and no quote inside a field ("a","b","c", or "a","b",): every quote but
    the first and the last is in a `","` between two fields (the guards keep those two out of
    one)."""
    return (line.count('"') == 2 * line.count(qdq) + 2 and line[0] == '"' and len(line) > 1 and line[1] != d and (
        (line[-1] == '"' and line[-2] != d) or (line[-1] == d and line[-2] == '"' and line[-3] != d)))


def plain_formulas(record: str, d: str) -> str:
    """`record` (one that follows the rule) with each bare formula field `="..."` written as the
    quoted field `"..."`: the same field values, in the CSV that DuckDB reads."""
    if '="' not in record:
        return record
    cut: list[int] = []  # positions of the `=` of formula fields
    n = len(record)
    pos = 0
    while pos <= n:
        if pos + 1 < n and record[pos] == "=" and record[pos + 1] == '"':
            cut.append(pos)
            pos += 1
        if pos < n and record[pos] == '"':
            p = pos + 1
            while True:
                q = record.find('"', p)
                if q < 0:
                    return record  # not a record that follows the rule: left as it is
                if q + 1 < n and record[q + 1] == '"':
                    p = q + 2
                    continue
                break
            pos = q + 1
        e = record.find(d, pos)
        if e < 0:
            break
        pos = e + 1
    if not cut:
        return record
    bounds = [0] + cut
    return "".join(record[a + (i > 0):b] for i, (a, b) in enumerate(zip(bounds, cut + [n])))


def _quoted_ok(line: str, d: str, qdq: str) -> bool:
    """All fields quoted, doubled quotes inside allowed, a trailing delimiter allowed: are all
    quotes between the first and the last `","` separators once doubled quotes are set aside
    (left to right, as a reader pairs them inside a quoted field)?"""
    end = len(line) - 1
    if line[end] == d and end > 0:
        end -= 1
    if end <= 0 or line[0] != '"' or line[end] != '"':
        return False
    inner = line[1:end]
    if '""' in inner:
        inner = inner.replace('""', "")
    return inner.count('"') == 2 * inner.count(qdq)


def number_lines(lines: Iterator[str], delimiter: str, lineno: int = 0,
                 fields: set[int] | None = None) -> RecordSplitter:
    """Split `lines` into records (a convenience for small texts: the header reader, tests)."""
    s = RecordSplitter(delimiter, lineno, fields)
    s.feed(lines)
    return s


def physical_lines(text: str) -> list[str]:
    """`text` cut into physical lines (LF, CRLF and lone CR each end one), as the transcoder
    cuts files. A last line without a line break is kept."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines

