"""The fault cases injected into orders, and what the pipeline should find for each.

A case is one `Case` in REGISTRY: its expected flag (kind, responsibility, evidence, status at
the truth's as-of), its default rate, which lines of the order it concerns, a function that
injects it into a drawn order, and the sentence `truth_columns.md` prints for it.

Adding a case
-------------
1. Write `def _my_case(d: Draft, f: Fault) -> None`. It changes the draft for order `f.i`
   through `d.add_refund(...)`, `d.memo[f.i]` / `d.message[f.i]`, `d.qty_override` (units the
   shipments file records), `d.packed` (units really packed), `d.reship_rows`, `d.ship1`,
   `d.confirmed`, `d.close_reason`, and appends to `f.detail` one (line, ordered units, missing
   units, affected cents) per line concerned (`_short_units` does that for one short line).
   Draw only from `d.rng` (`d.pick`, `d.uniform`): never the clock, never another generator.
2. Append `Case(name, kind, responsibility, evidence, status, rate, lines, _my_case, doc)` to
   REGISTRY. `lines` says which lines `f.lines` holds: ONE (one line of >= 2 units), ONE_ANY
   (one line), SEVERAL (2-3 lines of >= 2 units, the order getting 2-3 lines) or WHOLE (none
   chosen: the case concerns `f.all_lines`).
3. Adding a case changes the random draws of every seed (the plan draws a count per case), so
   regenerate data/sample (`shortship generate --orders 300 --seed 20170501 --rates all=0.01
   --out data/sample --overwrite`) and the expected hashes in tests/test_generate.py in the
   same commit, and say so in its message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from pipeline.generate.draft import Draft
from pipeline.generate.units import DAY, HOUR, MINUTE, NEVER
from pipeline.generate.values import buyer_hash
from pipeline.generate.vocab import (
    CATEGORIES, CHECKOUT_NOTES, CS_FOR_SELLER, DAMAGE_NOTES, DESC_DAMAGE, DESC_EMPTY, DESC_LOST, DESC_OOS, DESC_SHORT,
    DESC_WRONG, GIFT_NOTES, MEMO_MAKEUP, MEMO_PACKING, MEMO_RESHIP, MEMO_SEVERAL, MEMO_SHORT_TEXT, MEMO_SWAP,
    MEMO_UNSHIPPED, MSG_MAKEUP, NUM_CN, R_CLAIM_OTHER, R_EMPTY, R_LOST, R_OOS, R_SHORT, R_WRONG, SHOPS,
)

ONE, ONE_ANY, SEVERAL, WHOLE = "one", "one_any", "several", "whole"


@dataclass
class Fault:
    """One order a case is injected into."""
    i: int  # the order's index in the chunk
    lines: list[int]  # the lines concerned, chosen by the case's `lines`
    all_lines: list[int]
    t_paid: int
    t_ship: int  # first parcel
    t_del: int  # delivery of the first parcel
    ship_by: int  # paid + the policy's ship window
    detail: list = field(default_factory=list)  # (line, ordered, missing, affected cents)
    reshipped_at: int | None = None


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # the flag kind expected
    responsibility: str
    evidence: str
    status: str  # expected at the truth's as-of
    rate: float  # default share of orders
    lines: str  # ONE | ONE_ANY | SEVERAL | WHOLE
    inject: Callable[[Draft, Fault], None]
    doc: str  # truth_columns.md; {reasons} is the amount_only reasons of the run


def kwords(k: int) -> str:
    """A count as buyers and sellers write it: 一 .. 十, then digits."""
    return NUM_CN.get(k, str(k))


# ---- one line short by k units (the short cases but short_multi_line)


class _Short(NamedTuple):
    li: int
    n_u: int  # units ordered
    k: int  # units missing
    amt: int  # their paid value, cents
    applied: int  # when a refund for them would be asked
    sku: str


def _short_units(d: Draft, f: Fault) -> _Short:
    li = f.lines[0]
    n_u = int(d.l_qty[li])
    k = 1 if d.rng.random() < 0.7 else int(d.rng.integers(1, n_u))
    amt = d.unit_amount(li, k)
    f.detail.append((li, n_u, k, amt))
    applied = f.t_del + d.uniform(HOUR, 12 * HOUR)
    return _Short(li, n_u, k, amt, applied, d.w.prod_sku_list[int(d.l_prod[li])])


def _short_desc(d: Draft, s: _Short, options=DESC_SHORT) -> str:
    return d.pick(options).format(k=kwords(s.k), m=kwords(s.n_u - s.k))


def _short_reason(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)
    d.packed[s.li] = s.n_u - s.k
    desc = _short_desc(d, s)
    d.add_refund(f.i, s.li, s.amt, d.pick(R_SHORT[d.w.fmtk]), "success", s.applied,
                 s.applied + d.uniform(HOUR, 24 * HOUR), desc=desc, party="卖家" if d.rng.random() < 0.2 else "")


def _refused_cs_for_shop(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)
    desc = _short_desc(d, s, DESC_SHORT[1:])
    d.add_refund(f.i, s.li, s.amt, d.pick(R_SHORT[d.w.fmtk]), d.pick(["refused", "closed"]), s.applied,
                 s.applied + d.uniform(DAY, 2 * DAY), desc=desc, cs=CS_FOR_SELLER)


def _serial_claimer(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)  # the buyer is one of w.claimers (see assign)
    desc = _short_desc(d, s, DESC_SHORT[1:])
    fin = d.pick(["refused", "refused", "closed", "closed", None])
    d.add_refund(f.i, s.li, s.amt, d.pick(R_SHORT[d.w.fmtk]), fin, s.applied,
                 s.applied + d.uniform(2 * HOUR, 2 * DAY) if fin else None, desc=desc)


def _amount_only(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)
    d.confirmed[f.i] = f.t_del + d.uniform(HOUR, 24 * HOUR)
    ap = int(d.confirmed[f.i]) + d.uniform(HOUR, 24 * HOUR)
    d.add_refund(f.i, s.li, s.amt, d.pick(d.w.amount_only_reasons), "success", ap, ap + d.uniform(HOUR, 24 * HOUR))


def _text_only(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)
    if d.rng.random() < 0.5:
        d.memo[f.i] = d.pick(MEMO_SHORT_TEXT).format(sku=s.sku, k=kwords(s.k))
    else:
        d.add_refund(f.i, s.li, int(d.goods[f.i]), d.pick(R_CLAIM_OTHER), "closed", s.applied,
                     s.applied + d.uniform(2 * HOUR, DAY), desc=f"少发了{kwords(s.k)}个")


def _ship_only_no_complaint(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)
    d.qty_override[s.li] = s.n_u - s.k


def _reship(d: Draft, f: Fault, t_re: int, s: _Short) -> None:
    """The missing units follow in a second parcel marked reship, sometimes with a memo."""
    d.reship_rows.append((s.li, s.k, t_re, 2))
    f.reshipped_at = t_re
    if d.rng.random() < 0.5:
        d.memo[f.i] = d.pick(MEMO_RESHIP).format(sku=s.sku, k=kwords(s.k))


def _cured_reship(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)
    d.qty_override[s.li] = s.n_u - s.k
    _reship(d, f, d.uniform(f.t_ship + 30 * MINUTE, f.ship_by - 15 * MINUTE), s)


def _late_reship(d: Draft, f: Fault) -> None:
    s = _short_units(d, f)
    d.qty_override[s.li] = s.n_u - s.k
    _reship(d, f, f.ship_by + d.uniform(2 * HOUR, 60 * HOUR), s)


# ---- the other cases


def _short_multi_line(d: Draft, f: Fault) -> None:
    applied = f.t_del + d.uniform(HOUR, 12 * HOUR)
    for li in f.lines:
        n_u = int(d.l_qty[li])
        k = 1 if d.rng.random() < 0.6 else int(d.rng.integers(1, n_u))
        amt = d.unit_amount(li, k)
        f.detail.append((li, n_u, k, amt))
        d.packed[li] = n_u - k
        d.add_refund(f.i, li, amt, d.pick(R_SHORT[d.w.fmtk]), "success", applied, applied + d.uniform(HOUR, 24 * HOUR),
                     desc=d.pick(DESC_SHORT).format(k=kwords(k), m=kwords(n_u - k)))
        applied += d.uniform(MINUTE, 20 * MINUTE)


def _wrong_item(d: Draft, f: Fault) -> None:
    li = f.lines[0]
    n_u = int(d.l_qty[li])
    k = n_u if (n_u == 1 or d.rng.random() < 0.7) else int(d.rng.integers(1, n_u))
    amt = d.unit_amount(li, k)
    f.detail.append((li, n_u, k, amt))
    applied = f.t_del + d.uniform(HOUR, 12 * HOUR)
    reasons = R_WRONG[d.w.fmtk]
    if d.rng.random() < 0.8:  # 退货退款: the wrong goods go back
        agreed = applied + d.uniform(HOUR, 8 * HOUR)
        returned = agreed + d.uniform(4 * HOUR, DAY)
        d.add_refund(f.i, li, amt, d.pick(reasons), "success", applied, returned + d.uniform(4 * HOUR, DAY),
                     ret=True, goods_key="returned", desc=d.pick(DESC_WRONG), agreed=agreed, returned=returned)
    else:
        d.add_refund(f.i, li, amt, d.pick(reasons), "success", applied, applied + d.uniform(HOUR, DAY),
                     desc=d.pick(DESC_WRONG))


def _refund_every_line(d: Draft, f: Fault, applied: int, reason: str, goods_key: str, desc: str, party: str) -> None:
    """A full refund of each line, a few seconds apart; the whole order is concerned."""
    fin = applied + d.uniform(10 * MINUTE, 12 * HOUR)
    for li in f.all_lines:
        n_u = int(d.l_qty[li])
        f.detail.append((li, n_u, n_u, int(d.l_paid[li])))
        d.add_refund(f.i, li, int(d.l_paid[li]), reason, "success", applied, fin, goods_key=goods_key, desc=desc,
                     party=party)
        applied += d.uniform(1, 60)
        fin += d.uniform(1, 60)


def _empty_parcel(d: Draft, f: Fault) -> None:
    d.confirmed[f.i] = NEVER
    d.empty_parcel[f.i] = True
    applied = f.t_del + d.uniform(HOUR, 12 * HOUR)
    reason, desc = d.pick(R_EMPTY[d.w.fmtk]), d.pick(DESC_EMPTY)
    _refund_every_line(d, f, applied, reason, "received", desc, "")


def _lost_in_transit(d: Draft, f: Fault) -> None:
    d.confirmed[f.i] = NEVER
    applied = f.t_ship + d.uniform(3 * DAY, 84 * HOUR)
    reason, desc = d.pick(R_LOST[d.w.fmtk]), d.pick(DESC_LOST)
    party = "快递" if d.rng.random() < 0.4 else ""
    _refund_every_line(d, f, applied, reason, "not_received", desc, party)


def _out_of_stock(d: Draft, f: Fault) -> None:
    d.confirmed[f.i] = NEVER
    d.ship1[f.i] = NEVER
    applied = f.t_paid + d.uniform(HOUR, 60 * HOUR)
    reason, desc = d.pick(R_OOS[d.w.fmtk]), d.pick(DESC_OOS)
    d.close_reason[f.i] = "卖家缺货"
    _refund_every_line(d, f, applied, reason, "not_shipped", desc, "")


def _unshipped(d: Draft, f: Fault) -> None:
    d.ship1[f.i] = NEVER
    d.confirmed[f.i] = NEVER
    for li in f.all_lines:
        n_u = int(d.l_qty[li])
        f.detail.append((li, n_u, n_u, int(d.l_paid[li])))
    if d.rng.random() < 0.4:
        d.memo[f.i] = d.pick(MEMO_UNSHIPPED)


# ---- the sorts of issue 14: make-ups for an earlier order, and phrases that are no shortage


def _nouns(d: Draft, i: int) -> list[str]:
    """The item nouns of order i's shop (titles are built from them)."""
    return CATEGORIES[SHOPS[int(d.shop[i]) % len(SHOPS)][2]][0]


