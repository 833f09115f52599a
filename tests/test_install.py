"""shortship installed like a library: the sdist and the wheel carry everything a run reads (the
SQL models, the policy presets, the templates, the compiled catalogues), and the wheel,
installed into a fresh environment outside the checkout, runs `shortship run` on data/sample
from a folder outside the checkout with the outputs of the editable install.

Compared: every output file. The Parquet files by content, except the columns that carry the
run: `run_id` (flags, liabilities, payouts) and the ledger lines' `created_at` (the run's start);
the pages and CSV files as text with the run id replaced (the report and the evidence pages name
the run); the file names with the run id replaced (payouts/<run_id>.parquet). Left out:
manifest.json (the run id and the digests of the files that name it). The `--json` summary is
compared too, without the run id, `seconds` and `timings`.

See tests/dists.py for how the wheel is built and the environment made (about 1.5 s and 1.5 s;
the two runs about 2.5 s each)."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.dists import ROOT, built_dists, check_isolated, clean_env, fresh_venv, wheel_names, where_it_imports

SAMPLE = ROOT / "data" / "sample"
AS_OF = "2017-06-08 00:00:00"
RUN_COLUMNS = ("run_id", "created_at")  # Parquet columns that carry the run
SKIPPED = ("manifest.json",)
CODE = (".py", ".sql", ".toml", ".html", ".mo")


def checkout_files() -> set[str]:
    """Where each file of the package and of sql/ must be in the wheel."""
    found = set()
    for folder, inside in ((ROOT / "pipeline", "pipeline"), (ROOT / "sql", "pipeline/_sql")):
        for p in folder.rglob("*"):
            if p.is_file() and p.suffix in CODE and "__pycache__" not in p.parts:
                found.add(f"{inside}/{p.relative_to(folder).as_posix()}")
    return found


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    return built_dists(tmp_path_factory)


@pytest.fixture(scope="module")
def installed(dists, tmp_path_factory):
    """The wheel in a fresh environment; a run of each installation on data/sample, each in a
    working folder of its own outside the checkout."""
    tmp = tmp_path_factory.mktemp("install")
    python = fresh_venv(tmp / "venv", dists[1])
    runs = {}
    for name, command in (("installed", tmp / "venv" / "bin" / "shortship"),
                          ("editable", Path(sys.executable).parent / "shortship")):
        work = tmp / name
        work.mkdir()
        r = subprocess.run([str(command), "run", str(SAMPLE), "--create", "--as-of", AS_OF, "--json"],
                           cwd=work, capture_output=True, text=True, env=clean_env())
        assert r.returncode == 0, f"{name}: {r.stderr}"
        runs[name] = (work, json.loads(r.stdout))
    return {"tmp": tmp, "python": python, "runs": runs}


def test_the_wheel_carries_the_models_the_presets_the_templates_and_the_catalogues(dists):
    names = wheel_names(dists[1])
    missing = checkout_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)[:10]}"
    assert {"pipeline/_sql/staging/line_amounts.sql", "pipeline/policies/tmall.toml",
            "pipeline/report/templates/report.html", "pipeline/locale/zh/LC_MESSAGES/shortship.mo"} <= names
    # nothing of the checkout's other folders, and no top-level sql/ (the error this fixes:
    # site-packages/sql/...)
    assert not [n for n in names if n.split("/")[0] in ("sql", "tests", "bench", "data")]


def test_the_sdist_carries_sql_at_the_top_and_the_build_files(dists):
    with tarfile.open(dists[0]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {"pyproject.toml", "setup.py", "README.md", "sql/__init__.py",
            "sql/staging/line_amounts.sql", "pipeline/policies/tmall.toml"} <= names
    assert {f"sql/{p.relative_to(ROOT / 'sql').as_posix()}" for p in (ROOT / "sql").rglob("*.sql")} <= names


def test_the_installed_wheel_imports_nothing_of_the_checkout(installed):
    tmp = installed["tmp"]
    info = where_it_imports(installed["python"], cwd=tmp / "installed")
    check_isolated(info, tmp / "venv")
    # the same code as the checkout's, file for file (modules, models, presets, templates, catalogues)
    from pipeline import resources

    assert info["fingerprint"] == resources.fingerprint()


def test_the_installed_wheel_gives_the_outputs_of_the_editable_install(installed):
    (a_dir, a_json), (b_dir, b_json) = installed["runs"]["installed"], installed["runs"]["editable"]
    a_run, b_run = a_json["run_id"], b_json["run_id"]
    assert a_json["flagged"]["total"] > 0 and a_json["ledger"]["lines"] > 0, "a run with nothing to compare"

    def summary(d: dict, run: str) -> dict:
        d = {k: v for k, v in d.items() if k not in ("seconds", "timings")}
        return json.loads(json.dumps(d).replace(run, "<run>"))

    assert summary(a_json, a_run) == summary(b_json, b_run)

    def files(out: Path, run: str) -> dict[str, Path]:
        return {p.relative_to(out).as_posix().replace(run, "<run>"): p
                for p in out.rglob("*") if p.is_file() and p.name not in SKIPPED}

    a_files, b_files = files(a_dir / "out", a_run), files(b_dir / "out", b_run)
    assert sorted(a_files) == sorted(b_files)
    assert {"flags.parquet", "liabilities.parquet", "payouts.parquet", "summary.parquet", "report.html"} <= set(a_files)
    for name, a in a_files.items():
        b = b_files[name]
        if a.suffix == ".parquet":
            ta, tb = pq.read_table(a), pq.read_table(b)
            keep = [c for c in ta.column_names if c not in RUN_COLUMNS]
            assert ta.schema == tb.schema, name
            assert ta.select(keep).equals(tb.select(keep)), name
            if "run_id" in ta.column_names:
                assert set(ta.column("run_id").to_pylist()) <= {a_run}, name
        elif a.suffix in (".html", ".csv", ".json", ".txt"):
            assert a.read_text(encoding="utf-8").replace(a_run, "<run>") == \
                b.read_text(encoding="utf-8").replace(b_run, "<run>"), name
        else:
            assert a.read_bytes() == b.read_bytes(), name


def test_code_on_the_path_without_its_models_is_one_clear_error(installed, tmp_path):
    """The checkout's code put on PYTHONPATH without installing it (the models are then
    nowhere): one line naming what to do, not a missing file under site-packages."""
    r = subprocess.run([str(installed["python"]), "-m", "pipeline", "run", str(SAMPLE), "--create",
                        "--db", str(tmp_path / "x.duckdb"), "--out", str(tmp_path / "out")],
                       cwd=tmp_path, capture_output=True, text=True, env=clean_env(PYTHONPATH=str(ROOT)))
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the SQL models are not installed"), r.stderr
    assert "pip install" in lines[0] and "Traceback" not in r.stderr
