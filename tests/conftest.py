from pathlib import Path

import pytest

from pipeline import db

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = ROOT.parent / "shared" / "real"


@pytest.fixture
def con(tmp_path):
    c = db.connect(tmp_path / "test.duckdb")
    yield c
    c.close()


@pytest.fixture
def fixtures():
    return FIXTURES


def _compile_package() -> None:
    """Byte-compile the package once per session (in the controller, before the workers start).
    With PYTHONDONTWRITEBYTECODE set (some shells and CI images set it), Python reads existing
    .pyc files but never writes them, so every `python -m pipeline` a test starts would compile
    each module of the package from source again (about 0.1 s of CPU per process). The files go
    where Python itself puts them (__pycache__, ignored by git); a stale one is rewritten."""
    import compileall

    try:
        compileall.compile_dir(ROOT / "pipeline", quiet=2)
    except OSError:
        pass  # a read-only checkout: the processes compile in memory, as before


def pytest_configure(config):
    """The tests of one file run on one xdist worker (`--dist loadfile`): a file's module
    fixtures (the Spark scenario, the fault cases' first run) are built once, not once per
    worker. (`xdist_group` with `loadgroup` would do it per mark, but pytest-xdist 3.8 renames
    node ids in a way pytest 9.2 ignores, so the group is silently spread over the workers.)"""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"
    # pytest-xdist hands out the files of `--dist loadfile` sorted by their number of tests
    # (--loadscope-reorder, its default), not in collection order: the Spark scenario (17
    # tests, about two minutes) started twelfth and the spark-submit file (4 tests) 43rd of 48.
    # The order of pytest_collection_modifyitems below (longest first) is the one kept.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        _compile_package()


# The files that take longest, longest first (measured with --durations on 2 cores; the Spark
# files come before them all). Under `--dist loadfile` each worker takes the next file when it
# runs low, in collection order: starting the long files first keeps one of them from being
# left for the end of one worker while the other worker idles (longest-first scheduling).
SLOW_FIRST = (
    "test_faults.py",
    "test_faults_signals.py",
    "test_daily.py",
    "test_bad_inputs.py",
    "test_generate.py",
    "test_incremental.py",
    "test_run.py",
    "liabilities/test_awaiting.py",
    "act/test_evidence.py",
    "test_install.py",
    "report/test_report.py",
    "test_export.py",
    "test_load.py",
    "review/test_review_loop.py",
    "flag/test_cli_and_misc.py",
    "act/test_makeup_page.py",
    "test_language.py",
    "test_real_forms.py",
)


def pytest_collection_modifyitems(session, config, items):
    """The Spark tests first: their file is the longest unit of work (one scenario of four
    Spark runs), so under xdist it starts at once on one worker while the others take the rest.
    Then the slowest files (SLOW_FIRST), then the rest as collected. The order inside a file is
    kept (the sort is stable)."""
    here = Path(__file__).resolve().parent
    spark = here / "spark"
    rank = {str(here / name): i for i, name in enumerate(SLOW_FIRST)}

    def key(item):
        path = Path(str(item.fspath))
        if path.is_relative_to(spark):
            return -1
        return rank.get(str(path), len(SLOW_FIRST))

    items.sort(key=key)