def _titles(d: Draft, i: int) -> list[str]:
    s, m = int(d.line_start[i]), int(d.n_lines[i])
    return [d.w.prod_title_list[int(p)] for p in d.l_prod[s:s + m]]


def _may_match(name: str, titles: list[str]) -> bool:
    """Whether detection could read `name` as one of these titles (conservatively: its last
    character or any pair of its characters is in one of them)."""
    pairs = [name[k:k + 2] for k in range(len(name) - 1)] or [name]
    return any(name[-1] in t or any(p in t for p in pairs) for t in titles)


def _item_name(d: Draft, i: int, li: int) -> str:
    """How a seller or buyer names line li of order i: its noun when no other line of the order
    has it, else its 商家编码."""
    title = d.w.prod_title_list[int(d.l_prod[li])]
    noun = next((x for x in _nouns(d, i) if x in title), None)
    others = [t for t in _titles(d, i) if t != title]
    if noun and not any(noun in t for t in others):
        return noun
    return d.w.prod_sku_list[int(d.l_prod[li])]


def _fresh_buyer(d: Draft, i: int) -> int:
    """A buyer no other order has (past the drawn range), with a nick of the tb12345678 form (90
    million of them; the word + digits nicks are only 12,000 and shared by many buyers): the
    case's orders are the only ones under that nick."""
    base = (d.w.n_buyers + int(d.g[i])) * 16
    for b in range(base, base + 16):
        if int(buyer_hash(d.w, np.array([b], np.int64))[0]) % 10 < 7:
            return b
    return base


