"""How values are written in the exports: Arrow string columns built vectorised from the
integer units (money, times, ids, tracking numbers, buyer nicks), with the quirks of a run
(legacy empties, Excel ids and dates, ids in scientific notation).

Ids are Excel formulas where the platform writes them so: every id of the legacy layout (and of
the current one with the excel_ids quirk) is written BARE, `="35153131473293579"` (an `=` and a
quoted string, the field itself not quoted), as the seller back office does (shared/real_raw/).
A formula value is the text between FORMULA_OPEN and FORMULA_CLOSE, two private-use characters
that csvbytes.csv_bytes turns into `="` and `"` after the CSV writer (whatever quoting it chose).
With the resaved_ids quirk (a copy re-saved through Excel) the formula is an ordinary text
value instead, `="…"`, which the writer quotes (each quote doubled, the field in quotes).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.generate.units import NEVER, mix
from pipeline.generate.vocab import CARRIERS, NICK_WORDS
from pipeline.generate.world import World


def text(a) -> pa.Array:
    return pa.array(np.asarray(a)).cast(pa.string())


def const(s: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(s, pa.string()), n)


def cat(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


FORMULA_OPEN, FORMULA_CLOSE = "\ue000", "\ue001"


def money(cents) -> pa.Array:
    """Cents as yuan text, `12.30` (a negative amount, which no export holds, as `-1.01`)."""
    c = np.asarray(cents, np.int64)
    a = np.abs(c)
    s = pc.binary_join_element_wise(text(a // 100), pc.utf8_lpad(text(a % 100), width=2, padding="0"), ".")
    if (c < 0).any():
        s = pc.if_else(pa.array(c < 0), cat("-", s), s)
    return s


def pick(strings: list[str], idx) -> pa.Array:
    return pc.take(pa.array(strings, pa.string()), pa.array(np.asarray(idx, np.int64)))


def opt(valid, s: pa.Array, empty: str | None) -> pa.Array:
    """s where valid, else `empty` (None: a null, written as an empty field)."""
    valid = np.asarray(valid, bool)
    if valid.all():
        return s
    return pc.if_else(pa.array(valid), s, pa.scalar(empty, pa.string()))


def non_empty(s: pa.Array) -> pa.Array:
    """Empty texts as nulls (the current layouts leave them unquoted)."""
    return opt(pc.not_equal(s, "").to_numpy(zero_copy_only=False), s, None)


class Fmt:
    """How values are written for one run (format and quirks)."""

    def __init__(self, w: World):
        self.w = w
        self.empty = "" if w.legacy else None  # legacy quotes every field, also empty ones
        self.resaved_ids = "resaved_ids" in w.quirks
        self.excel_ids = w.legacy or self.resaved_ids or "excel_ids" in w.quirks
        self.excel_dates = "excel_dates" in w.quirks

    def ts(self, secs, valid=None) -> pa.Array:
        secs = np.asarray(secs, np.int64)
        if valid is None:
            valid = secs < NEVER
        arr = pa.array(np.where(valid, secs, 0)).cast(pa.timestamp("s"))
        if self.excel_dates:
            s = cat(text(pc.year(arr)), "/", text(pc.month(arr)), "/", text(pc.day(arr)), " ", text(pc.hour(arr)), ":",
                    pc.utf8_lpad(text(pc.minute(arr)), width=2, padding="0"))
        else:
            s = pc.strftime(arr, format="%Y-%m-%d %H:%M:%S")
        return opt(valid, s, self.empty)

    def plain_ts(self, secs) -> pa.Array:
        return pc.strftime(pa.array(np.asarray(secs, np.int64)).cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")

    def id(self, ids, sci=None) -> pa.Array:
        s = text(ids)
        if self.excel_ids:
            s = self.formula(s)
        if sci is not None and np.any(sci):
            s = pc.if_else(pa.array(np.asarray(sci, bool)), pa.array([sci_text(int(x)) for x in np.asarray(ids)]), s)
        return s

    def payment_no(self, g, paid, valid) -> pa.Array:
        d = pc.strftime(pa.array(np.where(valid, paid, 0)).cast(pa.timestamp("s")), format="%Y%m%d")
        s = cat(d, "2100100", pc.utf8_lpad(text(mix(g, self.w.id_mul[3], self.w.id_add[3]) % 10 ** 13), width=13,
                                           padding="0"))
        if self.excel_ids:
            s = self.formula(s)
        return opt(valid, s, self.empty)

    def formula(self, s) -> pa.Array:
        """Values as Excel formulas: bare `="…"` in the file, or quoted as text (resaved_ids)."""
        if self.resaved_ids:
            return cat('="', s, '"')
        return cat(FORMULA_OPEN, s, FORMULA_CLOSE)

    def e(self, n: int) -> pa.Array:
        return pa.nulls(n, pa.string()) if self.empty is None else const("", n)


def sci_text(x: int) -> str:
    """An id as Excel shows a number it cannot hold: 2.14073E+16."""
    mant, exp = f"{x:.5E}".split("E")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}E+{int(exp):02d}"


def tracking(w: World, parcel, carrier_idx) -> tuple[pa.Array, pa.Array]:
    """Tracking numbers (carrier prefix + 11-13 digits) and carrier names for parcel serials."""
    carrier_idx = np.asarray(carrier_idx, np.int64)
    digits = np.array([c[2] for c in CARRIERS])[carrier_idx]
    body = pc.utf8_lpad(text(mix(parcel, w.id_mul[4], w.id_add[4]) % 10 ** 13), width=13, padding="0")
    tail = body
    for d in (11, 12):
        tail = pc.if_else(pa.array(digits == d), pc.utf8_slice_codeunits(body, 13 - d, 13), tail)
    return cat(pick([c[1] for c in CARRIERS], carrier_idx), tail), pick([c[0] for c in CARRIERS], carrier_idx)


def buyer_hash(w: World, buyer) -> np.ndarray:
    """A per-buyer number the buyer's nick, phone, name and address are derived from."""
    return mix(buyer, w.id_mul[5], w.id_add[5], 40)


def nicks(bh: np.ndarray) -> pa.Array:
    """Buyer nicks (tb12345678 for most, word + digits for some) from buyer hashes."""
    return pc.if_else(pa.array(bh % 10 < 7), cat("tb", text(10_000_000 + bh % 89_999_999)),
                      cat(pick(NICK_WORDS, bh % len(NICK_WORDS)), text(bh // 7 % 1000)))


def nick(b: int) -> str:
    """The nick of one buyer hash, as `nicks` writes it."""
    return f"tb{10_000_000 + b % 89_999_999}" if b % 10 < 7 else f"{NICK_WORDS[b % len(NICK_WORDS)]}{b // 7 % 1000}"
