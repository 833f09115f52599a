"""A daily run costs what is new and gives what one fresh run gives (issue 21).

Overlapping daily exports (`shortship generate --split-daily`: each day's four files hold what
changed in the seven days before) are run day by day on one database, as a shop does: each
day's run loads the new files only and recomputes the detection of the orders the new rows or
the moving clock can change (pipeline/incremental.py). Each day, the database must hold what
one fresh run over the same files at the same clock holds: the flags, notes, liabilities,
buyer reviews, the ledger's totals per order and the summary. The days include one where a
later order's memo flags an earlier order whose own rows did not change, and a run where only
the clock moves and a curable order becomes owed. The database work is run as `shortship run`
runs it (pipeline.run.run_steps), without the outputs.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline import db
from pipeline.generate import generate
from pipeline.load import load_paths
from pipeline.policy import load_policy
from pipeline.run import run_steps

DAYS = 4
STAMP = re.compile(r"(20\d{10})")

# compared between the daily database and the fresh run's: everything but the run's id
COMPARED = {
    "flags": "* exclude (run_id)",
    "notes": "* exclude (run_id)",
    "liabilities": "* exclude (run_id)",
    "buyer_reviews": "* exclude (run_id)",
    "payouts": "order_id, payout_form, sum(yuan) as yuan, sum(points) as points",
}


def _days(folder: Path) -> list[tuple[datetime, list[Path]]]:
    by_stamp: dict[str, list[Path]] = defaultdict(list)
    for p in sorted(folder.glob("*.csv")):
        by_stamp[STAMP.search(p.name).group(1)].append(p)
    return [(datetime.strptime(k, "%Y%m%d%H%M"), v) for k, v in sorted(by_stamp.items())]


def _run(dbp: Path, folder: Path, clock: datetime, tag: str):
    con = db.connect(dbp, create=True)
    try:
        con.execute("BEGIN TRANSACTION")
        steps = run_steps(con, [folder], clock, load_policy("tmall"), f"run-{tag}", "test")
        con.execute("COMMIT")
        return steps
    finally:
        con.close()


def _link(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        if not (folder / f.name).exists():
            os.link(f, folder / f.name)


def _differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per table: rows only in a, rows only in b (nothing when they are equal)."""
    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    summary = db.model_sql("outputs/summary.sql")
    out = {}
    try:
        for table, cols in COMPARED.items():
            group = " group by order_id, payout_form having sum(yuan) <> 0 or sum(points) <> 0" if table == "payouts" else ""
            x, y = (f"select {cols} from {s}.{table}{group}" for s in ("a", "b"))
            only_a = con.execute(f"select count(*) from ({x} except all {y})").fetchone()[0]
            only_b = con.execute(f"select count(*) from ({y} except all {x})").fetchone()[0]
            if only_a or only_b:
                out[table] = (only_a, only_b)
        rows = []
        for s in ("a", "b"):
            con.execute(f"use {s}")
            rows.append(sorted(con.execute(summary).fetchall(), key=repr))
        if rows[0] != rows[1]:
            out["summary"] = (len(rows[0]), len(rows[1]))
    finally:
        con.close()
    return out


def _fresh(base: Path, days: list, clock: datetime, tag: str) -> Path:
    """One fresh run over the files of `days` at `clock`."""
    folder = base / f"fresh_{tag}"
    _link([f for _, fs in days for f in fs], folder)
    dbp = base / f"fresh_{tag}.duckdb"
    _run(dbp, folder, clock, f"fresh-{tag}")
    return dbp


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    base = tmp_path_factory.mktemp("daily")
    generate(base / "exports", 500, 21, days=4, quirks=("split_daily",), workers=1,
             rates={"makeup_earlier": 0.06, "ship_only_no_complaint": 0.06, "unshipped": 0.02})
    days = _days(base / "exports")[:DAYS]
    folder, dbp = base / "shop", base / "shop.duckdb"
    out = {"days": []}
    for k, (clock, files) in enumerate(days):
        before, changed, seen = None, None, None
        _link(files, folder)
        if k:
            # the day's files loaded first, to see what they change (the run then skips them)
            con = db.connect(dbp)
            try:
                before = {r[0]: list(r[1]) for r in con.execute("select order_id, rules from flags").fetchall()}
                load_paths(con, [folder])
                changed = {r[0] for r in con.execute("select order_id from changed_orders").fetchall()}
                seen = {r[0] for r in con.execute(
                    "select order_id from (" + " union ".join(
                        f"select order_id from {t} where load_id in (select load_id from load_manifest "
                        f"where file_name in (select unnest($names)))"
                        for t in ("orders", "order_lines", "refunds", "shipments")) + ")",
                    {"names": [f.name for f in files]}).fetchall()}
            finally:
                con.close()
        steps = _run(dbp, folder, clock, f"day{k}")
        con = duckdb.connect(str(dbp), read_only=True)
        after = {r[0]: list(r[1]) for r in con.execute("select order_id, rules from flags").fetchall()}
        status = dict(con.execute("select order_id, status from liabilities").fetchall())
        orders = con.execute("select count(*) from orders").fetchone()[0]
        con.close()
        out["days"].append({
            "clock": clock, "steps": steps, "before": before, "after": after, "status": status,
            "changed": changed, "seen": seen, "orders": orders,
            "differences": _differences(dbp, _fresh(base, days[:k + 1], clock, f"day{k}")),
        })
    # a run with no new file, at a clock where a curable order's deadline has passed
    last_clock = days[-1][0]
    con = duckdb.connect(str(dbp), read_only=True)
    curable = con.execute("select order_id, deadline from liabilities where status = 'curable' "
                          "order by deadline, order_id limit 1").fetchone()
    con.close()
    out["curable"] = curable
    if curable:
        clock = max(curable[1] + timedelta(minutes=1), last_clock)
        steps = _run(dbp, folder, clock, "clock")
        con = duckdb.connect(str(dbp), read_only=True)
        out["clock_status"] = dict(con.execute("select order_id, status from liabilities").fetchall())
        con.close()
        out["clock"] = {"steps": steps, "differences": _differences(dbp, _fresh(base, days, clock, "clock"))}
    return out


