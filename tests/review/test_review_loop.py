"""The review loop (SPEC sections 3 and 5, issue 14): what the data cannot decide is listed in
review.csv; a person's decision settles it, the liabilities and the ledger follow, and a decision
for an order that is not flagged is a reject with its file and line.

The decisions loader is the input helper's (table `decisions`); here the rows are written as it
would write them, with a load_manifest row, so that the run's bookkeeping can be checked.
"""
import csv
import json
from datetime import datetime
from decimal import Decimal

import pytest

from pipeline import db
from pipeline.review import headings, write_review_csv
from pipeline.run import run_pipeline
from tests.flag.builders import Shop

D = Decimal
BEAR = ("小熊", "8.00", 3, "BEAR")
CAR = ("玩具车", "10.00", 3, "CAR")

WORDS = "3000000000000000501"      # the seller's memo: 2 missing (text only: disputed)
AMOUNT = "3000000000000000502"     # a refund of exactly one unit (amount only: disputed)
OWED = "3000000000000000503"       # the shop refunded 少件/漏发: merchant, owed
CLEAN = "3000000000000000504"      # not flagged
ONE_UNIT = "3000000000000000505"   # the seller's memo: 1 missing (disputed)


def build() -> Shop:
    s = Shop()
    s.order(WORDS, BEAR, CAR, memo="'小熊少发两个")
    s.order(AMOUNT, BEAR, CAR)
    s.refund(AMOUNT, "9000000000000000502", "8.00", "协商一致退款")
    s.order(OWED, CAR)
    s.refund(OWED, "9000000000000000503", "10.00", "少件/漏发", sku="CAR")
    s.order(CLEAN, CAR)
    s.order(ONE_UNIT, CAR, memo="'少发一个")
    return s


def read_review(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel opens it as Unicode
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def decide(con, rows, file="review_filled.csv"):
    """Decisions as the loader writes them: one load, one row per order (line = the CSV line)."""
    load_id = con.execute("select coalesce(max(load_id), 0) + 1 from load_manifest").fetchone()[0]
    for line, (oid, decision, qty, by) in enumerate(rows, start=2):
        con.execute(
            "insert into decisions (order_id, decision, decision_raw, missing_qty, note, decided_by, decided_at,"
            " load_id, source_file, line) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [oid, decision, decision, qty, "checked the parcel photo", by, datetime(2017, 6, 21, 9), load_id, file,
             line],
        )
    con.execute(
        "insert into load_manifest (load_id, loaded_at, path, file_name, size_bytes, sha256, kind, rows_in, loaded,"
        " rejected, replaced) values (?, now(), ?, ?, 1, ?, 'decisions', ?, ?, 0, 0)",
        [load_id, file, file, f"sha-{load_id}", len(rows), len(rows)],
    )
    return load_id


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """Three runs: the first lists the disputed orders; decisions are filed; the second applies
    them; a changed decision is filed; the third reverses."""
    base = tmp_path_factory.mktemp("review")
    exports = base / "exports"
    build().write(exports)
    dbp, out = base / "r.duckdb", base / "out"
    state = {}
    s1 = run_pipeline([exports], dbp, out, as_of="2017-06-20", create=True)
    state["first"] = (s1, read_review(out / "review.csv"))
    con = db.connect(dbp)
    try:
        from pipeline.setdata import review_queue

        write_review_csv(review_queue(con).to_pylist(), base / "review_en.csv", lang="en")
        state["en"] = read_review(base / "review_en.csv")
        state["load_id"] = decide(con, [(WORDS, "merchant", 1, "小王"), (AMOUNT, "no_fault", None, "小王"),
                                        (CLEAN, "merchant", None, "小王"), (ONE_UNIT, "merchant", None, "小王")])
    finally:
        con.close()
    s2 = run_pipeline([exports], dbp, out, as_of="2017-06-21")
    con = db.connect(dbp, read_only=True)
    try:
        cur = con.execute("select * from flags")
        cols = [c[0] for c in cur.description]
        state["flags"] = {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}
        state["status"] = dict(con.execute("select order_id, status from liabilities").fetchall())
        state["rejects"] = con.execute("select source_file, line, reason from rejects").fetchall()
        state["manifest"] = con.execute(
            "select rows_in, loaded, rejected, replaced from load_manifest where load_id = ?", [state["load_id"]]
        ).fetchone()
        state["decisions"] = {r[0] for r in con.execute("select order_id from decisions").fetchall()}
        state["ledger"] = con.execute("select order_id, yuan, reason from payouts order by payout_id").fetchall()
    finally:
        con.close()
    state["second"] = (s2, read_review(out / "review.csv"))
    con = db.connect(dbp)
    try:
        decide(con, [(WORDS, "no_fault", None, "小李")], file="review_again.csv")
        con.execute("delete from decisions where order_id = ? and source_file = 'review_filled.csv'", [WORDS])
    finally:
        con.close()
    run_pipeline([exports], dbp, out, as_of="2017-06-22")
    con = db.connect(dbp, read_only=True)
    try:
        state["ledger_after"] = con.execute("select order_id, yuan, reason from payouts order by payout_id").fetchall()
    finally:
        con.close()
    return state