def _partner(d: Draft, f: Fault, name: str, after: int | None = None) -> int | None:
    """A later order of the chunk, created after order f.i was delivered (or after time `after`),
    with no case, no other make-up and no line detection could read as `name`: the buyer's next
    order."""
    after = f.t_del if after is None else after
    # orders are drawn in time order (to within one order), so the next orders begin about here
    first = max(f.i + 1, int(np.searchsorted(d.created, after, side="right")))
    start = first + int(d.rng.integers(0, 20))
    for j in range(start, min(d.n, start + 400)):
        if (d.is_case[j] or d.unpaid[j] or j in d.partners or d.created[j] <= after
                or _may_match(name, _titles(d, j)) or name in {d.w.prod_sku_list[int(p)] for p in
                                                                d.l_prod[d.line_start[j]:d.line_start[j] + d.n_lines[j]]}):
            continue
        return j
    return None


def _makeup_earlier(d: Draft, f: Fault) -> None:
    """k units of one line missing, the shop's record and the parcel weight say nothing; the
    make-up is written on the buyer's next order: a seller memo '补发k个X' / 'X补发k个' naming
    the item (not on that order), or the buyer's checkout message '记得补k个X'. Without a later
    order in the chunk the memo goes on the order itself (a text_only shortage, same truth)."""
    s = _short_units(d, f)
    name = _item_name(d, f.i, s.li)
    j = _partner(d, f, name)
    if j is None:
        d.memo[f.i] = f"'{name}少发{kwords(s.k)}个"
        return
    d.partners.add(j)
    d.buyer[f.i] = d.buyer[j] = _fresh_buyer(d, f.i)
    if d.rng.random() < 0.6:
        d.memo[j] = d.pick(MEMO_MAKEUP).format(k=kwords(s.k), item=name)
    else:
        d.message[j] = d.pick(MSG_MAKEUP).format(k=kwords(s.k), item=name)


