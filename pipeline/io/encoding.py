"""Detect a text export's encoding and stream it to numbered UTF-8 records.

Seller exports come as GBK (decoded as GB18030, its superset), UTF-8, or UTF-8 with a BOM,
sometimes with CRLF line ends, old Excel copies with CR alone; Excel's "Unicode text" is UTF-16
with a BOM. DuckDB reads UTF-8 only, so every CSV is transcoded before it reaches the database.
The transcoder cuts the text into records by the one rule of pipeline/io/records.py and writes
each record with the physical line it starts on in the source file, so that a rejected row is
reported with its real line number; records that break the rule are refused there (line and
reason) and never reach DuckDB.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pipeline.errors import ShortshipError
from pipeline.io.errors import NotAnExport
from pipeline.io.records import MARK, MAX_RECORD_CHARS, MAX_RECORD_LINES, RecordSplitter

SAMPLE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 23

# signatures of files that are certainly not text exports
_MAGIC = [
    (b"PK\x03\x04", "a zip/xlsx file, not a CSV"),
    (b"\x89PNG", "a PNG image, not a text export"),
    (b"\xff\xd8\xff", "a JPEG image, not a text export"),
    (b"GIF8", "a GIF image, not a text export"),
    (b"%PDF", "a PDF document, not a text export"),
    (b"\x1f\x8b", "a gzip archive, not a text export"),
    (b"Rar!", "a RAR archive, not a text export"),
    (b"7z\xbc\xaf", "a 7-Zip archive, not a text export"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or other OLE file, not a text export: save it as .xlsx or CSV"),
]
# control bytes that never occur in text (white space and ESC / SUB aside): more than 2 % of the
# first 4 KB (and at least 8) is binary data; a stray NUL in a row is that row's problem
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 26, 27))


@dataclass(frozen=True)
class Encoding:
    name: str  # a Python codec name: utf-8-sig, utf-8, gb18030, utf-16
    label: str  # what the manifest records


def detect_encoding(path: Path) -> Encoding:
    """Decide the encoding of a text export from its first megabyte.

    Raises NotAnExport for an empty file, a binary file or bytes that are neither UTF-8 nor
    GB18030, and ShortshipError (naming the line) for UTF-8 text that turns into another
    encoding further down the sample.
    """
    try:
        with open(path, "rb") as f:
            sample = f.read(SAMPLE_BYTES)
    except OSError as e:
        raise NotAnExport(f"{path}: cannot read the file ({e.strerror or e})") from None
    if not sample.strip():
        raise NotAnExport(f"{path}: the file is empty")
    if sample.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "utf-8-bom")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16", "utf-16")
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            raise NotAnExport(f"{path}: this is {what}")
    head = sample[:4096]
    if len(head) >= 8 and head.count(0) * 3 >= len(head):
        raise NotAnExport(f"{path}: UTF-16 text without a byte-order mark (unknown encoding): save it as UTF-8")
    control = sum(head.count(bytes([b])) for b in _CONTROL)
    if control >= 8 and control * 50 > len(head):
        raise NotAnExport(f"{path}: binary data, not a text export (unknown encoding)")
    complete = len(sample) < SAMPLE_BYTES
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return Encoding("utf-8", "utf-8")
    except UnicodeDecodeError as e:
        good = sample[: e.start].decode("utf-8", errors="ignore")
        if len(good) - len(good.encode("ascii", errors="ignore")) >= 8:
            # text that is UTF-8 (several non-ASCII characters decoded) up to a point: the
            # encoding changes inside the file; GB18030 would read it as garbage
            raise ShortshipError(
                f"{path}: not valid utf-8 text at line {_line_at(sample, e.start)} "
                f"({e.reason}; the encoding changes inside the file?)"
            ) from None
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=complete)
        return Encoding("gb18030", "gb18030")
    except UnicodeDecodeError:
        raise NotAnExport(f"{path}: unknown encoding (neither UTF-8 nor GBK/GB18030)") from None


def _line_at(data: bytes, offset: int) -> int:
    """The 1-based physical line (LF, CRLF or CR ends one) holding byte `offset` of `data`."""
    before = data[:offset]
    return before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1


def read_head(path: Path, encoding: Encoding, max_chars: int = 1 << 18) -> tuple[str, bool]:
    """The first characters of the file, decoded (for the header and the dialect), and whether
    they are the whole file."""
    with open(path, "rb") as f:
        data = f.read(max_chars * 4 + 4)
        complete = not f.read(1)
    dec = codecs.getincrementaldecoder(encoding.name)()
    try:
        text = dec.decode(data, final=complete)
    except UnicodeDecodeError as e:
        if e.start < max_chars:
            line = _line_at(data, e.start) if encoding.name != "utf-16" else "?"
            raise ShortshipError(f"{path}: not valid {encoding.label} text at line {line} ({e.reason})") from None
        text = data[: e.start].decode(encoding.name, errors="ignore")
        complete = False
    if len(text) > max_chars:
        text, complete = text[:max_chars], False
    return text, complete


@dataclass
class TranscodeResult:
    records: int  # data records in the file: written for DuckDB + refused (blank lines are not records)
    written: int  # records written to the numbered copy
    last_line: int  # physical lines in the source file read
    rejects: list[tuple[int, str]] = field(default_factory=list)  # records refused: (line, reason)


def _mark(lines: list[str], nul: bool) -> list[str]:
    """Lines holding a NUL marked for the splitter's slow path (which refuses them); `nul`:
    whether the text they come from holds one (tested on its bytes, which is faster)."""
    if nul:
        return [MARK + s if "\x00" in s else s for s in lines]
    return lines


def _normalize(text: str, cr: bool = True) -> str:
    """Line ends as LF: CRLF and a lone CR (old Excel) each end one line. `cr`: whether the
    text may hold a CR at all (tested on its bytes, which is faster)."""
    if cr and "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            text = text.replace("\r", "\n")
    return text


def _decoded_chunks(path: Path, encoding: Encoding, skip_lines: int) -> Iterator[list[str]]:
    """The physical lines of the file after the first `skip_lines`, decoded, line ends removed,
    a list per chunk read (lines holding a NUL marked: see _mark). Raises ShortshipError naming
    the line of the first byte that is not valid text in `encoding`."""
    dec = codecs.getincrementaldecoder(encoding.name)()
    pending = ""
    seen = 0  # physical lines read so far
    with open(path, "rb") as f:
        while True:
            raw = f.read(CHUNK_BYTES)
            final = not raw
            try:
                text = dec.decode(raw, final=final)
            except UnicodeDecodeError as e:
                raise ShortshipError(
                    f"{path}: not valid {encoding.label} text at line {_first_bad_line(path, encoding)} ({e.reason})"
                ) from None
            cr = encoding.name == "utf-16" or b"\r" in raw or pending.endswith("\r")
            text = pending + text
            hold = ""
            if not final and cr and text.endswith("\r"):  # a CRLF cut by the chunk: keep the CR
                text, hold = text[:-1], "\r"
            text = _normalize(text, cr)
            lines = text.split("\n")
            pending = lines.pop() + hold
            if final and pending:
                lines.append(pending)
            if seen < skip_lines:
                k = min(len(lines), skip_lines - seen)
                seen += k
                lines = lines[k:]
            else:
                seen += len(lines)
            yield _mark(lines, (b"\x00" in raw) if encoding.name != "utf-16" else ("\x00" in text))
            if final:
                return


def _first_bad_line(path: Path, encoding: Encoding) -> int | str:
    """The physical line of the first byte that is not valid text in `encoding` (the error
    path: decoded again in blocks cut at line ends, which never fall inside a character in
    UTF-8 or GB18030)."""
    if encoding.name == "utf-16":
        return "?"
    codec = "utf-8" if encoding.name == "utf-8-sig" else encoding.name
    lines = 0  # line ends before `data`
    rest = b""
    with open(path, "rb") as f:
        if encoding.name == "utf-8-sig":
            f.read(len(codecs.BOM_UTF8))
        while True:
            block = f.read(CHUNK_BYTES)
            data = rest + block
            if block:  # whole lines only (a CR at the end may be half a CRLF: it waits)
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
            else:
                rest = b""
            try:
                data.decode(codec)
            except UnicodeDecodeError as e:
                return lines + _line_at(data, e.start)
            lines += _line_at(data, len(data)) - 1
            if not block:
                return lines + 1


def transcode_numbered(
    path: Path,
    encoding: Encoding,
    out_path: Path,
    skip_lines: int,
    delimiter: str,
    fields: set[int] | None = None,
) -> TranscodeResult:
    """Write the records after the first `skip_lines` physical lines to `out_path` as UTF-8,
    each prefixed with the 1-based physical line it starts on (pipeline/io/records.py: the
    rule; `fields`: the field counts a record spanning lines may have). Streams in chunks: the
    last MAX_RECORD_LINES lines of a chunk wait for the next one, so that a record starting
    before them can take them (as a range worker takes the lines after its range)."""
    tail: list[str] = []
    splitter = RecordSplitter(delimiter, lineno=skip_lines, fields=fields, beyond=lambda i: tail[i] if i < len(tail) else None)
    with open(out_path, "w", encoding="utf-8", newline="") as dst:
        for lines in _decoded_chunks(path, encoding, skip_lines):
            if tail:
                lines = tail[splitter.beyond_lines:] + lines
            splitter.beyond_lines = 0
            if len(lines) > MAX_RECORD_LINES:
                tail = lines[-MAX_RECORD_LINES:]
                splitter.feed(lines[:-MAX_RECORD_LINES])
            else:
                tail = lines
            dst.write(splitter.take_output())
        rest = tail[splitter.beyond_lines:]
        tail = []
        splitter.feed(rest)
        dst.write(splitter.take_output())
    return TranscodeResult(
        records=splitter.records + len(splitter.rejects), written=splitter.records,
        last_line=splitter.lineno, rejects=splitter.rejects,
    )


# ---- the same, in parallel over byte ranges of a large file -------------------------------
# LF (0x0A) and CR (0x0D) never occur inside a multi-byte character in UTF-8 or GB18030, so a
# file can be cut after LFs and each range's first line number found by counting line ends,
# before the ranges are decoded and split into records in parallel. Each worker starts a record
# on every line of its range that the rule says starts one, assuming its range starts with a
# record; a record starting in its range may end in the next one (the worker reads on past its
# end). When that happens the next range is done again from the line after that record (rare:
# cuts fall between records unless a quoted field with line breaks spans the cut).

PARALLEL_MIN_BYTES = 48 << 20
RANGE_BYTES = 32 << 20
PIECE_BYTES = 4 << 20  # a range is decoded this much at a time
# a file smaller than PARALLEL_MIN_BYTES but this large is transcoded as one range in the calling
# process (its lines numbered in blocks, which pays from a few megabytes: records.py); smaller
# files stream through transcode_numbered
WHOLE_MIN_BYTES = 4 << 20


def _ranges(path: Path, size: int) -> list[tuple[int, int]]:
    cuts = [0]
    with open(path, "rb") as f:
        pos = RANGE_BYTES
        while pos < size:
            f.seek(pos)
            tail = f.readline()
            pos = f.tell()
            if pos >= size or not tail.endswith(b"\n"):
                break
            cuts.append(pos)
            pos += RANGE_BYTES
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _count_range(args):
    """Line ends in a byte range (LF, CRLF, CR each one)."""
    path, start, end = args
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    if b"\r" not in data:
        return data.count(b"\n")
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


class _Beyond:
    """The lines after a byte range, read and decoded lazily, for a record that starts in the
    range and ends after it (at most MAX_RECORD_LINES lines are ever asked for)."""

    def __init__(self, path: str, codec: str, start: int):
        self.path, self.codec, self.pos = path, codec, start
        self.lines: list[str] = []
        self.done = False
        self.rest = b""

    def __call__(self, i: int) -> str | None:
        while i >= len(self.lines) and not self.done:
            self._read()
        return self.lines[i] if i < len(self.lines) else None

    def _read(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            block = f.read(max(1 << 16, (MAX_RECORD_CHARS * 4) // 8))
        self.pos += len(block)
        data = self.rest + block
        if block:
            cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
            data, self.rest = data[:cut], data[cut:]
            if data.endswith(b"\r"):  # maybe the first half of a CRLF
                data, self.rest = data[:-1], b"\r" + self.rest
        else:
            self.rest = b""
            self.done = True
        try:
            text = data.decode(self.codec)
        except UnicodeDecodeError:  # the next range reports it
            self.done = True
            return
        text = _normalize(text)
        lines = text.split("\n")
        if block or not lines[-1]:
            lines.pop()
        self.lines.extend(_mark(lines, b"\x00" in data))
        if len(self.lines) > MAX_RECORD_LINES:
            self.done = True


def _transcode_range(args):
    path, codec, start, end, lineno, skip_lines, delimiter, fields, out_path, skip_first = args
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    if start > 0 and codec == "utf-8-sig":
        codec = "utf-8"
    if b"\r" in data:  # line ends as LF, on the bytes (a range is never in UTF-16, whose CR is two bytes)
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            data = data.replace(b"\r", b"\n")
    # decoded in pieces cut after a LF (never inside a character), so that the whole range is
    # never held as text too; UTF-8 is only checked (its bytes are the copy's text already)
    utf8 = codec in ("utf-8", "utf-8-sig")
    body = bytearray()
    view = memoryview(data)
    text = ""
    a = 0
    while a < len(data):
        b = data.find(b"\n", a + PIECE_BYTES) + 1 or len(data)
        try:  # a BOM only at the start of the file
            text = str(view[a:b], "utf-8" if a and codec == "utf-8-sig" else codec)
        except UnicodeDecodeError as e:
            return ("error", _line_at(data, a + e.start) + lineno, e.reason)
        if not utf8:
            body += text.encode("utf-8")
        a = b
    del text, view
    if utf8:
        body = data[len(codecs.BOM_UTF8):] if codec == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else data
    del data
    if body and not body.endswith(b"\n"):  # the last line of the file, without a line break
        body += b"\n"
    n_lines = body.count(b"\n")
    skip = max(0, skip_lines - lineno, skip_first)
    pos = 0
    for _ in range(min(skip, n_lines)):
        pos = body.index(b"\n", pos) + 1
    lineno += min(skip, n_lines)
    splitter = RecordSplitter(delimiter, lineno, fields, beyond=_Beyond(path, codec, end))
    with open(out_path, "wb") as dst:
        splitter.write_numbered(body, pos, dst.write)
    left_over = max(0, skip_first - n_lines)  # lines of an earlier record that run past this range too
    return ("ok", splitter.records, splitter.rejects, splitter.lineno, max(splitter.beyond_lines, left_over))


def transcode_numbered_parts(
    path: Path,
    encoding: Encoding,
    out_dir: Path,
    skip_lines: int,
    delimiter: str,
    fields: set[int] | None = None,
    workers: int | None = None,
    tick=None,
    pool=None,
) -> tuple[list[Path], TranscodeResult]:
    """Like transcode_numbered, into one or more part files (DuckDB reads them as one);
    large files are cut into ranges and transcoded by a pool of processes (`pool`, a
    ProcessPoolExecutor shared by several files, or one made for this file).
    `tick(done, total)` is called as ranges finish (for a progress bar)."""
    import os

    out_dir.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size
    workers = workers or os.cpu_count() or 1
    ranges = _ranges(path, size) if encoding.name != "utf-16" and size >= PARALLEL_MIN_BYTES and workers >= 2 else []
    if len(ranges) < 2:
        out = out_dir / "part_0.csv"
        if encoding.name != "utf-16" and size >= WHOLE_MIN_BYTES:  # one range, in this process
            return [out], _transcoded(path, encoding, [_transcode_range(
                [str(path), encoding.name, 0, size, 0, skip_lines, delimiter, fields, str(out), 0])])
        return [out], transcode_numbered(path, encoding, out, skip_lines, delimiter, fields)
    # here, not at the top: concurrent.futures.process imports multiprocessing (some 8 ms of
    # CPU), which a run over small files never uses
    from concurrent.futures.process import BrokenProcessPool

    try:
        if pool is not None:
            return _transcode_ranges(pool, path, encoding, out_dir, skip_lines, delimiter, fields, ranges, tick)
        with new_pool(min(workers, len(ranges))) as own:
            return _transcode_ranges(own, path, encoding, out_dir, skip_lines, delimiter, fields, ranges, tick)
    except BrokenProcessPool:
        # no worker processes here (e.g. a program read from stdin cannot be re-imported):
        # do it in this process, same result
        for p in out_dir.glob("part_*.csv"):
            p.unlink()
        out = out_dir / "part_0.csv"
        return [out], transcode_numbered(path, encoding, out, skip_lines, delimiter, fields)


def new_pool(workers: int | None = None):
    """A pool of worker processes for transcode_numbered_parts (spawned, never forked: the
    parent holds DuckDB's threads). The workers ignore Ctrl-C: a terminal sends it to the
    whole process group, and only the parent decides what an interrupt means."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers or os.cpu_count() or 1, mp_context=mp.get_context("spawn"),
                               initializer=_ignore_sigint)


