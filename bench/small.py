"""The fixed cost of a run: `shortship run` on a small shop (200 orders of one day), start to
exit, each run a process of its own on a new database and output folder. Prints the median wall
time of K runs (range beside it) and the median CPU time (user + system of the process and its
threads: less sensitive to a shared machine than the wall time).

The package is byte-compiled first, as an installed wheel is (pip compiles it at install): a
checkout under PYTHONDONTWRITEBYTECODE (set in some shells and CI images) would otherwise
compile every module of the package from source at each start, about 0.1 s that no installed
shortship pays. The report's templates are kept compiled between processes (pipeline/report/
render.py); the first of the K runs may compile them.
Usage: python bench/small.py [--orders 200] [--repeat 5]"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"


def small_run(orders: int = 200, repeat: int = 5) -> str:
    py = sys.executable
    data = WORK / f"small_{orders}"
    if not (data / ".complete").exists():
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run([py, "-m", "pipeline", "generate", "--orders", str(orders), "--seed", "1", "--shops", "1",
                        "--days", "1", "--out", str(data)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        (data / ".complete").write_text("ok")
    import compileall

    compileall.compile_dir(ROOT / "pipeline", quiet=2)
    dbf, out = WORK / f"small_{orders}.duckdb", WORK / f"small_{orders}_out"
    walls, cpus = [], []
    for _ in range(max(1, repeat)):
        for p in (dbf, Path(str(dbf) + ".wal")):
            p.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen([py, "-m", "pipeline", "run", str(data), "--db", str(dbf), "--out", str(out),
                                 "--create", "--as-of", "2017-05-10"], cwd=ROOT, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t0)
        cpus.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("bench: the small run failed")
    shutil.rmtree(out, ignore_errors=True)
    dbf.unlink(missing_ok=True)
    return (f"small run ({orders} orders), start to exit: {statistics.median(walls):.2f} s wall "
            f"(median of {len(walls)}, {min(walls):.2f}-{max(walls):.2f}), "
            f"{statistics.median(cpus):.2f} s CPU (user + system)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    print(small_run(a.orders, a.repeat))