# ---- the memos of issue 22: read as the shop writes them


def _skus(d: Draft, i: int) -> list[str]:
    s, m = int(d.line_start[i]), int(d.n_lines[i])
    return [d.w.prod_sku_list[int(p)] for p in d.l_prod[s:s + m]]


def _holds(d: Draft, j: int, name: str, i: int) -> bool:
    """Whether order j holds the item order i's memo names `name` (its noun in a title, or its
    商家编码 when `name` is one)."""
    if name in _nouns(d, i):
        return any(name in t for t in _titles(d, j))
    return name in _skus(d, j)


def _free(d: Draft, j: int) -> bool:
    """An order a case may lean on: paid, no case, not already carrying or holding a make-up."""
    return not (d.is_case[j] or d.unpaid[j] or j in d.partners)


def _later_holder(d: Draft, after: int, name: str, i: int, one_line: bool = False) -> int | None:
    """A free order created after time `after` that holds `name` (on exactly one line, none other
    readable as it, when one_line)."""
    first = max(i + 1, int(np.searchsorted(d.created, after, side="right")))
    start = first + int(d.rng.integers(0, 20))
    for j in range(start, min(d.n, start + 400)):
        if not _free(d, j) or d.created[j] <= after or not _holds(d, j, name, i):
            continue
        if one_line:
            titles = _titles(d, j)
            if sum(name in t for t in titles) != 1 or any(name not in t and _may_match(name, [t]) for t in titles):
                continue
        return j
    return None


def _earlier_holder(d: Draft, f: Fault, name: str) -> int | None:
    """A free order paid (a few minutes or more) before order f.i, shipped, holding `name`."""
    start = f.i - 1 - int(d.rng.integers(0, 20))
    for j in range(start, max(-1, start - 400), -1):
        if (_free(d, j) and d.paid[j] < f.t_paid - 10 * MINUTE and d.ship1[j] < NEVER
                and _holds(d, j, name, f.i)):
            return j
    return None


def _memo_on_itself(d: Draft, f: Fault, s: _Short, name: str) -> None:
    """No order of the chunk fits the case: the shortage is written on the order itself."""
    d.memo[f.i] = f"'{name}少发{kwords(s.k)}个"


def _makeup_packing(d: Draft, f: Fault) -> None:
    """k units of one line missing; the make-up is written on the buyer's next order, which holds
    the item too, in a memo that also says how to pack that parcel ('补发k个X  发申通', 'X补发k个
    都发粉色的吧', '补发k个X  加急 今天发'): written before that parcel left, it re-ships for the earlier
    order."""
    s = _short_units(d, f)
    name = _item_name(d, f.i, s.li)
    j = _later_holder(d, f.t_del, name, f.i)
    if j is None:
        _memo_on_itself(d, f, s, name)
        return
    d.partners.add(j)
    d.buyer[f.i] = d.buyer[j] = _fresh_buyer(d, f.i)
    d.memo[j] = d.pick(MEMO_PACKING).format(k=kwords(s.k), item=name)


