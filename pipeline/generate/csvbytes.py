"""CSV bytes of the exports: header lines (with the header_spaces and bom quirks) and data rows
(legacy: every field quoted but the ids, which are bare Excel formulas `="…"`, a trailing comma
on item rows; current: plain values) in the encoding of the run; our shipments file is always
plain UTF-8."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pcsv

from pipeline.generate.layouts import (
    CURRENT_ITEMS, CURRENT_ORDERS, CURRENT_REFUNDS, LEGACY_ITEMS, LEGACY_ORDERS, LEGACY_REFUNDS, SHIPMENTS,
)
from pipeline.generate.values import FORMULA_CLOSE, FORMULA_OPEN
from pipeline.generate.world import World

_OPEN, _CLOSE = FORMULA_OPEN.encode(), FORMULA_CLOSE.encode()


def headers(w: World) -> dict[str, list[str]]:
    h = {
        "orders": LEGACY_ORDERS if w.legacy else CURRENT_ORDERS,
        "items": LEGACY_ITEMS if w.legacy else CURRENT_ITEMS,
        "refunds": LEGACY_REFUNDS if w.legacy else CURRENT_REFUNDS,
        "shipments": SHIPMENTS,
    }
    if "header_spaces" in w.quirks:
        h = {k: (v if k == "shipments" else [_spaced(x, i) for i, x in enumerate(v)]) for k, v in h.items()}
    return h


def _spaced(name: str, i: int) -> str:
    if "/" in name:
        return name.replace("/", " / ")
    if i % 3 == 1:
        return name.rstrip() + " "
    if i % 3 == 2:
        return name.rstrip() + "\u3000"
    return name


def _encoding_of(w: World, kind: str) -> str:
    return "utf-8" if kind == "shipments" else w.encoding


def header_bytes(w: World, kind: str) -> bytes:
    names = headers(w)[kind]
    quote = w.legacy and kind != "shipments"
    line = ",".join(f'"{x}"' if quote else x for x in names) + "\n"
    b = line.encode(_encoding_of(w, kind))
    if "bom" in w.quirks:
        b = b"\xef\xbb\xbf" + b
    return b


def csv_bytes(w: World, kind: str, cols: list) -> bytes:
    """The data rows of one export kind (no header) from its rendered columns."""
    n = len(cols[0])
    trailing = kind == "items" and (w.legacy or "trailing_comma" in w.quirks)
    if trailing:
        cols = cols + [pa.nulls(n, pa.string())]
    tab = pa.Table.from_arrays(cols, names=[f"c{i}" for i in range(len(cols))])
    sink = pa.BufferOutputStream()
    if w.legacy and kind != "shipments":
        quote = "all_valid"  # the legacy export quotes every field
    else:
        quote = "none"  # plain values; fall back to quoting when a value needs it
    try:
        pcsv.write_csv(tab, sink, pcsv.WriteOptions(include_header=False, quoting_style=quote, batch_size=8192))
    except pa.ArrowInvalid:
        sink = pa.BufferOutputStream()
        pcsv.write_csv(tab, sink, pcsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=8192))
    b = sink.getvalue().to_pybytes()
    if _OPEN in b:
        b = bare_formulas(b)
    enc = _encoding_of(w, kind)
    if enc != "utf-8":
        b = b.decode("utf-8").encode(enc)
    return b


def bare_formulas(b: bytes) -> bytes:
    """The formula values (values.FORMULA_OPEN text FORMULA_CLOSE) written as bare Excel
    formulas `="text"`, whether the CSV writer quoted them or not."""
    b = b.replace(b'"' + _OPEN, _OPEN).replace(_CLOSE + b'"', _CLOSE)
    return b.replace(_OPEN, b'="').replace(_CLOSE, b'"')
