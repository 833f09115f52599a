"""Ordinary refunds on orders without a case: the noise detection must not flag.

About 2.5 % of paid orders are cancelled before shipping (a full refund of every line), 3 % are
returned after delivery (退货退款, ordinary reasons), 2 % get a partial compensation or a claim
that is refused or withdrawn. None of their amounts reads as "k units missing" (see
`amount_signals`), so the amount signal only fires on the amount_only case.
"""
from __future__ import annotations

import numpy as np

from pipeline.generate.draft import Draft
from pipeline.generate.units import DAY, HOUR, MINUTE, NEVER, round_div
from pipeline.generate.vocab import DESC_CANCEL, DESC_ORDINARY, R_CANCEL, R_CLAIM_OTHER, R_PARTIAL, R_RETURN


def add_ordinary_refunds(d: Draft) -> None:
    u = d.rng.random(d.n)
    ordinary = ~d.is_case & ~d.unpaid
    if d.partners:  # an order carrying a make-up keeps its words to itself (no ordinary refund text)
        ordinary[np.fromiter(d.partners, np.int64)] = False
    cancelled = ordinary & (u < 0.025)
    d.ship1[cancelled] = NEVER
    d.confirmed[cancelled] = NEVER
    for i in np.flatnonzero(cancelled):
        _cancel(d, int(i))
    for i in np.flatnonzero(ordinary & (u >= 0.025) & (u < 0.055)):
        _return(d, int(i))
    for i in np.flatnonzero(ordinary & (u >= 0.055) & (u < 0.075)):
        _partial_or_withdrawn(d, int(i), bool(u[i] < 0.067))


def _cancel(d: Draft, i: int) -> None:
    """Cancelled before shipping: full refund of every line."""
    applied = int(d.paid[i]) + d.uniform(5 * MINUTE, 20 * HOUR)
    fin = applied + d.uniform(10 * MINUTE, 8 * HOUR)
    reason = d.pick(R_CANCEL[d.w.fmtk])
    for li in range(int(d.line_start[i]), int(d.line_start[i] + d.n_lines[i])):
        d.add_refund(i, li, int(d.l_paid[li]), reason, "success", applied, fin, goods_key="not_shipped",
                     desc=d.pick(DESC_CANCEL))


def _return(d: Draft, i: int) -> None:
    """k units of one line sent back after delivery; most refunds succeed."""
    rng = d.rng
    li = int(d.line_start[i] + rng.integers(d.n_lines[i]))
    n_u = int(d.l_qty[li])
    k = n_u if rng.random() < 0.6 else int(rng.integers(1, n_u + 1))
    applied = int(d.deliver[i]) + d.uniform(HOUR, 6 * DAY)
    agreed = applied + d.uniform(HOUR, DAY)
    returned = agreed + d.uniform(DAY, 3 * DAY)
    fin = returned + d.uniform(DAY, 4 * DAY)
    final = "success" if rng.random() < 0.93 else "closed"
    d.add_refund(i, li, d.unit_amount(li, k), d.pick(R_RETURN), final, applied, fin, ret=True, goods_key="returned",
                 desc=d.pick(DESC_ORDINARY), agreed=agreed, returned=returned)


def _partial_or_withdrawn(d: Draft, i: int, partial: bool) -> None:
    """A partial compensation (仅退款) that succeeds, or a claim for the order refused or closed;
    never an amount that reads as k units or a whole line."""
    rng = d.rng
    s, m = int(d.line_start[i]), int(d.n_lines[i])
    li = s + int(rng.integers(m))
    applied = int(d.deliver[i]) + d.uniform(HOUR, 5 * DAY)
    forbidden = amount_signals(d.l_paid[s:s + m], d.l_qty[s:s + m], d.l_price[s:s + m])
    if partial and d.l_paid[li] >= 300:
        reason = d.pick(R_PARTIAL)
        if reason == "退运费":
            amt = int(d.postage[i]) or int(rng.choice([300, 500, 800, 1000]))
        else:
            amt = max(100, int(d.l_paid[li] * rng.uniform(0.1, 0.4)) // 50 * 50)
        # a refund never exceeds what was paid for its line (the platform refuses more): a 退运费
        # of 3-10 yuan on an order without postage is at most the line's paid value
        amt = free_amount(amt, int(d.l_paid[li]), forbidden)
        d.add_refund(i, li, amt, reason, "success", applied, applied + d.uniform(HOUR, 2 * DAY),
                     desc=d.pick(DESC_ORDINARY))
    else:
        amt = free_amount(int(d.goods[i]), int(d.goods[i] + d.postage[i]), forbidden)
        d.add_refund(i, li, amt, d.pick(R_RETURN + R_CLAIM_OTHER), d.pick(["refused", "closed", "closed"]), applied,
                     applied + d.uniform(HOUR, 3 * DAY), desc=d.pick(DESC_ORDINARY))


def free_amount(amt: int, cap: int, forbidden: set) -> int:
    """`amt` capped at `cap` (what was paid), moved by 7 cents at a time off the amounts that
    read as units (up while that stays within the cap, else down)."""
    amt = min(amt, cap)
    up = amt
    while up in forbidden:
        up += 7
    if up <= cap:
        return up
    while (amt in forbidden or amt > cap) and amt > 7:
        amt -= 7
    return amt


def amount_signals(paid, qty, price) -> set:
    """Refund amounts that would read as 'k units missing' on an order (and their +-1 cent)."""
    out = set()
    m = len(paid)
    for p, q, pr in zip(paid.tolist(), qty.tolist(), price.tolist()):
        for k in range(1, min(q, 60)):
            out.add(round_div(p * k, q))
            out.add(pr * k)
        if m > 1:
            out.add(p)
    return {a + d for a in out for d in (-1, 0, 1)}
