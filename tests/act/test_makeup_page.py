"""A make-up's evidence page shows both orders (issue 22): the buyer's later order whose memo
makes up an earlier order's missing goods is on the earlier order's page (its payment, the memo,
its parcel in the timeline, its rows among the sources), the two pages link to each other, and
a change to the later order's memo rewrites the earlier page (its facts hash) while a change
elsewhere does not.

One tiny shop in the real export layouts (tests/flag/builders.py), run once by `shortship run`;
the tests that change it run again on copies of its database and output folder.
"""
from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline.publish import MANIFEST
from pipeline.setdata import page_href_from_page, page_path
from tests.flag.builders import Shop

from .conftest import run
from .test_evidence import Facts

AS_OF = "2017-06-20 00:00:00"
BEAR = ("小熊公仔", "8.00", 4, "BEAR")
CAR = ("回力玩具车", "10.00", 3, "CAR")
BLOCK = ("益智积木", "12.00", 3, "BLOCK")

EARLY, LATER = "3000000000000000711", "3000000000000000712"        # LATER's memo makes up EARLY's 积木; both pages
ALONE_A, ALONE_B = "3000000000000000713", "3000000000000000714"    # the same, ALONE_B without a page of its own
OTHER = "3000000000000000715"                                     # another buyer's order, short by its own memo
MEMO = "补发1个积木"
MEMO_LONG = MEMO + "，" + "谢谢老板辛苦啦" * 9  # longer than detection's quote (60 characters)
LATER_PAID = "2017-06-08 10:00:00"
LATER_PARCEL = "2017-06-09 08:00:00"


def _shop(later_memo: str = MEMO_LONG, other_memo: str = "补发一个小熊公仔") -> Shop:
    s = Shop()
    s.order(EARLY, BLOCK, BEAR, buyer="mk1")
    s.order(LATER, CAR, buyer="mk1", paid_at=LATER_PAID, memo="'" + later_memo)
    s.ship(LATER, "CAR", 1, LATER_PARCEL, weight="0.500")
    s.ship(LATER, "BLOCK", 1, LATER_PARCEL, weight="0.500", reship=True)
    s.order(ALONE_A, BLOCK, buyer="mk2")
    s.order(ALONE_B, CAR, buyer="mk2", paid_at=LATER_PAID, memo="'补发2个积木")
    s.order(OTHER, BEAR, CAR, buyer="other", memo="'" + other_memo)
    return s


def _only(shop: Shop, *ids: str) -> Shop:
    """The rows of some orders of `shop` (a newer export of them)."""
    part = Shop()
    part.orders = [o for o in shop.orders if o.oid in ids]
    part.shipments = [r for r in shop.shipments if r[0] in ids]
    return part


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("makeup")
    exports = base / "in"
    _shop().write(exports)
    # a review decision gives LATER a page of its own (an order decided in review has one)
    (exports / "review_filled.csv").write_text(f"订单编号,判定,备注\n{LATER},无责,补发单\n", encoding="utf-8")
    return run(exports, base, as_of=AS_OF)