def test_review_csv_lists_what_the_data_cannot_decide(loop):
    summary, (head, rows) = loop["first"]
    assert head == headings("zh") == ["订单编号", "店铺", "买家", "类型", "规则", "证据", "商品明细", "涉及金额", "缺件数量",
                                      "判定", "备注", "判定人", "判定时间"]
    by_id = {r[0]: dict(zip(head, r)) for r in rows}
    assert set(by_id) == {f'="{WORDS}"', f'="{AMOUNT}"', f'="{ONE_UNIT}"'}  # ids Excel keeps whole
    r = by_id[f'="{WORDS}"']
    assert r["判定"] == "" and r["类型"] == "少件/漏发" and r["缺件数量"] == "2" and "text_words" in r["规则"]
    assert "小熊" in r["商品明细"] and "8.00 × 3" in r["商品明细"] and "小熊少发两个" in r["证据"]
    assert summary.awaiting_review == 3 and summary.by_status.get("disputed") == 3 and summary.decided == 0


def test_review_csv_in_english(loop):
    head, rows = loop["en"]
    assert head == ["order_id", "shop", "buyer", "kind", "rules", "evidence", "lines", "affected_amount",
                    "missing_qty", "decision", "note", "decided_by", "decided_at"]
    assert {r[3] for r in rows} == {"short"}


def test_a_decision_settles_the_flag(loop):
    r = loop["flags"][WORDS]
    assert r["responsibility"] == "merchant" and r["decision"] == "merchant"
    assert "review_decision" in r["rules"] and r["confidence"] == 0.99
    assert r["missing_qty"] == 1 and r["affected_amount"] == D("8.00")  # the units decided, at the line's price
    assert "小王" in r["evidence"] and "review_filled.csv, line 2" in r["evidence"] and "2017-06-21 09:00" in r["evidence"]
    assert loop["status"][WORDS] == "owed"
    r = loop["flags"][AMOUNT]
    assert r["responsibility"] == "no_fault" and loop["status"][AMOUNT] == "excluded"
    r = loop["flags"][ONE_UNIT]  # no units given: the detected ones stay
    assert r["responsibility"] == "merchant" and r["missing_qty"] == 1 and r["affected_amount"] == D("10.00")


def test_a_decision_for_an_order_not_flagged_is_a_reject(loop):
    assert CLEAN not in loop["flags"]
    assert [(f, line) for f, line, _ in loop["rejects"]] == [("review_filled.csv", 4)]
    assert CLEAN in loop["rejects"][0][2] and "not flagged" in loop["rejects"][0][2]
    assert CLEAN not in loop["decisions"]
    rows_in, loaded, rejected, replaced = loop["manifest"]
    assert (loaded, rejected) == (3, 1) and rows_in == loaded + rejected + replaced


def test_the_ledger_follows_the_decisions(loop):
    s2, (_, rows) = loop["second"]
    assert rows == []  # nothing left to decide
    assert s2.decided == 3 and s2.awaiting_review == 0
    assert s2.rejects_this_run == 1  # the decision for the order that is not flagged
    assert s2.by_status.get("owed") == 3 and s2.by_status.get("excluded") == 1
    paid = {o: (y, reason) for o, y, reason in loop["ledger"]}
    assert paid[WORDS] == (D("5.00"), "new")  # 30 % of 8.00, then the 5.00 floor
    assert AMOUNT not in paid
    # a new decision (no fault after all) takes the payout back
    back = [(o, y, reason) for o, y, reason in loop["ledger_after"] if o == WORDS]
    assert back[-1] == (WORDS, D("-5.00"), "reversal") and sum(y for _, y, _ in back) == 0


def test_the_summary_counts_by_status(loop):
    summary = loop["first"][0]
    data = json.loads(json.dumps(summary.to_json()))  # what `run --json` prints
    assert data["status"]["disputed"] == 3 and data["status"]["owed"] == 1
    assert data["review"] == {"awaiting": 3, "decided": 0}
    import dataclasses

    text = "\n".join(dataclasses.replace(summary, lang="en").lines())
    assert "disputed 3" in text and "awaiting review 3 (review.csv)" in text
    zh = "\n".join(summary.lines())  # Chinese, the default
    assert "待判定 3" in zh and "待人工判定 3 单（review.csv）" in zh