def _makeup_several(d: Draft, f: Fault) -> None:
    """k units of one line missing; the buyer's next order (which does not hold the item) carries
    one 补发 naming them and one unit of an item of its own ('补发k个X  一个Y'): one act, so Y is a
    make-up too (for an order the exports do not hold), not a shortage of the next order."""
    s = _short_units(d, f)
    name = _item_name(d, f.i, s.li)
    j = _partner(d, f, name)
    if j is None:
        _memo_on_itself(d, f, s, name)
        return
    titles_i, skus_i = _titles(d, f.i), set(_skus(d, f.i))
    others = [y for y in (_item_name(d, j, li) for li in range(int(d.line_start[j]), int(d.line_start[j] + d.n_lines[j])))
              if y not in skus_i and not _may_match(y, titles_i)]
    d.partners.add(j)
    d.buyer[f.i] = d.buyer[j] = _fresh_buyer(d, f.i)
    if not others:
        d.memo[j] = MEMO_MAKEUP[0].format(k=kwords(s.k), item=name)
        return
    d.memo[j] = d.pick(MEMO_SEVERAL).format(k=kwords(s.k), item=name, other=d.pick(others))


def _makeup_split(d: Draft, f: Fault) -> None:
    """k of n units of one line missing (order A); the buyer's next order B holds the item on one
    line, all of whose units were missing too; the order after (C, without the item) carries one
    make-up for both: '补发(k + B's units)个X'. More than B's line holds: the rest is A's. Two truth
    rows, A and B (B's whole line)."""
    s = _short_units(d, f)
    name = _item_name(d, f.i, s.li)
    b = _later_holder(d, f.t_del, name, f.i, one_line=True) if name in _nouns(d, f.i) else None
    c = None
    if b is not None:
        d.partners.add(b)  # held while C is looked for
        c = _partner(d, f, name, after=int(d.deliver[b]))
        if c is None:
            d.partners.discard(b)
    if c is None:
        _memo_on_itself(d, f, s, name)
        return
    d.partners.add(c)
    d.buyer[f.i] = d.buyer[b] = d.buyer[c] = _fresh_buyer(d, f.i)
    lb = next(li for li in range(int(d.line_start[b]), int(d.line_start[b] + d.n_lines[b]))
              if name in d.w.prod_title_list[int(d.l_prod[li])])
    n_b = int(d.l_qty[lb])
    d.memo[c] = d.pick(MEMO_MAKEUP[:2]).format(k=kwords(s.k + n_b), item=name)
    d.truth.append(dict(i=b, case="makeup_split", kind="short", resp="undetermined", evidence="text_only",
                        status="disputed", detail=[(lb, n_b, n_b, int(d.l_paid[lb]))],
                        ship_by=int(d.paid[b]) + d.w.penalty.window_hours * HOUR, reshipped_at=None))


def _reship_undecided(d: Draft, f: Fault) -> None:
    """k units of one line missing and the seller's memo on the order itself says '补发k个X', no
    packing instruction, while the buyer's earlier order holds X too: the words cannot tell which
    parcel was short, so this order is flagged for review with both readings in its evidence (the
    truth: this order)."""
    s = _short_units(d, f)
    name = _item_name(d, f.i, s.li)
    e = _earlier_holder(d, f, name)
    if e is not None:
        d.partners.add(e)
        d.buyer[f.i] = d.buyer[e] = _fresh_buyer(d, f.i)
    d.memo[f.i] = d.pick(MEMO_MAKEUP[:2]).format(k=kwords(s.k), item=name)


def _substitution_note(d: Draft, f: Fault) -> None:
    """A shortage settled by an agreed swap: '少发一个X换成2个Y' (text_substitution), no flag."""
    li = f.all_lines[int(d.rng.integers(len(f.all_lines)))]
    name = _item_name(d, f.i, li)
    others = [x for x in _nouns(d, f.i) if x != name]
    d.memo[f.i] = d.pick(MEMO_SWAP).format(item=name, other=d.pick(others), k=kwords(int(d.rng.integers(1, 3))),
                                           m=kwords(int(d.rng.integers(1, 4))))


def _makeup_untraced(d: Draft, f: Fault) -> None:
    """A seller memo re-shipping an item that is not on the order and that the buyer (who has no
    other order) never bought: context, no flag."""
    titles = _titles(d, f.i)
    free = [x for x in _nouns(d, f.i) if not _may_match(x, titles)]
    name = d.pick(free) if free and d.rng.random() < 0.6 else f"ZX{int(d.rng.integers(1000, 9999))}"
    d.buyer[f.i] = _fresh_buyer(d, f.i)
    d.memo[f.i] = d.pick(MEMO_MAKEUP[:2]).format(k=kwords(int(d.rng.integers(1, 4))), item=name)


