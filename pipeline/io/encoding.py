"""Detect a text export's encoding and stream it to UTF-8.

Seller exports come as GBK (decoded as GB18030, its superset), UTF-8, or UTF-8 with a BOM,
sometimes with CRLF line ends. DuckDB reads UTF-8 only, so every CSV is transcoded before it
reaches the database. The transcoder also numbers each record with the physical line it starts
on in the source file, so that a rejected row can be reported with its real line number.
"""
from __future__ import annotations

import codecs
import io
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
                text = pending + chunk
                lines = text.split("\n")
                pending = lines.pop()
                out: list[str] = []
                for line in lines:
                    lineno += 1
                    if line.endswith("\r"):
                        line = line[:-1]
                    if lineno <= skip_lines:
                        continue
                    if in_quote:
                        out.append(line)
                        out.append("\n")
                    elif line and not line.isspace():
                        records += 1
                        out.append(f"{lineno}{delimiter}{line}\n")
                    if line.count('"') & 1:
                        in_quote = not in_quote
                dst.write("".join(out))
            pending = pending.rstrip("\r")
            if pending:
                lineno += 1
                if lineno > skip_lines:
                    if in_quote:
                        dst.write(pending + "\n")
                    elif not pending.isspace():
                        records += 1
                        dst.write(f"{lineno}{delimiter}{pending}\n")
                    if pending.count('"') & 1:
                        in_quote = not in_quote
    except UnicodeDecodeError as e:
        raise ShortshipError(
            f"{path}: not valid {encoding.label} text near line {lineno + 1} ({e.reason})"
        ) from None
    return TranscodeResult(records=records, last_line=lineno, unterminated_quote=in_quote)
