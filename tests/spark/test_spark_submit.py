"""spark-run as a cluster runs it, in local mode: `spark-submit --py-files` with the wheel, the
driver and the executors in an environment that has the dependencies and no shortship, and no
checkout on any path. So every piece of shortship they run (the CLI on the driver, the library
and the SQL models in the tasks) comes from the shipped wheel, read inside its zip.

Two small shops (data/sample and tests/fixtures/run_sample, copied outside the checkout); each
shop's datasets are compared with `run_shop` (the function each task runs) run here, from the
checkout: flags, liabilities, summary and the ledger lines row for row, except `run_id` and the
ledger lines' `created_at`, which carry the run. The cost is one spark-submit (its Spark
session starts in about 10 s) and the wheel (shared with tests/test_install.py).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.dists import ROOT, built_dists, clean_env, fresh_venv
from tests.spark.helpers import JAVA_OPTIONS, require_spark

require_spark()

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402

pytestmark = [pytest.mark.spark]

AS_OF = "2019-03-11 00:00:00"
MASTER = "local[1]"
SHOPS = {"sample": ROOT / "data" / "sample", "fixture": ROOT / "tests" / "fixtures" / "run_sample"}
COMPARED = ("flags", "liabilities", "summary", "ledger")
RUN_COLUMNS = {"run_id", "created_at", "shop", "batch"}  # the run's, and the partition columns


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    _, wheel = built_dists(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("submit")
    python = fresh_venv(tmp / "deps", None)  # the dependencies only
    shipped = tmp / "shortship-0.1.0.zip"  # the wheel under a name Spark puts on the path
    shutil.copy2(wheel, shipped)
    with zipfile.ZipFile(wheel) as z:  # the program spark-submit runs, from the wheel too
        (tmp / "submit.py").write_bytes(z.read("pipeline/spark/submit.py"))
    for shop, src in SHOPS.items():
        (tmp / "shops" / shop).mkdir(parents=True)
        for f in src.glob("*.csv"):
            shutil.copy2(f, tmp / "shops" / shop / f.name)
    home = spark_home()
    # local[1]: one Python worker; the JVM's C1 compiler only and no UI: half the CPU of a
    # default start for a job this short (the machine is shared with the other tests)
    cmd = [str(home / "bin" / "spark-submit"), "--master", MASTER,
           "--driver-java-options", JAVA_OPTIONS, "--conf", "spark.ui.enabled=false",
           "--conf", f"spark.pyspark.python={python}", "--conf", f"spark.pyspark.driver.python={python}",
           "--py-files", str(shipped),
           str(tmp / "submit.py"), "spark-run", str(tmp / "shops"), "--out", str(tmp / "out"),
           "--as-of", AS_OF, "--json"]
    r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600,
                       env=clean_env(SPARK_HOME=str(home)))
    no_shortship = subprocess.run([str(python), "-c", "import pipeline"], cwd=tmp, capture_output=True,
                                  text=True, env=clean_env())
    return {"tmp": tmp, "result": r, "no_shortship": no_shortship}


def test_the_environment_alone_has_no_shortship(submitted):
    """Without the shipped zip the executors' interpreter cannot import shortship at all."""
    r = submitted["no_shortship"]
    assert r.returncode == 1 and "No module named 'pipeline'" in r.stderr, r.stderr


def test_spark_submit_with_the_wheel_runs_every_shop(submitted):
    r = submitted["result"]
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads([line for line in r.stdout.splitlines() if line.startswith("{")][-1])
    assert summary["failed"] == {}
    assert sorted(s["shop"] for s in summary["per_shop"]) == sorted(SHOPS)
    assert all(s["flagged"] and s["payout_lines"] for s in summary["per_shop"]), summary["per_shop"]
    assert summary["master"] == MASTER  # spark-submit's, not spark-run's default local[*]


def rows(t: pa.Table) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k not in RUN_COLUMNS} for r in t.to_pylist()), key=repr)


def test_each_shop_has_the_rows_of_the_checkouts_library(submitted):
    """What the executors computed from the wheel is what the checkout's code computes."""
    from pipeline.clock import parse_as_of
    from pipeline.policy import load_policy
    from pipeline.spark.shop import run_shop

    assert submitted["result"].returncode == 0, submitted["result"].stderr[-3000:]
    out = submitted["tmp"] / "out"
    for shop in SHOPS:
        folder = submitted["tmp"] / "shops" / shop
        files = [(f.name, int(f.stat().st_mtime * 1000), f.read_bytes()) for f in sorted(folder.iterdir())]
        want, stats, _, _ = run_shop(shop, files, None, parse_as_of(AS_OF), load_policy("tmall"), "local-run",
                                  threads=1)
        assert want is not None, stats.error
        assert want["flags"].num_rows and want["ledger"].num_rows, shop  # something to compare
        for name in COMPARED:
            part = [("shop", pa.string())] + ([("batch", pa.string())] if name == "ledger" else [])
            got = ds.dataset(out / name, format="parquet",
                             partitioning=ds.partitioning(pa.schema(part), flavor="hive")).to_table()
            got = got.filter(pc.equal(got.column("shop"), shop))
            assert got.num_rows == want[name].num_rows, (shop, name)
            assert rows(got) == rows(want[name]), (shop, name)


def test_a_task_on_other_code_than_the_drivers_fails_its_shop(tmp_path):
    """An executor whose shortship differs from the driver's (another wheel in its environment)
    does not run the shop: the shop fails with one line saying so; the others are untouched."""
    import pickle

    from pipeline.clock import parse_as_of
    from pipeline.policy import load_policy
    from pipeline.spark.job import _shop_task

    task = _shop_task(parse_as_of(AS_OF), load_policy("tmall"), "r", None, {"s": "s"}, 1, None, None, "0" * 16)
    left = pa.table({"shop": ["s"], "kind": ["file"], "name": ["x.csv"], "mtime": pa.array([0], pa.int64()),
                     "content": pa.array([b"a,b\n"], pa.binary())})
    out = task(left, pa.table({"shop": pa.array([], pa.string())}))
    assert out.column("output").to_pylist() == ["stats"]  # no outputs, no state
    stats = pickle.loads(out.column("data")[0].as_py())
    assert stats.shop == "s" and "other shortship code than the driver" in stats.error
    assert "0" * 16 in stats.error and "--py-files" in stats.error
