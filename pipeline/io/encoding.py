"""Detect a text export's encoding and stream it to UTF-8.

Seller exports come as GBK (decoded as GB18030, its superset), UTF-8, or UTF-8 with a BOM,
sometimes with CRLF line ends. DuckDB reads UTF-8 only, so every CSV is transcoded before it
reaches the database. The transcoder also numbers each record with the physical line it starts
on in the source file, so that a rejected row can be reported with its real line number.
"""
from __future__ import annotations

import codecs
import io
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ShortshipError

SAMPLE_BYTES = 1 << 20
CHUNK_CHARS = 1 << 22

XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Encoding:
    name: str  # a Python codec name: utf-8-sig, utf-8, gb18030, utf-16
    label: str  # what the manifest records


def detect_encoding(path: Path) -> Encoding:
    """Decide the encoding of a text export from its first megabyte.

    Raises ShortshipError for an empty file, a binary file or bytes that are neither UTF-8
    nor GB18030.
    """
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ShortshipError(f"{path}: the file is empty")
    if sample.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "utf-8-bom")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16", "utf-16")
    if sample.startswith(XLSX_MAGIC):
        raise ShortshipError(f"{path}: this is a zip/xlsx file, not a CSV")
    if b"\x00" in sample:
        raise ShortshipError(f"{path}: binary data, not a text export (unknown encoding)")
    for name, label in (("utf-8", "utf-8"), ("gb18030", "gb18030")):
        decoder = codecs.getincrementaldecoder(name)()
        try:
            decoder.decode(sample, final=len(sample) < SAMPLE_BYTES)
        except UnicodeDecodeError:
            continue
        return Encoding(name, label)
    raise ShortshipError(f"{path}: unknown encoding (neither UTF-8 nor GBK/GB18030)")


def open_text(path: Path, encoding: Encoding) -> io.TextIOWrapper:
    """Open for reading as text with universal newlines kept raw (CRLF stays CRLF)."""
    return open(path, "r", encoding=encoding.name, newline="")


def read_head(path: Path, encoding: Encoding, max_chars: int = 1 << 18) -> str:
    """The first characters of the file, decoded (for the header and the dialect)."""
    with open_text(path, encoding) as f:
        try:
            return f.read(max_chars)
        except UnicodeDecodeError as e:
            raise ShortshipError(f"{path}: not valid {encoding.label} text ({e.reason})") from None


@dataclass
class TranscodeResult:
    records: int  # data records written (blank lines are not records)
    last_line: int  # physical lines in the source file
    unterminated_quote: bool  # the file ended inside a quoted field (truncated)


def _number_block(lines: list[str], lineno: int, in_quote: bool, skip_lines: int, delimiter: str):
    """Number the records in `lines` (physical lines without their "\n"); `lineno` is the
    number of the line before the first. Returns (text, records, last lineno, in_quote)."""
    records = 0
    out: list[str] = []
    append = out.append
    for line in lines:
        lineno += 1
        if line.endswith("\r"):
            line = line[:-1]
        if lineno <= skip_lines:
            pass
        elif in_quote:
            append(line + "\n")
        elif line and not line.isspace():
            records += 1
            append(f"{lineno}{delimiter}{line}\n")
        if line.count('"') & 1:
            in_quote = not in_quote
    return "".join(out), records, lineno, in_quote


def transcode_numbered(
    path: Path,
    encoding: Encoding,
    out_path: Path,
    skip_lines: int,
    delimiter: str,
) -> TranscodeResult:
    """Write the records after the first `skip_lines` physical lines to `out_path` as UTF-8,
    each record prefixed with the 1-based physical line number it starts on.

    Quote state is tracked by the parity of `"` per line (doubled quotes keep the parity), so
    a field with line breaks inside stays one record with one number. Streams in chunks.
    """
    records = 0
    lineno = 0
    in_quote = False
    pending = ""
    try:
        with open_text(path, encoding) as src, open(out_path, "w", encoding="utf-8", newline="") as dst:
            while True:
                chunk = src.read(CHUNK_CHARS)
                if not chunk:
                    break
                lines = (pending + chunk).split("\n")
                pending = lines.pop()
                text, n, lineno, in_quote = _number_block(lines, lineno, in_quote, skip_lines, delimiter)
                records += n
                dst.write(text)
            if pending:
                text, n, lineno, in_quote = _number_block([pending], lineno, in_quote, skip_lines, delimiter)
                records += n
                dst.write(text)
    except UnicodeDecodeError as e:
        raise ShortshipError(
            f"{path}: not valid {encoding.label} text near line {lineno + 1} ({e.reason})"
        ) from None
    return TranscodeResult(records=records, last_line=lineno, unterminated_quote=in_quote)