def _ignore_sigint() -> None:
    """A transcoding worker's start: Ctrl-C is the parent's; freed memory is used again."""
    import signal

    from pipeline.heap import keep_freed

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed()


def _transcode_ranges(pool, path, encoding, out_dir, skip_lines, delimiter, fields, ranges, tick=None):
    counts = list(pool.map(_count_range, [(str(path), a, b) for a, b in ranges]))
    jobs, lineno, parts = [], 0, []
    for i, ((a, b), n) in enumerate(zip(ranges, counts)):
        part = out_dir / f"part_{i}.csv"
        parts.append(part)
        jobs.append([str(path), encoding.name, a, b, lineno, skip_lines, delimiter, fields, str(part), 0])
        lineno += n
    carry = 0  # lines at the start of the next range taken by a record of the ranges before
    results = []
    for i, res in enumerate(pool.map(_transcode_range, jobs)):
        if carry:  # done again from the line after that record (in this process: rare)
            jobs[i][-1] = carry
            res = _transcode_range(jobs[i])
        results.append(res)
        carry = res[-1] if res[0] == "ok" else 0
        if tick:
            tick(i + 1, len(jobs))
    return parts, _transcoded(path, encoding, results)


def _transcoded(path, encoding, results) -> TranscodeResult:
    """The result of a file from those of its ranges, in order (an error names its line)."""
    records, rejects, last_line = 0, [], 0
    for res in results:
        if res[0] == "error":
            raise ShortshipError(f"{path}: not valid {encoding.label} text at line {res[1]} ({res[2]})")
        _, n, rej, last_line, _carry = res
        records += n
        rejects.extend(rej)
    return TranscodeResult(records=records + len(rejects), written=records, last_line=last_line,
                           rejects=rejects)
