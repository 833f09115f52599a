"""Shared by the installation tests (tests/test_install.py, tests/spark/test_spark_submit.py):
the sdist and the wheel built once per test session, and a fresh environment with the wheel.

The build is `python -m build --no-isolation` on a copy of the checkout without the leftovers of
earlier builds: the sdist, then the wheel from the unpacked sdist, as a release is built (so the
wheel proves the sdist complete); no download (the test extra brings `build` and setuptools). Built once per session: under pytest-xdist the
workers share the folder and take turns with a lock.

The fresh environment is a `python -m venv --without-pip` folder outside the checkout with the
wheel installed by pip (`--no-deps`); the third-party dependencies (duckdb, pyarrow, pandas,
pyspark ...) come from the project's .venv through a .pth line naming its site-packages. A .pth
line only adds its folder to the path (the .pth files in that folder, among them the editable
install's finder, are not run), so the checkout's code cannot be imported from there;
`check_isolated` asserts it.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what a clean clone does not have, and the folders no build reads (their data can be large)
LEFTOVERS = (".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", "out",
             "*.duckdb", "*.duckdb.wal")
NOT_BUILT = ("data", "tests", "bench")


def session_dir(tmp_path_factory) -> Path:
    """A folder of this test session shared by its xdist workers (their base temp's parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_dists(tmp_path_factory) -> tuple[Path, Path]:
    """(sdist, wheel) of the checkout, built once per session."""
    out = session_dir(tmp_path_factory) / "dists"
    out.mkdir(exist_ok=True)
    with open(out.parent / "dists.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "built").exists():
            # from a copy without the build's leftovers (a stale shortship.egg-info/SOURCES.txt
            # would add files a clean clone lacks), as a clean clone would be built
            src = out.parent / "src"
            shutil.rmtree(src, ignore_errors=True)
            leftovers = shutil.ignore_patterns(*LEFTOVERS)
            shutil.copytree(ROOT, src, ignore=lambda d, names: set(leftovers(d, names)) | (
                set(NOT_BUILT) & set(names) if Path(d) == ROOT else set()))
            r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                               capture_output=True, text=True)
            assert r.returncode == 0, f"python -m build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            (out / "built").touch()
    sdist, = out.glob("shortship-*.tar.gz")
    wheel, = out.glob("shortship-*.whl")
    return sdist, wheel


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def fresh_venv(folder: Path, wheel: Path | None) -> Path:
    """A new environment in `folder` with `wheel` installed (None: the dependencies only);
    returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    if wheel is not None:
        # before the dependencies' .pth: pip sees no other shortship (the .venv's editable one)
        r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                            "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "shortship_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a process of the fresh installation: no PYTHONPATH, no virtualenv of ours."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env.update(extra)
    return env


CHECK = """
import json, os, sys
import pipeline
from pipeline import resources
print(json.dumps({
    "pipeline": pipeline.__file__,
    "models": str(resources.sql_root()),
    "fingerprint": resources.fingerprint(),
    "path": [os.path.abspath(p) for p in sys.path],  # '' is the working folder
    "finders": [getattr(f, "__name__", type(f).__name__) for f in sys.meta_path],
}))
"""


def where_it_imports(python: Path, cwd: Path, env: dict[str, str] | None = None) -> dict:
    """Where `python` (run in `cwd`) imports shortship from: the package, its models, its
    code's fingerprint, sys.path and the import finders."""
    r = subprocess.run([str(python), "-c", CHECK], cwd=cwd, capture_output=True, text=True,
                       env=env or clean_env())
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_isolated(info: dict, inside: Path) -> None:
    """The code, the models included, come from `inside`; the checkout is not on the path."""
    assert Path(info["pipeline"]).is_relative_to(inside), info["pipeline"]
    assert Path(info["models"]).is_relative_to(inside), info["models"]
    assert not any(Path(p).resolve() == ROOT for p in info["path"]), info["path"]
    assert not any("editable" in f.lower() for f in info["finders"]), info["finders"]
