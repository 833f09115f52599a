"""The many-shops figure: N shops x M orders on Spark (local mode) against the single-machine
runs of the same shops one after another.

For N shops (default 20) of M orders each (default 20,000), one `shortship generate` per shop
folder (legacy GBK, its own seed), then, each in a process of its own (wall time, peak memory):

1. single machine: `shortship run <shop> --db <own db>` for every shop in turn;
2. `shortship spark-run <shops> --master local[k]` for k in --cores (default 1 and 2): one
   session, every shop, the ledger, the datasets. The stage times and each shop's time inside
   its task come from `--json`.

The totals (orders, flags, ledger lines and yuan) of the two are checked to be equal. With
--memory SIZES (orders, e.g. 20000,100000,200000) one shop of each size also runs alone on
local[1], for the peak memory of the task's Python process per million orders of one shop.

Prints a table and writes bench/spark_results.md. Needs the [spark] extra and Java.
Usage: python bench/spark_bench.py [--shops 20] [--orders 20000] [--cores 1,2] [--memory 20000,100000]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
sys.path.insert(0, str(HERE))

from bench import fmt_bytes, machine, step, truth_as_of  # noqa: E402


def generate_shops(root: Path, shops: int, orders: int, seed: int) -> None:
    if (root / ".complete").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    for i in range(shops):
        subprocess.run([sys.executable, "-m", "pipeline", "generate", "--orders", str(orders), "--seed", str(seed + i),
                        "--shops", "1", "--out", str(root / f"shop{i + 1:03d}"), "--format", "legacy",
                        "--encoding", "gbk"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    print(f"generated {shops} shops x {orders:,} orders in {time.perf_counter() - t0:.1f} s", flush=True)
    (root / ".complete").write_text("ok")


def totals_of(jsons: list[dict]) -> dict:
    return {
        "orders": sum(j["orders"] for j in jsons),
        "flagged": sum(j["flagged"]["total"] for j in jsons),
        "ledger lines": sum(j["ledger"]["lines"] for j in jsons),
        "ledger yuan": str(sum((Decimal(j["ledger"]["yuan"]) for j in jsons), Decimal("0.00"))),
    }


def single_runs(root: Path, as_of: str, work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    walls, peak, jsons = [], 0, []
    for shop in sorted(p for p in root.iterdir() if p.is_dir()):
        r = step(f"single {shop.name}", [sys.executable, "-m", "pipeline", "run", str(shop), "--db",
                                         str(work / f"{shop.name}.duckdb"), "--create", "--out", str(work / shop.name),
                                         "--as-of", as_of, "--json"])
        walls.append(r["wall"])
        peak = max(peak, r["peak_bytes"])
        jsons.append(json.loads(r["stdout_tail"][0]))
    return {"wall": sum(walls), "walls": walls, "peak_bytes": peak, "totals": totals_of(jsons)}


def spark_run(root: Path, as_of: str, out: Path, cores: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    r = step(f"spark local[{cores}]", [sys.executable, "-m", "pipeline", "spark-run", str(root), "--out", str(out),
                                       "--as-of", as_of, "--master", f"local[{cores}]", "--json"])
    j = json.loads(r["stdout_tail"][0])
    r["json"] = j
    r["totals"] = {
        "orders": j["orders"], "flagged": j["flagged"]["total"], "ledger lines": j["ledger"]["lines"],
        "ledger yuan": j["ledger"]["yuan"],
    }
    return r


def memory_figure(args) -> list[str]:
    """One shop of each --memory size alone on local[1]: the task process's peak."""
    lines = ["One shop alone on local[1] (the task's Python process, DuckDB inside):", "",
             "| orders | export MiB | task peak memory | task s | wall s |", "|---:|---:|---:|---:|---:|"]
    for size_m in [int(x) for x in args.memory.split(",") if x.strip()]:
        one = WORK / f"shops_1x{size_m}"
        generate_shops(one, 1, size_m, args.seed + 1000)
        mib = sum(p.stat().st_size for p in one.rglob("*.csv")) / 2**20
        r = spark_run(one, truth_as_of(next(one.glob("*/truth.parquet"))), WORK / "spark_out_mem", 1)
        shop = r["json"]["per_shop"][0]
        lines.append(f"| {size_m:,} | {mib:.0f} | {fmt_bytes(shop['peak_rss'])} | {shop['seconds']:.1f} | "
                     f"{r['wall']:.1f} |")
    shutil.rmtree(WORK / "spark_out_mem", ignore_errors=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shops", type=int, default=20)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=70)
    ap.add_argument("--cores", default="1,2", help="local[k] for each k")
    ap.add_argument("--memory", default="", help="orders of one shop run alone on local[1], e.g. 20000,100000")
    ap.add_argument("--memory-only", action="store_true", help="only the --memory figure")
    ap.add_argument("--keep", action="store_true", help="keep generated files and outputs")
    args = ap.parse_args()
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SystemExit("spark_bench: pyspark is not installed (pip install -e '.[spark]')")

    WORK.mkdir(parents=True, exist_ok=True)
    if args.memory_only:
        text = "\n".join(memory_figure(args)) + "\n"
        print(text)
        return
    root = WORK / f"shops_{args.shops}x{args.orders}"
    generate_shops(root, args.shops, args.orders, args.seed)
    as_of = truth_as_of(next(root.glob("*/truth.parquet")))
    size = sum(p.stat().st_size for p in root.rglob("*.csv"))

    print("single-machine runs, one shop after another ...", flush=True)
    single = single_runs(root, as_of, WORK / "spark_single")
    sparks = {}
    for k in [int(c) for c in args.cores.split(",") if c.strip()]:
        print(f"spark-run on local[{k}] ...", flush=True)
        sparks[k] = spark_run(root, as_of, WORK / f"spark_out_{k}", k)
        if sparks[k]["totals"] != single["totals"]:
            raise SystemExit(f"spark_bench: local[{k}] totals {sparks[k]['totals']} differ from {single['totals']}")

    n, m = args.shops, args.orders
    lines = [
        f"# shortship on Spark: {n} shops x {m:,} orders",
        "",
        f"Machine: {machine()}. Input: {n} shop folders, {size / 2**20:.0f} MiB (legacy GBK), as of {as_of}.",
        f"Totals (equal on both paths): {single['totals']}.",
        "",
        "| path | wall s | per shop s (median) | peak memory |",
        "|---|---:|---:|---:|",
        f"| single machine, {n} runs in turn | {single['wall']:.1f} | "
        f"{sorted(single['walls'])[len(single['walls']) // 2]:.1f} | {fmt_bytes(single['peak_bytes'])} (one run) |",
    ]
    for k, r in sparks.items():
        per = sorted(s["seconds"] for s in r["json"]["per_shop"])
        lines.append(f"| spark-run local[{k}] | {r['wall']:.1f} | {per[len(per) // 2]:.1f} (in its task) | "
                     f"{fmt_bytes(max(s['peak_rss'] for s in r['json']['per_shop']))} (largest task process; "
                     f"the JVM not counted) |")
    for k, r in sparks.items():
        lines += ["", f"spark-run local[{k}] by stage (s): "
                  + ", ".join(f"{name} {v:.1f}" for name, v in r["json"]["timings"].items()),
                  f"sum of the shops' times inside their tasks: {sum(s['seconds'] for s in r['json']['per_shop']):.1f} s; "
                  f"largest task process: {fmt_bytes(max(s['peak_rss'] for s in r['json']['per_shop']))}"]

    if args.memory:
        lines += [""] + memory_figure(args)

    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "spark_results.md").write_text(text)
    if not args.keep:
        for p in [WORK / "spark_single", WORK / "spark_out_mem", *(WORK / f"spark_out_{k}" for k in sparks)]:
            shutil.rmtree(p, ignore_errors=True)


if __name__ == "__main__":
    main()
