"""The floor: transcode each export to UTF-8 once and let DuckDB read every file once.

No pipeline can be faster than reading its input; shortship's run is compared with this.
Usage: python bench/floor.py FILE...
"""
import codecs
import sys
import tempfile
import time
from pathlib import Path

import duckdb

CHUNK = 1 << 24


def detect(path: Path) -> str:
    head = path.read_bytes()[:1 << 16] if path.stat().st_size < (1 << 16) else open(path, "rb").read(1 << 16)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def main(files: list[str]) -> None:
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    t_transcode = t_read = 0.0
    rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(map(Path, files)):
            t0 = time.perf_counter()
            enc = detect(f)
            out = Path(tmp) / f"{i}.csv"
            with open(f, encoding=enc, newline="") as src, open(out, "w", encoding="utf-8", newline="") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
            t1 = time.perf_counter()
            con.execute(
                "create or replace temp table t as select * from read_csv(?, all_varchar=true, "
                "null_padding=true, strict_mode=false, parallel=true)", [str(out)])
            rows += con.execute("select count(*) from t").fetchone()[0]
            t_read += time.perf_counter() - t1
            t_transcode += t1 - t0
    print(f"floor: {rows} rows; transcode {t_transcode:.1f} s, duckdb read {t_read:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