def _text_note(d: Draft, f: Fault, where: str, text: str) -> None:
    if where == "memo":
        d.memo[f.i] = text
    else:
        d.message[f.i] = text


def _gift_note(d: Draft, f: Fault) -> None:
    """A missing free gift (补发赠品): a packing error to count, nothing owed."""
    _text_note(d, f, *d.pick(GIFT_NOTES))


def _damage_note(d: Draft, f: Fault) -> None:
    """A re-shipment for a broken item (坏, 不亮): a quality matter, not a shortage."""
    where, text = d.pick(DAMAGE_NOTES)
    li = f.all_lines[int(d.rng.integers(len(f.all_lines)))]
    _text_note(d, f, where, text.format(item=_item_name(d, f.i, li)))


def _checkout_note(d: Draft, f: Fault) -> None:
    """The buyer's message at checkout speaks of missing goods (上次少发了…): written before this
    order's parcel exists, a warning, never a report about it."""
    d.message[f.i] = d.pick(CHECKOUT_NOTES)


def _refund_damage(d: Draft, f: Fault) -> None:
    """As amount_only (a 仅退款 refund of exactly k units for an ordinary reason on a completed
    order), but the buyer's refund description says the goods were broken: the refund is
    explained otherwise (refund_explained), no shortage."""
    li = f.lines[0]
    n_u = int(d.l_qty[li])
    k = 1 if d.rng.random() < 0.7 else int(d.rng.integers(1, n_u))
    d.confirmed[f.i] = f.t_del + d.uniform(HOUR, 24 * HOUR)
    ap = int(d.confirmed[f.i]) + d.uniform(HOUR, 24 * HOUR)
    desc = d.pick(DESC_DAMAGE).format(item=_item_name(d, f.i, li))
    d.add_refund(f.i, li, d.unit_amount(li, k), d.pick(d.w.amount_only_reasons), "success", ap,
                 ap + d.uniform(HOUR, 24 * HOUR), desc=desc)


# ---- the registry: order matters (case codes, the plan's draws)

