"""`make bench-daily`: what a daily run costs on a growing history (issue 21).

A month of overlapping daily exports (`shortship generate --split-daily`: every day's four files
each hold what changed in the seven days before) of N orders (default 200,000). Taking the files
of the first D days (default 30) as a shop's folder, it measures, each `shortship run` in a
process of its own (wall time from start to exit and peak memory, as `/usr/bin/time -v` gives
them), in this order:

1. history: a fresh database over the files of days 1 .. D-1, as of day D-1's export time;
2. one more day: day D's four files put in the folder, the same database, as of day D's export
   time (the files already loaded are skipped by their SHA-256);
3. a rerun with no new file, an hour later;
4. full: a fresh database over the same files of days 1 .. D, as of day D's export time (what
   the daily run must equal, and costs a share of).

Then it checks that the daily run's database holds what the full run's holds (flags, notes,
liabilities, buyer reviews and the ledger totals per order; the rerun against a fresh run at its
clock is the test suite's job, tests/test_daily.py), and prints the ratios one more day / full
and rerun / full with the stage-by-stage time of the daily run and of the rerun. With --write
the table goes on top of bench/results.md (under its own heading, every earlier section kept).

Usage: python bench/daily.py [--orders 200000] [--days 30] [--seed 7] [--repeat 1] [--keep] [--write]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
sys.path.insert(0, str(HERE))
from bench import discard, empty_trash, fmt_bytes, machine, median_of, record, step  # noqa: E402

STAMP = re.compile(r"(20\d{10})")

# what the daily database must hold as the full run's: (table, columns compared); run ids and
# as-of columns differ by construction and stay out
COMPARED = {
    "flags": "order_id, kind, responsibility, confidence, rules, evidence, missing_qty, affected_amount, "
             "ship_by, reshipped_at, refunded_amount, basis, complaint, line_no, sku, refund_ids, decision, hold",
    "notes": "order_id, source, refund_id, rule, sort, kind, quote, missing_qty, related_order_ids, flagged",
    "liabilities": "order_id, kind, responsibility, status, base_amount, compensation_yuan, points, floor_applied, "
                   "cap_applied, goods_refund_yuan, freight_yuan, total_yuan, deadline, policy, at_risk_yuan, "
                   "recoverable_yuan, hold",
    "buyer_reviews": "buyer, claims, orders, refunded_amount, first_claim_at, last_claim_at, review, order_ids",
    "payouts": "order_id, sum(points) as points, sum(yuan) as yuan",
}


def generate(n: int, seed: int) -> Path:
    data = WORK / f"daily_{n}"
    if not (data / ".complete").exists():
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        print(f"generating {n:,} orders as overlapping daily exports into {data} ...", flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline", "generate", "--orders", str(n), "--seed", str(seed),
                        "--out", str(data), "--split-daily"], check=True, cwd=ROOT)
        print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
        (data / ".complete").write_text("ok")
    return data


def by_day(data: Path) -> list[tuple[datetime, list[Path]]]:
    days: dict[str, list[Path]] = defaultdict(list)
    for p in sorted(data.glob("*.csv")):
        m = STAMP.search(p.name)
        if m:
            days[m.group(1)].append(p)
    return [(datetime.strptime(k, "%Y%m%d%H%M"), v) for k, v in sorted(days.items())]


def link(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = folder / f.name
        if not target.exists():
            os.link(f, target)  # a hard link: the same bytes, as a user's folder would hold them


def fresh(dbf: Path) -> None:
    for p in (dbf, Path(str(dbf) + ".wal")):
        p.unlink(missing_ok=True)


def run_cmd(folder: Path, dbf: Path, out: Path, as_of: datetime) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", str(folder), "--db", str(dbf), "--out", str(out), "--json",
            "--create", "--as-of", f"{as_of:%Y-%m-%d %H:%M:%S}"]


def recomputed(r: dict) -> str:
    """The orders the run recomputed (from --json)."""
    try:
        n = json.loads(r["stdout_tail"][0]).get("recomputed_orders")
        orders = json.loads(r["stdout_tail"][0]).get("orders")
    except (ValueError, IndexError, KeyError):
        return "?"
    return "all" if n is None else f"{n:,} of {orders:,}"


def stages(r: dict) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(r["stdout_tail"][0]).get("timings", {}).items()}
    except (ValueError, IndexError, KeyError):
        return {}


def compare(daily_db: Path, full_db: Path) -> list[str]:
    """Rows of each compared table in one database and not the other (both ways): [] when equal."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"attach '{daily_db}' as d (read_only)")
    con.execute(f"attach '{full_db}' as f (read_only)")
    problems = []
    for table, cols in COMPARED.items():
        group = " group by order_id having sum(yuan) <> 0 or sum(points) <> 0" if table == "payouts" else ""
        a, b = (f"select {cols} from {s}.{table}{group}" for s in ("d", "f"))
        only_d = con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0]
        only_f = con.execute(f"select count(*) from ({b} except all {a})").fetchone()[0]
        n = con.execute(f"select count(*) from ({a})").fetchone()[0]
        if only_d or only_f:
            problems.append(f"{table}: {only_d} row(s) only in the daily database, {only_f} only in the full run's")
        else:
            print(f"  {table}: {n:,} rows, equal", flush=True)
    con.close()
    return problems


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=30, help="days of history: the files of days 1 .. DAYS")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=1, help="measure the daily run and the rerun K times (median)")
    ap.add_argument("--keep", action="store_true", help="keep the databases and outputs")
    ap.add_argument("--write", action="store_true", help="write the table into bench/results.md")
    args = ap.parse_args()

    data = generate(args.orders, args.seed)
    days = by_day(data)
    if not 2 <= args.days <= len(days):
        raise SystemExit(f"bench: --days must be from 2 to {len(days)} (the generated daily exports)")
    days = days[: args.days]
    (t_prev, _), (t_last, last_files) = days[-2], days[-1]
    history_files = [f for _, fs in days[:-1] for f in fs]
    all_bytes = sum(f.stat().st_size for _, fs in days for f in fs)
    new_bytes = sum(f.stat().st_size for f in last_files)

    base = WORK / f"daily_run_{args.orders}"
    discard(base)
    folder, full_folder = base / "exports", base / "exports_full"
    dbf, full_db, hist_copy = base / "shop.duckdb", base / "full.duckdb", base / "history.duckdb"
    out, full_out = base / "out", base / "out_full"
    link(history_files, folder)

    print(f"history: {len(history_files)} files, days 1-{args.days - 1}, as of {t_prev}", flush=True)
    history = step("history", run_cmd(folder, dbf, out, t_prev))
    shutil.copyfile(dbf, hist_copy)
    shutil.copytree(out, base / "out_history")
    link(last_files, folder)
    dailies, reruns = [], []
    for i in range(max(1, args.repeat)):
        if i:  # back to the history's database and outputs
            fresh(dbf)
            shutil.copyfile(hist_copy, dbf)
            discard(out)
            shutil.copytree(base / "out_history", out)
        print(f"one more day: {len(last_files)} new files ({new_bytes / 2**20:.0f} MiB), as of {t_last}", flush=True)
        dailies.append(step("one more day", run_cmd(folder, dbf, out, t_last)))
        print(f"rerun, no new file, as of {t_last + timedelta(hours=1)}", flush=True)
        reruns.append(step("rerun, no new file", run_cmd(folder, dbf, out, t_last + timedelta(hours=1))))
    daily, rerun = median_of(dailies), median_of(reruns)
    # the full run compared with the daily database at the daily run's clock: a copy of the
    # daily database taken before its rerun is what the comparison needs
    fresh(dbf)
    shutil.copyfile(hist_copy, dbf)
    discard(out)
    shutil.copytree(base / "out_history", out)
    print("one more day again (the database compared with the full run)", flush=True)
    step("one more day (check)", run_cmd(folder, dbf, out, t_last))
    link([f for _, fs in days for f in fs], full_folder)
    print(f"full: a fresh database over all {sum(len(fs) for _, fs in days)} files, as of {t_last}", flush=True)
    full = step("full run", run_cmd(full_folder, full_db, full_out, t_last))
    print("comparing the daily database with the full run's:", flush=True)
    problems = compare(dbf, full_db)

    lines = [
        f"# shortship daily benchmark: {args.orders:,} orders, {args.days} days of daily exports",
        "",
        f"Machine: {machine()}. Input: {sum(len(fs) for _, fs in days)} files, {all_bytes / 2**20:.0f} MiB "
        f"(legacy GBK, overlapping daily exports); the last day's {len(last_files)} files: "
        f"{new_bytes / 2**20:.0f} MiB ({100 * new_bytes / all_bytes:.1f} % of the bytes).",
        "",
        "| run | wall s" + (f" (median of {args.repeat}, range)" if args.repeat > 1 else "") + " | peak memory |",
        "|---|---:|---:|",
    ]
    for r in (history, daily, rerun, full):
        spread = f" ({r['low']:.1f}-{r['high']:.1f})" if r.get("runs", 1) > 1 else ""
        lines.append(f"| {r['name']} | {r['wall']:.1f}{spread} | {fmt_bytes(r['peak_bytes'])} |")
    lines += [
        "",
        f"one more day / full run = {daily['wall'] / full['wall']:.2f} (target 0.15)",
        f"rerun with no new file / full run = {rerun['wall'] / full['wall']:.2f} (target 0.10)",
        "daily database = full run's: " + ("yes (flags, notes, liabilities, buyer reviews, ledger totals per order)"
                                           if not problems else "NO: " + "; ".join(problems)),
    ]
    st_d, st_r, st_f = stages(daily), stages(rerun), stages(full)
    if st_d:
        lines += ["", "Where the time goes (the run's own stage clock, s):", "",
                  "| stage | one more day | rerun | full run |", "|---|---:|---:|---:|"]
        for k in list(dict.fromkeys(list(st_f) + list(st_d))):
            lines.append(f"| {k} | {st_d.get(k, 0):.1f} | {st_r.get(k, 0):.1f} | {st_f.get(k, 0):.1f} |")
        lines.append(f"| (start and exit: wall − stages) | {daily['wall'] - sum(st_d.values()):.1f} | "
                     f"{rerun['wall'] - sum(st_r.values()):.1f} | {full['wall'] - sum(st_f.values()):.1f} |")
        lines.append(f"| orders whose detection was recomputed | {recomputed(daily)} | {recomputed(rerun)} | "
                     f"{recomputed(full)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        record(text)
    if not args.keep:
        discard(base)
    empty_trash()
    if problems:
        raise SystemExit("bench: the daily database differs from the full run's: " + "; ".join(problems))


if __name__ == "__main__":
    main()
