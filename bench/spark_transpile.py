"""Design (b) of issue 16, measured: the SQL models transpiled to Spark SQL by sqlglot and run
by Spark, model by model, against the same inputs as DuckDB.

For one generated shop the library loads the exports and runs detection and liabilities in
DuckDB, keeping every intermediate table. Then, for every model in the order the library runs
it (the flag steps of pipeline/flag.py, flags, buyer_reviews, the liabilities, the ledger
difference and the summary):

1. the model is transpiled from DuckDB SQL to Spark SQL (sqlglot, read="duckdb", write="spark");
2. Spark runs it against temp views holding DuckDB's own inputs of that model (so each model
   is tried on its own, even when an earlier one failed on Spark);
3. Spark's rows are compared with DuckDB's.

The loader is not in the count: it is Python (encoding detection, transcoding, header aliases)
around DuckDB's CSV reader with `store_rejects`, and has no SQL to transpile. The macros of
sql/schema/00_macros.sql and sql/flags/macros.sql have no Spark counterpart that sqlglot writes
(Spark 4's SQL functions need typed parameters); the models that call them fail on Spark.

Needs sqlglot (`pip install sqlglot`; not a dependency of shortship) and pyspark.
Usage: python bench/spark_transpile.py [--orders 5000] [--out bench/spark_transpile.md]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from pipeline import db  # noqa: E402
from pipeline.clock import parse_as_of  # noqa: E402
from pipeline.flag import SIGNALS, _params, load_policy_terms  # noqa: E402
from pipeline.policy import load_policy  # noqa: E402

FLAG_STEPS = (
    [("flags/ship_orders.sql", "fl_ship_orders"), ("signals/parcel_light.sql", "fl_light_parcels"),
     ("flags/scope.sql", "fl_scope"), ("flags/lines.sql", "fl_lines"), ("flags/order_base.sql", "fl_orders"),
     ("flags/refund_fit.sql", "fl_refund_fit"), ("flags/refund_line.sql", "fl_refund_line")]
    + [(f"signals/{s}.sql", f"sig_{s}") for s in SIGNALS]
    + [("flags/evidence.sql", "fl_evidence"), ("flags/kinds.sql", "fl_kinds"),
       ("flags/responsibility.sql", "fl_responsibility"),
       ("flags/flags.sql", "_flags_model"), ("flags/buyer_reviews.sql", "_buyer_reviews_model")]
)
LIAB_STEPS = [("liabilities/status.sql", "_liab_status"), ("liabilities/penalty.sql", "_liab_penalty"),
              ("liabilities/liabilities.sql", "_liabilities_model"), ("liabilities/payout_due.sql", "_payout_due"),
              ("outputs/summary.sql", "_summary_model"), ("staging/line_amounts.sql", "_line_amounts_model")]
MACRO = re.compile(r"\b(fl_[a-z_]+|ss_[a-z_]+|line_amounts_of)\s*\(")


def norm(v):
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, Decimal):
        return str(v.normalize())
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return tuple(norm(x) for x in v)
    return v


def rows_of(records) -> list:
    return sorted((tuple(norm(x) for x in r) for r in records), key=repr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=5000)
    ap.add_argument("--out", default=str(HERE / "spark_transpile.md"))
    args = ap.parse_args()
    import sqlglot

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pipeline.generate import generate
    from pipeline.liabilities import build_policy_rules
    from pipeline.load import load_paths
    from pipeline.spark.job import spark_session

    tmp = Path(tempfile.mkdtemp(prefix="shortship-transpile-"))
    s = generate(tmp / "shop", args.orders, seed=11, shops=1, workers=1)
    as_of = parse_as_of(str(s.as_of))
    pol = load_policy("tmall")
    con = db.connect(tmp / "shop.duckdb", create=True)
    load_paths(con, [tmp / "shop"])
    params = _params(as_of, pol, "r")
    params.update({"policy_id": pol.id, "platform": pol.platform, "reship_cures": pol.reship_cures,
                   "freight_per_parcel": pol.freight_per_parcel, "shop_bears_freight": pol.shop_bears_freight})
    db.run_script(con, db.read_sql("flags/macros.sql"))
    load_policy_terms(con, pol)
    build_policy_rules(con, pol)

    spark = spark_session("local[2]", app_name="shortship-transpile")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    registered: set[str] = set()

    def register(table: str) -> None:
        if table in registered:
            return
        t = con.sql(f"select * from {table}").to_arrow_table()
        spark.createDataFrame(t).createOrReplaceTempView(table)
        registered.add(table)

    results = []
    for model, table in FLAG_STEPS + LIAB_STEPS:
        sql = db.model_sql(model)
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        if model == "staging/line_amounts.sql":  # the table macro's body, on the whole tables
            sql = sql.replace("query_table(lines_table)", "order_lines").replace("query_table(orders_table)", "orders")
        t0 = time.perf_counter()
        con.execute(f"create or replace temp table {table} as {sql}", used)
        duck_s = time.perf_counter() - t0
        want = rows_of(con.execute(f"select * from {table}").fetchall())
        if model == "flags/flags.sql":  # the later models read these by their real names
            con.execute(f"create or replace temp table flags as select * from {table}")
        if model == "liabilities/liabilities.sql":
            con.execute(f"create or replace temp table liabilities as select * from {table}")
        macros = sorted(set(MACRO.findall(sql)))
        row = {"model": model, "rows": len(want), "macros": macros, "transpiled": False, "ran": False,
               "equal": False, "error": "", "duck_s": duck_s, "spark_s": None}
        try:
            spark_sql = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
            row["transpiled"] = True
        except Exception as e:  # noqa: BLE001 - a measurement: every failure counts
            row["error"] = f"sqlglot: {str(e).splitlines()[0][:160]}"
            results.append(row)
            continue
        inputs = {n for n in re.findall(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)", sql, re.I)}
        for name in sorted(inputs):
            try:
                register(name)
            except Exception:  # noqa: BLE001 - a CTE name, not a table
                pass
        try:
            t0 = time.perf_counter()
            got = spark.sql(spark_sql, args={k: (float(v) if isinstance(v, Decimal) else v) for k, v in used.items()})
            got_rows = rows_of(got.collect())
            row["spark_s"] = time.perf_counter() - t0
            row["ran"] = True
            row["equal"] = got_rows == want
            if not row["equal"]:
                row["error"] = f"{len(got_rows)} rows on Spark, {len(want)} in DuckDB" if len(got_rows) != len(want) \
                    else "same row count, different values"
        except Exception as e:  # noqa: BLE001
            msg = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            row["error"] = (msg[0] if msg else type(e).__name__)[:200]
        results.append(row)
        print(f"{model}: transpiled {row['transpiled']}, ran {row['ran']}, equal {row['equal']} {row['error']}",
              flush=True)

    n = len(results)
    lines = [
        f"# Design (b): the models transpiled to Spark SQL (sqlglot {sqlglot.__version__})",
        "",
        f"One generated shop of {args.orders:,} orders; each model run by Spark (local[2]) on DuckDB's own "
        f"inputs and compared with DuckDB's rows.",
        "",
        f"- models: {n}; transpiled: {sum(r['transpiled'] for r in results)}; ran on Spark: "
        f"{sum(r['ran'] for r in results)}; same rows as DuckDB: {sum(r['equal'] for r in results)}",
        f"- models calling a DuckDB macro (no Spark counterpart written): {sum(1 for r in results if r['macros'])}",
        "- the loader (encodings, header aliases, value rules, rejects): not SQL, not transpiled",
        "",
        "| model | rows | macros | runs on Spark | same rows | DuckDB s | Spark s | first error |",
        "|---|---:|---|---|---|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['rows']} | {', '.join(r['macros'])} | {'yes' if r['ran'] else 'no'} | "
            f"{'yes' if r['equal'] else 'no'} | {r['duck_s']:.2f} | "
            f"{'' if r['spark_s'] is None else format(r['spark_s'], '.2f')} | {r['error'].replace('|', '/')} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)
    spark.stop()


if __name__ == "__main__":
    main()