REGISTRY: tuple[Case, ...] = (
    Case("short_reason", "short", "merchant", "explicit", "owed", 0.008, ONE, _short_reason,
         "k of n units missing on one line; refund 少件/漏发 (or 少件.漏发, 少货) for k x unit paid, 仅退款, 退款成功; "
         "the shipments file records the full quantity"),
    Case("short_multi_line", "short", "merchant", "explicit", "owed", 0.004, SEVERAL, _short_multi_line,
         "k_i of n_i units missing on 2-3 lines; one 少件/漏发 refund per line, each 退款成功"),
    Case("wrong_item", "wrong", "merchant", "explicit", "owed", 0.006, ONE_ANY, _wrong_item,
         "wrong goods on one line; refund 卖家发错货 / 商家发错货 (80 % 退货退款 with a return) for the units sent "
         "wrong, 退款成功"),
    Case("empty_parcel", "empty", "merchant", "explicit", "owed", 0.004, WHOLE, _empty_parcel,
         "empty parcel: every line refunded with reason 空包裹, goods received; the parcel's weight in the "
         "shipments file is 0.04-0.16 kg; the order is closed"),
    Case("lost_in_transit", "not_received", "courier", "explicit", "courier", 0.006, WHOLE, _lost_in_transit,
         "never delivered: every line refunded with 未收到货 / 快递一直未送到 / 快递/物流一直未送到 / 快递/物流无跟踪记录, "
         "goods status 买家未收到货 (未收到货); 责任方 快递 on some; courier's fault"),
    Case("unshipped", "unshipped", "merchant", "explicit", "owed", 0.004, WHOLE, _unshipped,
         "paid and never shipped: 买家已付款，等待卖家发货 at the export, no ship time, no shipments rows"),
    Case("out_of_stock", "unshipped", "merchant", "explicit", "owed", 0.004, WHOLE, _out_of_stock,
         "paid, never shipped, closed by a full refund with reason 缺货 / 卖家缺货 (订单关闭原因 卖家缺货)"),
    Case("cured_reship", "short", "merchant", "explicit", "cured", 0.006, ONE, _cured_reship,
         "first parcel short by k units on one line, a reship=true parcel with the k units before ship_by; "
         "sometimes a seller memo '补发..'; nothing owed"),
    Case("late_reship", "short", "merchant", "explicit", "owed", 0.005, ONE, _late_reship,
         "as cured_reship but the reship parcel comes 2-60 h after ship_by: owed"),
    Case("refused_cs_for_shop", "short", "buyer", "explicit", "excluded", 0.004, ONE, _refused_cs_for_shop,
         "a 少件/漏发 refund for k units the shop refused; 客服介入状态 支持卖家, final status 卖家拒绝退款 or 退款关闭: "
         "the claim is rejected (excluded)"),
    Case("serial_claimer", "short", "undetermined", "explicit", "disputed", 0.004, ONE, _serial_claimer,
         "a buyer (one of a few) claiming 少件/漏发 on many orders (>= 5 each when there are enough claims); "
         "refunds refused, closed or still pending; shipments full: disputed"),
    Case("ship_only_no_complaint", "short", "merchant", "explicit", "owed", 0.006, ONE, _ship_only_no_complaint,
         "the shipments file shows k units fewer than ordered on one line, no reship, no refund, no text: the "
         "shop's own record, owed"),
    Case("text_only", "short", "undetermined", "text_only", "disputed", 0.005, ONE, _text_only,
         "only free text: a seller memo ('少发2个 ...', '补发一个' with no reship parcel) or a closed refund with "
         "reason 其他 / 协商一致退款 asking for the whole order and 买家退款说明 '少发了两个'. missing_qty is the count "
         "in the text; affected_amount is what really went missing, but only a memo naming the SKU (or a "
         "single-line order) lets the data tell which line"),
    Case("amount_only", "short", "undetermined", "amount_only", "disputed", 0.005, ONE, _amount_only,
         "a completed (交易成功) order with a 仅退款 refund for an ordinary reason ({reasons}; never one of the "
         "policy's [detection] explained_reasons) of exactly round_half_up(k x line_paid / n) on a line of n > k "
         "units, no text"),
    Case("makeup_earlier", "short", "undetermined", "text_only", "disputed", 0.004, ONE, _makeup_earlier,
         "k of n units missing on one line (no refund, full shipments record and weight); the make-up is "
         "written on the buyer's next order (the buyer's only other order): a seller memo '补发k个X' / 'X补发k个' / "
         "'上次少发的X，补发k个' or the buyer's checkout message '记得补k个X', X the line's noun (its 商家编码 when "
         "another line shares the noun), never on that next order. The truth row is the earlier order (rule "
         "text_makeup); the next order must not be flagged"),
    Case("makeup_untraced", "none", "", "text_only", "", 0.002, WHOLE, _makeup_untraced,
         "a seller memo '补发k个X' for an item X that is not on the order and that the buyer (no other order) "
         "never bought: context (text_other_order), no flag"),
    Case("gift_note", "none", "", "text_only", "", 0.002, WHOLE, _gift_note,
         "a missing free gift: memo '补发赠品' / '赠品漏发了，补发一个' or message '赠品没收到，记得补发哦' "
         "(text_gift), no flag"),
    Case("damage_note", "none", "", "text_only", "", 0.002, WHOLE, _damage_note,
         "a re-shipment for a broken item: memo 'X坏了一个，补发一个' / '客户说X不亮，补寄一个' or message "
         "'上次的X有一个是坏的，请补发' (text_damage), no flag"),
    Case("checkout_note", "none", "", "text_only", "", 0.002, WHOLE, _checkout_note,
         "the buyer's checkout message '上次少发了一个，这次仔细点' / '数量点清楚，少了要补的' / '上回漏发过，这次检查好': "
         "written before the parcel exists (text_checkout), no flag"),
    Case("refund_damage", "none", "", "amount_only", "", 0.002, ONE, _refund_damage,
         "as amount_only, but the refund's 买家退款说明 says the goods were broken ('收到有一个是坏的'): the refund "
         "is explained otherwise (refund_explained), no flag"),
    # issue 22: memos read as the shop writes them
    Case("makeup_packing", "short", "undetermined", "text_only", "disputed", 0.002, ONE, _makeup_packing,
         "as makeup_earlier, but the buyer's next order holds the item too and its seller memo also says how to "
         "pack that parcel ('补发k个X  发申通', 'X补发k个  都发粉色的吧', '补发k个X  加急 今天发'): written before "
         "that parcel left, it is a make-up for the earlier order (text_makeup); the next order must not be "
         "flagged"),
    Case("makeup_several", "short", "undetermined", "text_only", "disputed", 0.002, ONE, _makeup_several,
         "as makeup_earlier, with the next order's seller memo also re-shipping one unit of an item of that "
         "next order ('补发k个X  一个Y'): one act, so Y is a make-up too (untraced: text_other_order); the next "
         "order must not be flagged"),
    Case("makeup_split", "short", "undetermined", "text_only", "disputed", 0.001, ONE, _makeup_split,
         "k of n units missing on one line of order A, and the whole line holding the same item on the buyer's "
         "next order B; the order after (C, without the item) carries one make-up for both, seller memo "
         "'补发m个X' with m = k + B's units: more than B's line holds, so it is split over the earlier orders, "
         "latest first. Two truth rows, A and B (B: missing_qty = ordered_qty); C must not be flagged"),
    Case("reship_undecided", "short", "undetermined", "text_only", "disputed", 0.002, ONE, _reship_undecided,
         "k of n units missing on one line; the order's own seller memo '补发k个X' / 'X补发k个' (no packing "
         "instruction) while the buyer's earlier order holds X too: the words cannot decide, the order is "
         "flagged (text_words, disputed) with the other reading in its evidence; the earlier order must not be "
         "flagged"),
    Case("substitution_note", "none", "", "text_only", "", 0.002, WHOLE, _substitution_note,
         "a shortage settled by an agreed swap: seller memo '少发一个X换成mY' / '少发k个X，换成Ym个' / "
         "'X少了一个 换了m个Y' (text_substitution), no flag"),
)

