"""One folder of evidence pages or a hundred? Metadata cost of N small files, flat or sharded.

Creates N files of SIZE bytes in a staging folder, renames them into an output folder, creates
and renames a tenth of them again over their copies (a daily run's changed pages), lists the
output folder, then removes it; flat (one folder) or sharded (a hundred folders by the last two
digits of the name, as evidence/NN/<order_id>.html). Prints the seconds of each step.

Usage: python bench/fs_shards.py N FOLDER flat|shard [SIZE]   (the numbers: bench/results.md)
"""
import os
import shutil
import sys
import time


def main() -> None:
    n, root, shard = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "shard"
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
    shutil.rmtree(root, ignore_errors=True)
    stage, out = os.path.join(root, "stage"), os.path.join(root, "out")
    os.makedirs(stage)
    os.makedirs(out)
    data = b"x" * size
    names = [f"{1000000000000000000 + i * 7919}.html" for i in range(n)]

    def rel(name: str) -> str:
        return os.path.join(name[-7:-5], name) if shard else name

    if shard:
        for d in {name[-7:-5] for name in names}:
            os.makedirs(os.path.join(stage, d))
            os.makedirs(os.path.join(out, d))
    t0 = time.perf_counter()
    for name in names:
        with open(os.path.join(stage, rel(name)), "wb") as f:
            f.write(data)
    t1 = time.perf_counter()
    for name in names:
        os.replace(os.path.join(stage, rel(name)), os.path.join(out, rel(name)))
    t2 = time.perf_counter()
    for name in names[: n // 10]:
        with open(os.path.join(stage, rel(name)), "wb") as f:
            f.write(data)
    for name in names[: n // 10]:
        os.replace(os.path.join(stage, rel(name)), os.path.join(out, rel(name)))
    t3 = time.perf_counter()
    listed = sum(len(os.listdir(os.path.join(out, d))) for d in os.listdir(out)) if shard else len(os.listdir(out))
    t4 = time.perf_counter()
    shutil.rmtree(out)
    t5 = time.perf_counter()
    print(f"{'sharded' if shard else 'flat'} n={n}: create {t1 - t0:.2f} s, rename {t2 - t1:.2f} s, "
          f"replace 10 % {t3 - t2:.2f} s, list {t4 - t3:.3f} s ({listed}), remove {t5 - t4:.2f} s")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