def test_each_day_equals_one_fresh_run(daily):
    for k, day in enumerate(daily["days"]):
        assert day["differences"] == {}, f"day {k + 1} ({day['clock']}): {day['differences']}"


def test_a_day_recomputes_only_part_of_the_orders(daily):
    first, *later = daily["days"]
    assert first["steps"].flags.recomputed is None  # a new database: every order
    for day in later:
        assert day["steps"].flags.recomputed is not None
        assert day["steps"].flags.recomputed < day["orders"]


def test_a_later_memo_flags_an_earlier_order_whose_rows_did_not_change(daily):
    """text_makeup: a make-up on a later order traced to an earlier one. The earlier order's
    flag changes on the day the later order arrives, though its own rows do not: the daily run
    recomputes it and equals the fresh run (test_each_day_equals_one_fresh_run)."""
    seen = []
    for k, day in enumerate(daily["days"][1:], start=1):
        for oid, rules in day["after"].items():
            if ("text_makeup" in rules and "text_makeup" not in (day["before"].get(oid) or [])
                    and oid not in day["changed"]):
                seen.append((k, oid))
    assert seen, "no day flagged an earlier order, whose rows did not change, by a later order's memo"


def test_loads_record_only_rows_whose_content_changed(daily):
    """A newer export repeating an order as it was changes nothing: each day's files hold the
    orders of seven days again, and only those whose rows differ are recorded."""
    for day in daily["days"][1:]:
        assert day["changed"] and day["changed"] <= day["seen"]
        assert len(day["changed"]) < len(day["seen"])


def test_only_the_clock_moves_a_curable_order_becomes_owed(daily):
    assert daily["curable"], "no curable order to let the clock pass"
    oid = daily["curable"][0]
    assert daily["clock_status"][oid] == "owed"
    clock = daily["clock"]
    assert all(f.status == "skipped" for f in clock["steps"].files)
    assert clock["steps"].flags.recomputed is not None
    assert clock["differences"] == {}


def test_another_policy_or_an_earlier_clock_recomputes_everything(tmp_path):
    """What the kept rows were computed with is recorded (detection_state): with another policy,
    or at a clock before the recorded one, every order is computed again."""
    from pipeline.incremental import can_continue

    from .conftest import FIXTURES

    folder, dbp = FIXTURES / "run_sample", tmp_path / "s.duckdb"
    runs = []

    def run(clock, policy):
        con = db.connect(dbp, create=True)
        try:
            con.execute("BEGIN TRANSACTION")
            steps = run_steps(con, [folder], clock, load_policy(policy), f"r{len(runs)}", "test")
            con.execute("COMMIT")
            runs.append(steps)
            return steps.flags.recomputed
        finally:
            con.close()

    assert run(datetime(2019, 3, 10, 12), "tmall") is None
    assert runs[-1].flags.flagged > 0
    assert run(datetime(2019, 3, 11, 12), "tmall") is not None
    assert run(datetime(2019, 3, 11, 12), "taobao") is None
    assert run(datetime(2019, 3, 12, 12), "taobao") is not None
    con = db.connect(dbp)
    try:
        assert can_continue(con, datetime(2019, 3, 12, 12), load_policy("taobao"))
        assert not can_continue(con, datetime(2019, 3, 12, 11), load_policy("taobao"))
        assert not can_continue(con, datetime(2019, 3, 12, 12), load_policy("tmall"))
    finally:
        con.close()
