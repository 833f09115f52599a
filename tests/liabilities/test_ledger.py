"""The payout ledger: append-only, only differences, the cap over all payouts of an order."""
from __future__ import annotations

import re
from pathlib import Path

from pipeline.liabilities import append_ledger, compute_liabilities

from .helpers import D, add_flag, hours, ledger, liability, run, set_flag

ROOT = Path(__file__).resolve().parents[2]


def test_top_up_when_a_later_run_raises_the_amount(con, tmall):
    add_flag(con, "t", missing_qty=1, affected="99.00")
    run(con, tmall, run_id="a")
    set_flag(con, "t", missing_qty=2, affected=D("198.00"))  # a later export: two units missing
    _, lines = run(con, tmall, run_id="b")
    assert [(p.reason, p.points, p.yuan) for p in lines] == [("top_up", 2970, D("29.70"))]
    assert con.execute("select sum(points), sum(yuan) from payouts").fetchone() == (5940, D("59.40"))


def test_cap_holds_over_all_payouts_of_an_order(con, tmall):
    add_flag(con, "c", missing_qty=1, affected="1000.00")
    _, first = run(con, tmall, run_id="a")
    assert [(p.reason, p.yuan) for p in first] == [("new", D("300.00"))]
    set_flag(con, "c", missing_qty=2, affected=D("2000.00"))  # 600.00 before the cap
    _, second = run(con, tmall, run_id="b")
    assert [(p.reason, p.yuan, p.points) for p in second] == [("top_up", D("200.00"), 20000)]
    assert con.execute("select sum(yuan), sum(points) from payouts where order_id = 'c'").fetchone() == (
        D("500.00"), 50000)


def test_lowered_amount_gives_a_partial_reversal(con, tmall):
    add_flag(con, "l", missing_qty=2, affected="198.00")
    run(con, tmall, run_id="a")
    set_flag(con, "l", missing_qty=1, affected=D("99.00"))
    _, lines = run(con, tmall, run_id="b")
    assert [(p.reason, p.yuan, p.points) for p in lines] == [("reversal", D("-29.70"), -2970)]


def test_order_no_longer_flagged_is_reversed_and_a_returning_fault_is_new_again(con, tmall):
    add_flag(con, "g", affected="99.00")
    run(con, tmall, run_id="a")
    con.execute("delete from flags")  # the next detection run no longer flags it
    _, lines = run(con, tmall, run_id="b")
    assert [(p.order_id, p.reason, p.yuan) for p in lines] == [("g", "reversal", D("-29.70"))]
    add_flag(con, "g", affected="99.00")
    _, lines = run(con, tmall, run_id="c")
    assert [(p.reason, p.yuan) for p in lines] == [("new", D("29.70"))]
    _, lines = run(con, tmall, run_id="d")
    assert lines == []


def test_ledger_is_append_only(con, tmall):
    add_flag(con, "x", affected="99.00")
    add_flag(con, "y", affected="10.00", buyer="b2")
    run(con, tmall, run_id="a")
    first = ledger(con)
    set_flag(con, "x", responsibility="buyer")
    set_flag(con, "y", affected=D("100.00"))
    run(con, tmall, run_id="b")
    run(con, tmall, run_id="c")
    after = ledger(con)
    assert after[: len(first)] == first  # earlier lines untouched, new ones only appended
    assert [p["reason"] for p in after[len(first):]] == ["reversal", "top_up"]
    ids = [p["payout_id"] for p in after]
    assert ids == sorted(set(ids))
    # nothing in the liabilities code updates or deletes a payout line
    sources = [ROOT / "pipeline" / "liabilities.py", *sorted((ROOT / "sql" / "liabilities").glob("*.sql"))]
    for p in sources:
        text = p.read_text(encoding="utf-8").lower()
        assert not re.search(r"(update\s+payouts|delete\s+from\s+payouts|truncate\s+payouts|drop\s+table\s+(if\s+exists\s+)?payouts)", text), p


def test_payout_lines_carry_run_policy_and_form(con, tmall):
    add_flag(con, "p", affected="99.00")
    run(con, tmall, run_id="run-42")
    (line,) = ledger(con)
    assert (line["run_id"], line["policy"], line["payout_form"], line["reason"]) == ("run-42", "tmall-2023", "points", "new")
    assert line["created_at"] is not None


def test_switching_payout_form_reverses_the_old_form(con, tmall, taobao):
    add_flag(con, "s", affected="99.00")
    run(con, tmall, run_id="a")
    _, lines = run(con, taobao, run_id="b")
    assert sorted((p.payout_form, p.reason, p.yuan, p.points) for p in lines) == [
        ("points", "reversal", D("-29.70"), -2970), ("red_packet", "new", D("29.70"), 0)]


def test_curable_pays_nothing_until_the_deadline(con, tmall):
    add_flag(con, "k", affected="99.00")
    for h in (1, 24, 71):
        _, lines = run(con, tmall, as_of=hours(h), run_id=f"h{h}")
        assert lines == [] and liability(con, "k")["status"] == "curable"
    _, lines = run(con, tmall, as_of=hours(72), run_id="h72")  # the deadline itself has passed
    assert [p.reason for p in lines] == ["new"]


def test_failure_leaves_ledger_and_liabilities_unchanged(con, tmall, monkeypatch):
    add_flag(con, "f", affected="99.00")
    run(con, tmall, run_id="a")
    before_l = con.execute("select * from liabilities").fetchall()
    before_p = ledger(con)
    set_flag(con, "f", affected=D("198.00"))
    from pipeline import db

    real = db.materialize

    def broken(con_, model, table, params=None, temp=False):
        if model.endswith("penalty.sql"):
            raise RuntimeError("killed half way")
        return real(con_, model, table, params, temp)

    monkeypatch.setattr(db, "materialize", broken)
    try:
        compute_liabilities(con, hours(100), tmall, "b")
    except RuntimeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected the failure")
    monkeypatch.setattr(db, "materialize", real)
    assert con.execute("select * from liabilities").fetchall() == before_l
    assert append_ledger(con, "c", tmall) == []  # liabilities unchanged: nothing new is due
    assert ledger(con) == before_p
