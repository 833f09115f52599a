"""One chunk of orders: the full timeline (events at any time), before rendering.

`make_chunk` draws the orders of the chunk vectorised (numpy, seeded with (seed, 7, chunk)),
in steps that each fill part of a Draft; only the few percent of orders with a case or an
ordinary refund go through Python loops. The result, a Chunk, is what the exports render at
a time T (`render.py`) and what the truth is taken from (`truth.py`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.generate import cases
from pipeline.generate.draft import Draft
from pipeline.generate.ordinary import add_ordinary_refunds
from pipeline.generate.units import DAY, HOUR, MINUTE, NEVER, mix
from pipeline.generate.vocab import BENIGN_MEMOS, BENIGN_MESSAGES, CLOSE_UNPAID
from pipeline.generate.world import World

# orders per hour of the day (China time): few at night, most in the evening
_DIURNAL = np.array([2, 1, .5, .3, .3, .5, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 5, 5, 6, 8, 10, 11, 9, 5], dtype=float)
_DIURNAL_CDF = np.concatenate([[0.0], np.cumsum(_DIURNAL) / _DIURNAL.sum()])


@dataclass
class Chunk:
    c: int
    n: int
    g: np.ndarray
    order_id: np.ndarray
    shop: np.ndarray
    buyer: np.ndarray
    case: np.ndarray
    created: np.ndarray
    paid: np.ndarray
    ship1: np.ndarray
    confirmed: np.ndarray
    closed: np.ndarray
    close_reason: list
    presale: np.ndarray
    postage: np.ndarray
    goods: np.ndarray  # G: goods paid before refunds (after discounts), cents
    n_lines: np.ndarray
    line_start: np.ndarray
    mobile: np.ndarray
    message: list
    memo: list
    sci: np.ndarray  # order id mangled in the order export
    sci_items: np.ndarray  # order id mangled in the item export
    # lines
    l_order: np.ndarray
    l_prod: np.ndarray
    l_qty: np.ndarray
    l_price: np.ndarray
    l_paid: np.ndarray
    l_id: np.ndarray
    # shipments (one row per sku per parcel)
    s_line: np.ndarray
    s_qty: np.ndarray
    s_time: np.ndarray
    s_parcel: np.ndarray  # parcel serial (unique in the run)
    s_reship: np.ndarray
    s_weight: np.ndarray  # parcel weight in grams, repeated on each row of the parcel
    # refunds
    r: dict
    truth: list


def make_chunk(w: World, c: int, g0: int, n: int, counts: dict, serial_off: int, n_sci: tuple[int, int]) -> Chunk:
    """Orders g0 .. g0 + n of the run with `counts` cases of each name; the steps' order is the
    order of the random draws."""
    d = Draft(w, c, g0, n)
    _orders(d)
    cases.assign(d, counts, serial_off)
    _lines(d)
    cases.choose_lines(d)
    _money(d)
    _ids(d)
    _timeline(d)
    _texts(d)
    _default_parcels(d)
    cases.inject_all(d)
    add_ordinary_refunds(d)
    r = d.refund_arrays()
    _close_refunded(d, r)
    s = _shipments(d)
    sci, sci_items = _sci(d, n_sci)
    if "excel_dates" in w.quirks:
        _whole_minutes(d, s, r)
    return Chunk(
        c=c, n=n, g=d.g, order_id=d.order_id, shop=d.shop, buyer=d.buyer, case=d.case, created=d.created,
        paid=d.paid, ship1=d.ship1, confirmed=d.confirmed, closed=d.closed, close_reason=d.close_reason,
        presale=d.presale, postage=d.postage, goods=d.goods, n_lines=d.n_lines, line_start=d.line_start,
        mobile=d.mobile, message=d.message, memo=d.memo, sci=sci, sci_items=sci_items, l_order=d.l_order,
        l_prod=d.l_prod, l_qty=d.l_qty, l_price=d.l_price, l_paid=d.l_paid, l_id=d.l_id, r=r, truth=d.truth, **s,
    )


def _orders(d: Draft) -> None:
    """Creation time (spread over the period by the hour of day), shop, buyer (a few buy often),
    payment (3 % never paid, a few of them presales left open), close, number of lines."""
    w, rng, n = d.w, d.rng, d.n
    x = (d.g + rng.random(n)) / w.n_orders * w.days
    day = np.floor(x)
    frac = np.interp(x - day, _DIURNAL_CDF, np.linspace(0, 1, 25))
    d.created = w.start_s + np.minimum(((day + frac) * DAY).astype(np.int64), w.days * DAY - 1)
    d.shop = rng.choice(len(w.shop_names), n, p=w.shop_weights).astype(np.int64)
    d.buyer = np.floor(w.n_buyers * rng.random(n) ** 2.0).astype(np.int64)
    u = rng.random(n)
    d.unpaid = unpaid = u < 0.03
    d.presale = presale = u < 0.0035
    delay = np.where(rng.random(n) < 0.85, rng.integers(5, 300, n),
                     np.where(rng.random(n) < 0.85, rng.integers(300, 2 * HOUR, n),
                              rng.integers(2 * HOUR, 12 * HOUR, n)))
    d.paid = np.where(unpaid, NEVER, d.created + delay)
    d.closed = np.where(unpaid & ~presale, d.created + rng.integers(15 * MINUTE, 72 * HOUR, n), NEVER)
    d.close_reason = [""] * n
    for i in np.flatnonzero(unpaid & ~presale):
        d.close_reason[i] = d.pick(CLOSE_UNPAID)
    n_lines = rng.zipf(2.3, n)
    while (bad := n_lines > 30).any():
        n_lines[bad] = rng.zipf(2.3, int(bad.sum()))
    d.n_lines = n_lines.astype(np.int64)


def _lines(d: Draft) -> None:
    """The SKUs of each order (neighbours in the shop's catalogue, popular ones first) and their
    quantities (zipf by category; expensive goods mostly one)."""
    w, rng, n = d.w, d.rng, d.n
    L = int(d.n_lines.sum())
    d.line_start = np.concatenate([[0], np.cumsum(d.n_lines)[:-1]]).astype(np.int64)
    d.l_order = l_order = np.repeat(np.arange(n), d.n_lines)
    d.l_j = np.arange(L) - d.line_start[l_order]
    shop = d.shop
    n_prod = (w.shop_prod_off[1:] - w.shop_prod_off[:-1])[shop]
    p0 = np.floor(n_prod * rng.random(n) ** 1.6).astype(np.int64)
    stride = 1 + (rng.random(n) * np.maximum(1, n_prod // 30)).astype(np.int64)
    d.l_prod = w.shop_prod_off[shop[l_order]] + (p0[l_order] + d.l_j * stride[l_order]) % n_prod[l_order]
    d.l_price = w.prod_price[d.l_prod]
    qa = w.shop_qty_a[shop[l_order]]
    l_qty = rng.zipf(qa)
    while (bad := l_qty > 60).any():
        l_qty[bad] = rng.zipf(qa[bad])
    d.l_qty = np.where((d.l_price > 30_000) & (rng.random(L) < 0.9), 1, l_qty).astype(np.int64)


def _money(d: Draft) -> None:
    """Discounts, postage and the paid split over lines (integer cents)."""
    rng, n = d.rng, d.n
    l_list = d.l_price * d.l_qty
    list_total = np.add.reduceat(l_list, d.line_start)
    per_mille = np.where(rng.random(n) < 0.3, rng.integers(20, 200, n), 0)  # coupons: 2-20 % off
    disc = list_total * per_mille // 1000
    disc = np.where(disc > 500, disc // 100 * 100, disc)
    d.goods = np.maximum(list_total - disc, (list_total + 1) // 2)
    postage = np.where(rng.random(n) < 0.35, rng.choice([500, 600, 800, 1000, 1200, 1500, 2000], n), 0)
    d.postage = postage.astype(np.int64)
    d.l_paid = split_paid(d.goods, l_list, d.l_order, d.line_start)


def split_paid(goods, l_list, l_order, line_start) -> np.ndarray:
    """Goods paid split over lines in proportion to price x quantity; the rounding cents go to
    the largest lines (ties: the earlier line), so the lines add up to the order exactly."""
    W = np.add.reduceat(l_list, line_start)
    share = goods[l_order] * l_list // W[l_order]
    rem = goods - np.add.reduceat(share, line_start)
    L = len(l_list)
    order = np.lexsort((np.arange(L), -l_list, l_order))
    rank = np.empty(L, np.int64)
    rank[order] = np.arange(L) - line_start[l_order[order]]
    return share + (rank < rem[l_order])


def _ids(d: Draft) -> None:
    """Order ids (legacy 17 digits, current 19) and line ids (子订单编号), bijections of the
    global order number: unique in the run, independent of chunking."""
    w, g = d.w, d.g
    if w.legacy:
        d.order_id = 20_000_000_000_000_000 + mix(g, w.id_mul[0], w.id_add[0])  # 17 digits
    else:
        low = mix(g, w.id_mul[6], w.id_add[6], 40) % 1000
        d.order_id = 3_000_000_000_000_000_000 + mix(g, w.id_mul[0], w.id_add[0]) * 1000 + low  # 19 digits
    lkey = g[d.l_order] * 32 + d.l_j
    d.l_id = (5_000_000_000_000_000_000 + mix(lkey, w.id_mul[1], w.id_add[1]) * 1000
              + mix(lkey, w.id_mul[6], w.id_add[6], 40) % 1000)


def _lognormal_hours(rng, n, median_h, sigma, lo_h, hi_h):
    h = np.exp(rng.normal(math.log(median_h), sigma, n))
    return (np.clip(h, lo_h, hi_h) * HOUR).astype(np.int64)


def _timeline(d: Draft) -> None:
    """Shipping (case orders within 40 h of payment), delivery, confirmation, mobile or not."""
    rng, n, paid = d.rng, d.n, d.paid
    d.is_case = is_case = d.case > 0
    ship1 = np.where(d.unpaid, NEVER, paid + _lognormal_hours(rng, n, 18, 0.8, 0.5, 60))
    d.ship1 = ship1 = np.where(is_case, paid + rng.integers(HOUR, 40 * HOUR, n), ship1)
    d.deliver = ship1 + np.where(is_case, rng.integers(12 * HOUR, 36 * HOUR, n), rng.integers(20 * HOUR, 60 * HOUR, n))
    confirmed = np.minimum(d.deliver + (rng.exponential(2.0, n) * DAY).astype(np.int64), ship1 + 10 * DAY)
    d.confirmed = np.where(d.unpaid, NEVER, confirmed)
    d.mobile = rng.random(n) < 0.75


def _texts(d: Draft) -> None:
    """Ordinary buyer messages (5 %) and seller memos (3 %, never on a case order)."""
    rng, n = d.rng, d.n
    d.message = [""] * n
    d.memo = [""] * n
    for i in np.flatnonzero(rng.random(n) < 0.05):
        d.message[i] = d.pick(BENIGN_MESSAGES)
    for i in np.flatnonzero(rng.random(n) < 0.03):
        if not d.is_case[i]:
            d.memo[i] = d.pick(BENIGN_MEMOS)


def _default_parcels(d: Draft) -> None:
    """One parcel per order; big orders without a case sometimes in two, the second within the
    ship window."""
    rng, n = d.rng, d.n
    window = d.w.penalty.window_hours * HOUR
    two = (d.n_lines >= 5) & (rng.random(n) < 0.25) & ~d.is_case & ~d.unpaid
    d.ship2 = np.where(two, np.minimum(d.ship1 + rng.integers(2 * HOUR, 24 * HOUR, n), d.paid + window - HOUR), NEVER)
    d.l_parcel_no = np.where(two[d.l_order] & (d.l_j >= d.n_lines[d.l_order] // 2), 1, 0)


def _close_refunded(d: Draft, r: dict) -> None:
    """Orders are closed when every line was refunded in full before confirmation."""
    L = len(d.l_order)
    l_ref_final = np.zeros(L, np.int64)
    ok = r["final"] == 1
    np.add.at(l_ref_final, r["line"][ok], r["amount"][ok])
    line_refunded = np.bincount(r["line"][ok], minlength=L) > 0
    full_line = line_refunded & (l_ref_final >= d.l_paid)
    all_full = np.logical_and.reduceat(full_line, d.line_start)
    last_fin = np.full(d.n, -1, np.int64)
    np.maximum.at(last_fin, r["order"][ok], r["finished"][ok])
    close_now = all_full & (last_fin > 0) & (last_fin < d.confirmed) & (d.closed == NEVER)
    d.closed = np.where(close_now, last_fin, d.closed)
    d.confirmed = np.where(close_now, NEVER, d.confirmed)
    for i in np.flatnonzero(close_now):
        if not d.close_reason[i]:
            d.close_reason[i] = "退款"


def _shipments(d: Draft) -> dict:
    """The shipments file's rows (one per SKU per parcel, sorted by order, time, line), with
    the quantities the shop recorded, reship parcels, parcel serials and weights."""
    l_order = d.l_order
    sl = np.flatnonzero((d.ship1 < NEVER)[l_order])
    s_line, s_qty = sl, d.l_qty[sl].copy()
    for li, q in d.qty_override.items():
        s_qty[np.searchsorted(sl, li)] = q
    s_pno = d.l_parcel_no[sl]
    s_time = np.where(s_pno == 1, d.ship2[l_order[sl]], d.ship1[l_order[sl]])
    s_reship = np.zeros(len(sl), bool)
    if d.reship_rows:
        rl = np.array([x[0] for x in d.reship_rows], np.int64)
        s_line = np.concatenate([s_line, rl])
        s_qty = np.concatenate([s_qty, np.array([x[1] for x in d.reship_rows], np.int64)])
        s_time = np.concatenate([s_time, np.array([x[2] for x in d.reship_rows], np.int64)])
        s_pno = np.concatenate([s_pno, np.array([x[3] for x in d.reship_rows], np.int64)])
        s_reship = np.concatenate([s_reship, np.ones(len(rl), bool)])
    s_ord = l_order[s_line]
    srt = np.lexsort((s_line, s_time, s_ord))
    s_line, s_qty, s_time, s_pno, s_reship, s_ord = (a[srt] for a in (s_line, s_qty, s_time, s_pno, s_reship, s_ord))
    s_parcel = d.g[s_ord] * 4 + s_pno
    return dict(s_line=s_line, s_qty=s_qty, s_time=s_time, s_parcel=s_parcel, s_reship=s_reship,
                s_weight=_parcel_weights(d, s_line, s_qty, s_reship, s_ord, s_parcel))


def _parcel_weights(d: Draft, s_line, s_qty, s_reship, s_ord, s_parcel) -> np.ndarray:
    """Each row's parcel weight in grams: what was really packed plus the box; an empty parcel
    40-160 g."""
    w = d.w
    pkey, pinv = np.unique(s_parcel, return_inverse=True)
    packed_l = np.full(len(d.l_order), -1, np.int64)  # the parcel's weight follows what was really packed
    if d.packed:
        packed_l[np.fromiter(d.packed.keys(), np.int64)] = np.fromiter(d.packed.values(), np.int64)
    s_packed = np.where((packed_l[s_line] >= 0) & ~s_reship, packed_l[s_line], s_qty)
    pw = np.bincount(pinv, weights=(s_packed * w.prod_weight[d.l_prod[s_line]]).astype(float)).astype(np.int64)
    pw = pw + 80 + mix(pkey, w.id_mul[5], w.id_add[5], 20) % 220
    p_empty = np.zeros(len(pkey), bool)
    p_empty[pinv[d.empty_parcel[s_ord] & ~s_reship]] = True
    pw = np.where(p_empty, 40 + mix(pkey, w.id_mul[6], w.id_add[6], 20) % 120, pw)
    return pw[pinv]


def _sci(d: Draft, n_sci: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Orders whose id Excel mangled (2.14073E+16) in the order / item export; never a case."""
    sci = np.zeros(d.n, bool)
    sci_items = np.zeros(d.n, bool)
    if n_sci[0] or n_sci[1]:
        pool = d.rng.permutation(np.flatnonzero(~d.is_case))
        sci[pool[:n_sci[0]]] = True
        sci_items[pool[n_sci[0]:n_sci[0] + n_sci[1]]] = True
    return sci, sci_items


def _whole_minutes(d: Draft, s: dict, r: dict) -> None:
    """excel_dates: the exports lose their seconds, so every time is drawn in whole minutes."""
    d.created, d.paid, d.ship1, d.confirmed, d.closed = (np.where(a < NEVER, a // 60 * 60, a)
                                                         for a in (d.created, d.paid, d.ship1, d.confirmed, d.closed))
    s["s_time"] = s["s_time"] // 60 * 60
    for key in ("applied", "finished", "agreed", "returned"):
        r[key] = np.where(r[key] < NEVER, r[key] // 60 * 60, r[key])