def _db(done, sql, params=None):
    con = duckdb.connect(str(done["db"]), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _page(out: Path, oid: str) -> str:
    return (out / page_path(oid)).read_text(encoding="utf-8")


def _entries(out: Path) -> dict:
    return {f["path"]: f for f in json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"]}


def test_the_shop_is_as_meant(done):
    flagged = {o for (o,) in _db(done, "select order_id from liabilities where status = 'disputed'")}
    assert {EARLY, ALONE_A, OTHER} <= flagged and not {LATER, ALONE_B} & flagged
    pages = {p.stem for p in (done["out"] / "evidence").glob("*/*.html")}
    assert {EARLY, LATER, ALONE_A} <= pages and ALONE_B not in pages


def test_the_later_orders_payment_memo_and_parcel_are_on_the_earlier_page(done):
    page = _page(done["out"], EARLY)
    text = html.unescape(page)
    assert LATER in text and MEMO_LONG in text
    # the timeline: the later order's payment (with the memo), its shipping and its parcel, named as its
    events: dict[str, list[tuple[str, str]]] = {}
    p = Facts()
    p.feed(page)
    for what, oid, row in re.findall(r'<tr data-event="(later_[a-z]+)" data-order="(\d+)">(.*?)</tr>', page, re.S):
        events.setdefault(what, []).append((oid, html.unescape(re.sub(r"<[^>]+>", "", row))))
    assert {w for w in events} == {"later_paid", "later_shipped", "later_parcel"}
    assert all(oid == LATER for rows in events.values() for oid, _ in rows)
    (paid,) = events["later_paid"]
    assert paid[1].startswith(LATER_PAID) and MEMO_LONG in paid[1]
    tracking = _db(done, "select tracking_no from orders where order_id = ?", [LATER])[0][0]
    assert tracking and any(tracking in row for _, row in events["later_shipped"])
    parcels = _db(done, "select distinct tracking_no, shipped_at from shipments where order_id = ?", [LATER])
    assert len(parcels) == 1 and len(events["later_parcel"]) == 1
    assert events["later_parcel"][0][1].startswith(LATER_PARCEL) and parcels[0][0] in events["later_parcel"][0][1]
    # its rows, file and line, exactly those the database holds for it
    assert {o for _, o, _, _, _ in p.later} == {LATER}
    later = {(f, i, file, line) for f, _, i, file, line in p.later}
    want = {("later_order", LATER, f, ln) for f, ln in _db(done, "select source_file, line from orders where order_id = ?", [LATER])}
    want |= {("later_line", s, f, ln) for s, f, ln in _db(done, "select sku, source_file, line from order_lines where order_id = ?", [LATER])}
    want |= {("later_shipment", tk, f, ln) for tk, f, ln in _db(done, "select tracking_no, source_file, line from shipments where order_id = ?", [LATER])}
    assert len(want) == 4 and later == want
    # and among the source rows, marked as the later order's
    sources = re.search(r'<section id="sources">(.*?)</section>', page, re.S).group(1)
    listed = re.findall(r'<li data-order="(\d+)"><span class="mono">([^<]+)</span>: ([^<(]+)', sources)
    got = {(oid, html.unescape(path), tuple(int(n) for n in re.findall(r"\d+", lines))) for oid, path, lines in listed}
    by_file: dict[str, list[int]] = {}
    for _, _, file, line in want:
        by_file.setdefault(file, []).append(line)
    assert got == {(LATER, file, tuple(sorted(lines))) for file, lines in by_file.items()}
    # the earlier order's own facts are still exactly its own rows
    assert p.facts and all(i != LATER and not f.startswith("later_") for f, i, _, _ in p.facts)


def test_the_two_pages_link_each_other(done):
    out = done["out"]
    early, later = _page(out, EARLY), _page(out, LATER)
    to_later, to_early = page_href_from_page(LATER), page_href_from_page(EARLY)
    assert f'href="{to_later}"' in early and f'href="{to_early}"' in later
    # each link reaches the other page from where the page lies
    assert ((out / page_path(EARLY)).parent / to_later).resolve() == (out / page_path(LATER)).resolve()
    assert ((out / page_path(LATER)).parent / to_early).resolve() == (out / page_path(EARLY)).resolve()
    assert f'data-earlier-order="{EARLY}"' in later and MEMO_LONG in html.unescape(later)
    # a later order without a page is named, not linked
    alone = _page(out, ALONE_A)
    assert ALONE_B in alone and page_href_from_page(ALONE_B) not in alone
    assert "本批输出中没有它的证据页" in alone


def _again(done, tmp_path, shop: Shop) -> tuple[Path, dict, dict, dict]:
    """Run again on copies, with a newer export of the orders of `shop`: (out, page stamps
    before, after, manifest entries before and after)."""
    dbp, out = tmp_path / "shop.duckdb", tmp_path / "out"
    shutil.copy(done["db"], dbp)
    shutil.copytree(done["out"], out)

    def stamps():
        return {o: ((out / page_path(o)).stat().st_ino, (out / page_path(o)).stat().st_mtime_ns)
                for o in (EARLY, LATER, ALONE_A, OTHER)}

    before, old = stamps(), _entries(out)
    shop.write(tmp_path / "newer", stamp="201706210000")
    run(tmp_path / "newer", tmp_path, as_of=AS_OF, db=dbp)
    return out, (before, stamps()), old, _entries(out)


def test_a_change_to_the_later_memo_rewrites_the_earlier_page(done, tmp_path):
    """The end of the long memo is beyond what detection quotes (60 characters): the earlier
    order's flag stays as it was, and only the later order's facts on its page (the memo, whole)
    can tell that the page changed: they are in its hash."""
    memo = MEMO_LONG[:-1] + "！"
    flag = _db(done, "select * exclude (run_id) from flags where order_id = ?", [EARLY])
    out, (before, after), old, new = _again(done, tmp_path, _only(_shop(later_memo=memo), LATER))
    assert _db({"db": tmp_path / "shop.duckdb"}, "select * exclude (run_id) from flags where order_id = ?", [EARLY]) == flag
    assert memo in html.unescape(_page(out, EARLY)) and MEMO_LONG not in html.unescape(_page(out, EARLY))
    rel = page_path(EARLY)
    assert new[rel]["facts"] != old[rel]["facts"] and after[EARLY] != before[EARLY]
    assert after[ALONE_A] == before[ALONE_A] and after[OTHER] == before[OTHER]


def test_an_unrelated_change_rewrites_neither_page(done, tmp_path):
    out, (before, after), old, new = _again(done, tmp_path, _only(_shop(other_memo="补发两个小熊公仔"), OTHER))
    assert "补发两个小熊公仔" in html.unescape(_page(out, OTHER)) and after[OTHER] != before[OTHER]
    for oid in (EARLY, LATER, ALONE_A):
        assert after[oid] == before[oid], oid
        assert new[page_path(oid)]["facts"] == old[page_path(oid)]["facts"], oid
