"""A chunk of orders while it is drawn.

`chunk.make_chunk` fills a Draft step by step (orders, cases, lines, money, ids, timeline,
parcels), then the fault cases (`cases.py`) and the ordinary refunds (`ordinary.py`) change it:
they add refunds, reship parcels and texts, and move or cancel events. Every random number
comes from `d.rng` in a fixed order; that order is part of the output (one seed, the same
files), so a step that draws must keep its place.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from pipeline.generate.units import NEVER, mix, round_div
from pipeline.generate.vocab import CS_NONE
from pipeline.generate.world import World

_FINAL_CODE = {None: 0, "success": 1, "refused": 2, "closed": 3}


class Draft:
    """Arrays are per order (length n) unless prefixed l_ (per line); times in seconds, NEVER
    for an event that does not happen; money in cents."""

    # orders (chunk._orders)
    created: np.ndarray
    shop: np.ndarray
    buyer: np.ndarray
    unpaid: np.ndarray
    presale: np.ndarray
    paid: np.ndarray
    closed: np.ndarray
    close_reason: list
    n_lines: np.ndarray
    # injected cases (cases.assign, cases.choose_lines): case code per order, 0 none
    case: np.ndarray
    case_lines: dict  # order -> the lines concerned
    # lines (chunk._lines)
    line_start: np.ndarray
    l_order: np.ndarray
    l_j: np.ndarray  # position of the line in its order
    l_prod: np.ndarray
    l_price: np.ndarray
    l_qty: np.ndarray
    # money (chunk._money): goods paid before refunds, postage, goods split over lines
    goods: np.ndarray
    postage: np.ndarray
    l_paid: np.ndarray
    # ids (chunk._ids)
    order_id: np.ndarray
    l_id: np.ndarray
    # timeline (chunk._timeline) and texts (chunk._texts)
    is_case: np.ndarray
    ship1: np.ndarray
    deliver: np.ndarray
    confirmed: np.ndarray
    mobile: np.ndarray
    message: list
    memo: list
    # default parcels (chunk._default_parcels): big orders sometimes in two
    ship2: np.ndarray
    l_parcel_no: np.ndarray

    def __init__(self, w: World, c: int, g0: int, n: int):
        self.w = w
        self.c = c
        self.n = n
        self.g = np.arange(g0, g0 + n, dtype=np.int64)  # global order numbers
        self.rng = np.random.default_rng([w.seed, 7, c])
        # what the cases and the ordinary refunds add
        self.refunds: list[tuple] = []  # see add_refund for the fields
        self.rcount: Counter = Counter()  # refunds per order so far
        self.reship_rows: list[tuple] = []  # (line, qty, time, parcel_no)
        self.qty_override: dict[int, int] = {}  # line -> units the shipments file records
        self.packed: dict[int, int] = {}  # line -> units really in the parcel when the record says more
        self.truth: list[dict] = []  # one per case order, see cases.inject_all
        self.empty_parcel = np.zeros(n, bool)
        self.partners: set[int] = set()  # orders carrying the make-up of an earlier case order

    # ---- drawing helpers

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def uniform(self, lo_s, hi_s) -> int:
        """A whole second in [lo, hi) (just lo when the range is empty)."""
        return int(self.rng.integers(int(lo_s), max(int(lo_s) + 1, int(hi_s))))

    def unit_amount(self, li: int, k: int) -> int:
        """round_half_up(k x line paid / quantity): the paid value of k units of line li."""
        return round_div(int(self.l_paid[li]) * k, int(self.l_qty[li]))

    def add_refund(self, o, li, amount, reason, final, applied, finished, *, ret=False, goods_key="received",
                   desc="", cs=CS_NONE, party="", agreed=None, returned=None) -> None:
        """One refund of order o, line li. final: success | refused | closed | None (pending at
        every export); goods_key: a key of vocab.GOODS; ret: 退货退款 (with agreed / returned)."""
        k = self.rcount[o]
        self.rcount[o] += 1
        self.refunds.append((o, li, int(amount), reason, final, int(applied),
                             int(finished) if finished is not None else int(NEVER),
                             ret, goods_key, desc, cs, party, int(agreed if agreed is not None else NEVER),
                             int(returned if returned is not None else NEVER), k))

    def refund_arrays(self) -> dict:
        """The refunds as columns (lists for the texts), with their 退款编号 in "id"."""
        refunds, w = self.refunds, self.w
        n = len(refunds)
        cols = list(zip(*refunds)) if n else [[] for _ in range(15)]
        r = {
            "order": np.array(cols[0], np.int64),
            "line": np.array(cols[1], np.int64),
            "amount": np.array(cols[2], np.int64),
            "reason": list(cols[3]),
            "final": np.array([_FINAL_CODE[x] for x in cols[4]], np.int8),
            "applied": np.array(cols[5], np.int64),
            "finished": np.array(cols[6], np.int64),
            "ret": np.array(cols[7], bool),
            "goods": list(cols[8]),
            "desc": list(cols[9]),
            "cs": list(cols[10]),
            "party": list(cols[11]),
            "agreed": np.array(cols[12], np.int64),
            "returned": np.array(cols[13], np.int64),
        }
        k = np.array(cols[14], np.int64)
        base = 10_000_000_000_000_000 if w.legacy else 200_000_000_000_000_000
        r["id"] = base + mix(self.g[r["order"]] * 32 + k, w.id_mul[2], w.id_add[2]) if n else np.zeros(0, np.int64)
        return r