# ---- the same, in parallel over byte ranges of a large file -------------------------------
# A newline byte (0x0A) and a double quote (0x22) never occur inside a multi-byte character in
# UTF-8 or GB18030, so a file can be cut at newlines and each range's starting line number and
# quote state found by counting those two bytes, before the ranges are decoded in parallel.

PARALLEL_MIN_BYTES = 48 << 20
RANGE_BYTES = 32 << 20


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
    path, start, end = args
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    return data.count(b"\n"), data.count(b'"') & 1


def _transcode_range(args):
    path, codec, start, end, lineno, in_quote, skip_lines, delimiter, out_path = args
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    if start > 0 and codec in ("utf-8-sig",):
        codec = "utf-8"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as e:
        bad_line = lineno + data[: e.start].count(b"\n") + 1
        return ("error", f"not valid text near line {bad_line} ({e.reason})")
    lines = text.split("\n")
    last = lines.pop()
    if last:
        lines.append(last)
    out, records, lineno, in_quote = _number_block(lines, lineno, in_quote, skip_lines, delimiter)
    with open(out_path, "w", encoding="utf-8", newline="") as dst:
        dst.write(out)
    return ("ok", records, lineno, in_quote)


def transcode_numbered_parts(
    path: Path,
    encoding: Encoding,
    out_dir: Path,
    skip_lines: int,
    delimiter: str,
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
    if encoding.name == "utf-16" or size < PARALLEL_MIN_BYTES or workers < 2:
        out = out_dir / "part_0.csv"
        return [out], transcode_numbered(path, encoding, out, skip_lines, delimiter)
    ranges = _ranges(path, size)
    try:
        if pool is not None:
            return _transcode_ranges(pool, path, encoding, out_dir, skip_lines, delimiter, ranges, tick)
        with new_pool(min(workers, len(ranges))) as own:
            return _transcode_ranges(own, path, encoding, out_dir, skip_lines, delimiter, ranges, tick)
    except BrokenProcessPool:
        # no worker processes here (e.g. a program read from stdin cannot be re-imported):
        # do it in this process, same result
        for p in out_dir.glob("part_*.csv"):
            p.unlink()
        out = out_dir / "part_0.csv"
        return [out], transcode_numbered(path, encoding, out, skip_lines, delimiter)


def new_pool(workers: int | None = None):
    """A pool of worker processes for transcode_numbered_parts (spawned, never forked: the
    parent holds DuckDB's threads)."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers or os.cpu_count() or 1, mp_context=mp.get_context("spawn"))


def _transcode_ranges(pool, path, encoding, out_dir, skip_lines, delimiter, ranges, tick=None):
    counts = list(pool.map(_count_range, [(str(path), a, b) for a, b in ranges]))
    jobs, lineno, in_quote, parts = [], 0, False, []
    for i, ((a, b), (newlines, parity)) in enumerate(zip(ranges, counts)):
        part = out_dir / f"part_{i}.csv"
        parts.append(part)
        jobs.append((str(path), encoding.name, a, b, lineno, in_quote, skip_lines, delimiter, str(part)))
        lineno += newlines
        in_quote ^= bool(parity)
    records, last_line, quote_state = 0, 0, False
    for done, res in enumerate(pool.map(_transcode_range, jobs), start=1):
        if res[0] == "error":
            raise ShortshipError(f"{path}: {res[1]}")
        _, n, last_line, quote_state = res
        records += n
        if tick:
            tick(done, len(jobs))
    return parts, TranscodeResult(records=records, last_line=last_line, unterminated_quote=quote_state)
