"""`make bench`: how fast is shortship compared with the floor and with a pandas peer?

For N orders (default 1,000,000) it generates exports in the legacy GBK layout once, then
measures on the same files, each in a process of its own (wall time and peak memory):

1. floor: transcode every input file to UTF-8 (what the pipeline must do before DuckDB can read
   GBK) and let DuckDB read every file once into a table: no pipeline can beat this;
2. `shortship run` end to end, with its time split by stage (from `--json`);
3. peer: a straightforward pandas implementation of the core job (read the CSVs with pandas,
   flag by refund reason, 30 % / floor / cap per order), checked against shortship's
   liabilities on the same data; and `shortship run` on the same three files the peer is
   given (orders, items, refunds: no shipments file), the peer's fair opponent, and the floor
   of those three files: no run of them can be faster, so peer / that floor is the highest
   peer / run any implementation reading the input at the floor's speed can reach.

Prints a table (wall time, CPU seconds of the process and its children, peak memory) with the
ratios run / floor and peer / run, and the fixed cost of a run (bench/small.py:
a shop of 200 orders, start to exit, median of 5), and writes bench/results.md. Then the
daily figures (bench/daily.py: one more day and a rerun against a full run, 200,000 orders of
overlapping daily exports; --skip-daily leaves them out; `make bench-daily` alone). Then,
when pyspark is installed, the many-shops figure (bench/spark_bench.py: 20 shops x 20,000
orders, single machine against spark-run on local[1] and local[2]; --skip-spark leaves it out).
With --repeat K the three steps run K times in turn and the median wall time counts (a shared
machine's timings vary by 10-20 % from one run to the next); the range is shown beside it.
Usage: python bench/bench.py --orders 1000000 [--repeat 3] [--keep] [--skip-peer]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"


def step(name: str, cmd: list[str]) -> dict:
    """Run `cmd` as a child; its own wall time and peak RSS (os.wait4 gives that child's rusage)."""
    log = WORK / f"{name.replace(' ', '_')}.out"
    with open(log, "w") as out, open(str(log) + ".err", "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(Path(str(log) + ".err").read_text())
        raise SystemExit(f"bench: {name} failed: {' '.join(cmd)}")
    text = log.read_text().strip().splitlines()
    return {"name": name, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_bytes": usage.ru_maxrss * 1024,
            "stdout_tail": text[-1:]}


def discard(path: Path) -> None:
    """Put `path` (a run's output folder, thousands of pages) out of the way without deleting
    it: renamed into WORK/.trash, which `empty_trash` deletes when the figures are taken. On a
    file system without a journal (this workplace's machines: `dmesg` says "mounted filesystem
    ... without journal"), ext4 gives no new file an inode freed in the last 60 s (360 s while
    its inode table block is unwritten), and each file created checks the freed inodes one by
    one (`recently_deleted` in fs/ext4/ialloc.c; perf: the time in find_inode_bit): with the last
    run's 31,000 pages deleted just before a 1M run, its render worker's 19,000 page opens took
    4.4 s (7,000 opened in 0.21 s after a quiet spell), a cost of the benchmark's cleaning, not
    of the run."""
    if not path.exists():
        return
    trash = WORK / ".trash"
    trash.mkdir(parents=True, exist_ok=True)
    path.rename(trash / f"{path.name}.{time.time_ns()}")


def empty_trash() -> None:
    shutil.rmtree(WORK / ".trash", ignore_errors=True)


def median_of(steps: list[dict]) -> dict:
    """The step whose wall time is the median (its stage split and output go with it); the
    range of all and the highest peak memory beside it."""
    ordered = sorted(steps, key=lambda r: r["wall"])
    mid = dict(ordered[(len(ordered) - 1) // 2])
    mid.update(low=ordered[0]["wall"], high=ordered[-1]["wall"], runs=len(steps),
               peak_bytes=max(r["peak_bytes"] for r in steps))
    return mid


def truth_as_of(truth: Path) -> str | None:
    """The clock the generator's truth assumes, so that the run's statuses are comparable."""
    if not truth.exists():
        return None
    import duckdb

    row = duckdb.connect().execute("select max(as_of)::varchar from read_parquet(?)", [str(truth)]).fetchone()
    return row[0] if row else None


def fmt_bytes(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def record(text: str) -> None:
    """Put a section of figures at the top of bench/results.md, stamped with the time and the
    commit it measured; every earlier section stays below it (the file is the history of the
    figures, hand-written sections included: a new run of the same size replaces nothing)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "pipeline", "sql"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        head, dirty = "", ""
    title, _, rest = text.partition("\n")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    code = f", commit {head}" + (" with uncommitted changes" if dirty else "") if head else ""
    res = HERE / "results.md"
    prev = res.read_text() if res.exists() else ""
    res.write_text(f"{title}\n\nMeasured {stamp}{code}.\n{rest.rstrip()}\n" + ("\n" + prev if prev.strip() else ""))


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 2**20:.1f} GiB RAM"
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {mem}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep generated files and databases")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-spark", action="store_true", help="no many-shops figure (bench/spark_bench.py)")
    ap.add_argument("--skip-daily", action="store_true", help="no daily figures (bench/daily.py)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="run each step K times, report the median (default 3 up to 2M orders, else 1)")
    args = ap.parse_args()

    py = sys.executable
    n = args.orders
    if args.repeat is None:
        args.repeat = 3 if n <= 2_000_000 else 1
    data = WORK / f"exports_{n}"
    WORK.mkdir(parents=True, exist_ok=True)
    if not (data / ".complete").exists():
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        print(f"generating {n:,} orders (legacy GBK) into {data} ...", flush=True)
        t0 = time.perf_counter()
        subprocess.run([py, "-m", "pipeline", "generate", "--orders", str(n), "--seed", str(args.seed),
                        "--out", str(data), "--format", "legacy", "--encoding", "gbk"], check=True, cwd=ROOT)
        print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
        (data / ".complete").write_text("ok")
    exports = sorted(p for p in data.iterdir() if p.suffix == ".csv")
    size = sum(p.stat().st_size for p in exports)
    as_of = truth_as_of(data / "truth.parquet")

    dbf = WORK / f"run_{n}.duckdb"
    out = WORK / f"out_{n}"
    cmd = [py, "-m", "pipeline", "run", str(data), "--db", str(dbf), "--out", str(out), "--json", "--create"]
    if as_of:
        cmd += ["--as-of", as_of]
    # the peer's input: the orders, items and refunds exports (no shipments file), as links
    three = WORK / f"exports_{n}_three"
    discard(three)
    three.mkdir()
    for p in exports:
        if p.name.startswith(("ExportOrderList", "ExportOrderDetailList", "ExportRefundList")):
            os.link(p, three / p.name)
    db3, out3 = WORK / f"run_{n}_three.duckdb", WORK / f"out_{n}_three"
    cmd3 = [py, "-m", "pipeline", "run", str(three), "--db", str(db3), "--out", str(out3), "--json", "--create"]
    if as_of:
        cmd3 += ["--as-of", as_of]
    three_exports = sorted(str(p) for p in three.iterdir())
    floors, runs, peers, runs3, floors3 = [], [], [], [], []
    for _ in range(max(1, args.repeat)):  # in turn, so that a slow spell hits all alike
        floors.append(step("floor", [py, str(HERE / "floor.py"), *map(str, exports)]))
        for p in (dbf, Path(str(dbf) + ".wal")):
            p.unlink(missing_ok=True)
        discard(out)  # a first run: every output written
        runs.append(step("shortship run", cmd))
        if not args.skip_peer:
            peers.append(step("pandas peer", [py, str(HERE / "peer_pandas.py"), str(three), "--check-db", str(dbf)]))
            for p in (db3, Path(str(db3) + ".wal")):
                p.unlink(missing_ok=True)
            discard(out3)
            runs3.append(step("shortship run, the peer's three files", cmd3))
            floors3.append(step("floor, the peer's three files", [py, str(HERE / "floor.py"), *three_exports]))
    # the daily case with nothing new: the same run again on its database and outputs (files
    # already loaded are skipped; only the outputs whose content changes are written)
    again = step("shortship run again (no new data)", [c for c in cmd if c != "--create"])
    floor, run = median_of(floors), median_of(runs)
    peer = median_of(peers) if peers else None
    run3 = median_of(runs3) if runs3 else None
    floor3 = median_of(floors3) if floors3 else None
    results = [r for r in (floor, run, peer, run3, floor3) if r]
    stages = {}
    try:
        summary = json.loads(run["stdout_tail"][0])
        stages = summary.get("timings", {})
    except (ValueError, IndexError, KeyError):
        pass

    lines = [
        f"# shortship benchmark: {n:,} orders",
        "",
        f"Machine: {machine()}. Input: {len(exports)} files, {size / 2**20:.0f} MiB (legacy GBK).",
        "",
        "| step | wall s" + (f" (median of {max(1, args.repeat)}, range)" if args.repeat > 1 else "")
        + " | CPU s | peak memory |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        spread = f" ({r['low']:.1f}-{r['high']:.1f})" if r["runs"] > 1 else ""
        lines.append(f"| {r['name']} | {r['wall']:.1f}{spread} | {r['cpu']:.1f} | {fmt_bytes(r['peak_bytes'])} |")
    lines.append("")
    lines.append(f"run / floor = {run['wall'] / floor['wall']:.2f}")
    if peer:
        lines.append(f"peer / run = {peer['wall'] / run['wall']:.2f} (the run reads the shipments file too)")
        lines.append(f"peer / run on the peer's three files = {peer['wall'] / run3['wall']:.2f} (target 3)")
        lines.append(f"peer / floor of the same three files = {peer['wall'] / floor3['wall']:.2f}: the most "
                     "peer / run can be for any run that reads those files no faster than the floor")
        lines.append(peer["stdout_tail"][0] if peer["stdout_tail"] else "peer check: no output")
    if stages:
        lines += ["", "Time of `shortship run` by stage:", "", "| stage | s |", "|---|---:|"]
        lines += [f"| {k} | {float(v):.1f} |" for k, v in stages.items()]
    try:
        rerun = json.loads(again["stdout_tail"][0])
        files = rerun.get("output_files", {})
        lines += ["", f"`shortship run` again on its database and outputs, no new data: {again['wall']:.1f} s wall, "
                      f"peak {fmt_bytes(again['peak_bytes'])}; outputs {rerun['timings'].get('writing outputs', 0):.1f} s "
                      f"+ publishing {rerun['timings'].get('publishing outputs', 0):.1f} s; files written "
                      f"{files.get('written')}, unchanged {files.get('unchanged')} "
                      f"({rerun.get('evidence_pages')} evidence pages in the set)"]
    except (ValueError, IndexError, KeyError, TypeError):
        pass
    # the fixed cost of a run (bench/small.py): a shop with 200 orders a day, start to exit
    sys.path.insert(0, str(HERE))
    from small import small_run

    lines += ["", small_run()]
    text = "\n".join(lines) + "\n"
    print(text)
    record(text)
    if not args.keep:
        for p in (out, out3, three):
            discard(p)
    if not args.skip_daily:
        subprocess.run([sys.executable, str(HERE / "daily.py"), "--write"] + (["--keep"] if args.keep else []),
                       check=True, cwd=ROOT)
    spark_figure(args)
    empty_trash()  # last: the deleting would slow the file writes of any run after it (discard)


def spark_figure(args) -> None:
    """The many-shops figure (bench/spark_bench.py, its own defaults) when pyspark is installed."""
    import importlib.util

    if args.skip_spark or importlib.util.find_spec("pyspark") is None:
        print("many-shops figure skipped (pyspark not installed: make spark; or --skip-spark given)")
        return
    subprocess.run([sys.executable, str(HERE / "spark_bench.py")] + (["--keep"] if args.keep else []),
                   check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