CASE_NAMES = tuple(c.name for c in REGISTRY)
# name -> (kind, responsibility, evidence, expected status, default rate)
CASES: dict[str, tuple[str, str, str, str, float]] = {
    c.name: (c.kind, c.responsibility, c.evidence, c.status, c.rate) for c in REGISTRY}
CASE_CODE = {c.name: code for code, c in enumerate(REGISTRY, start=1)}  # 0: no case
_BY_CODE = dict(enumerate(REGISTRY, start=1))


def _codes(mode: str) -> list[int]:
    return [CASE_CODE[c.name] for c in REGISTRY if c.lines == mode]


# ---- the steps of make_chunk that place the cases


def assign(d: Draft, counts: dict, serial_off: int) -> None:
    """Which orders carry which case (paid orders only); serial claims go to the claimer buyers;
    a SEVERAL case's order gets 2-3 lines."""
    d.case = np.zeros(d.n, np.int8)
    eligible = d.rng.permutation(np.flatnonzero(~d.unpaid))
    pos = 0
    for name in CASE_NAMES:
        k = min(counts.get(name, 0), len(eligible) - pos)
        d.case[eligible[pos:pos + k]] = CASE_CODE[name]
        pos += k
    serial_orders = np.flatnonzero(d.case == CASE_CODE["serial_claimer"])
    claimers = d.w.claimers
    if len(serial_orders) and len(claimers):
        d.buyer[serial_orders] = claimers[(serial_off + np.arange(len(serial_orders))) % len(claimers)]
    multi = np.isin(d.case, _codes(SEVERAL))
    d.n_lines[multi] = np.maximum(d.n_lines[multi], d.rng.integers(2, 4, int(multi.sum())))


def choose_lines(d: Draft) -> None:
    """The line(s) each case concerns, with enough units (>= 2 where some units go missing)."""
    d.case_lines = {}
    for i in np.flatnonzero(d.case > 0):
        case = _BY_CODE[int(d.case[i])]
        s, m = int(d.line_start[i]), int(d.n_lines[i])
        if case.lines == SEVERAL:
            chosen = sorted(s + d.rng.choice(m, min(m, int(d.rng.integers(2, 4))), replace=False))
        elif case.lines in (ONE, ONE_ANY):
            chosen = [s + int(d.rng.integers(m))]
        else:
            chosen = []
        for li in chosen:
            if case.lines != ONE_ANY and d.l_qty[li] < 2:
                d.l_qty[li] = 2 + min(int(d.rng.zipf(2.2)) - 1, 8)
        d.case_lines[int(i)] = [int(li) for li in chosen]


def inject_all(d: Draft) -> None:
    """Inject every case order of the chunk (in order) and note its truth."""
    window = d.w.penalty.window_hours * HOUR
    for i in np.flatnonzero(d.is_case):
        i = int(i)
        case = _BY_CODE[int(d.case[i])]
        s, m = int(d.line_start[i]), int(d.n_lines[i])
        f = Fault(i=i, lines=d.case_lines[i], all_lines=list(range(s, s + m)), t_paid=int(d.paid[i]),
                  t_ship=int(d.ship1[i]), t_del=int(d.deliver[i]), ship_by=int(d.paid[i]) + window)
        case.inject(d, f)
        d.truth.append(dict(i=i, case=case.name, kind=case.kind, resp=case.responsibility, evidence=case.evidence,
                            status=case.status, detail=f.detail, ship_by=f.ship_by, reshipped_at=f.reshipped_at))
