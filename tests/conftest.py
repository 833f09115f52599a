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


def pytest_configure(config):
    """The tests of one file run on one xdist worker (`--dist loadfile`): a file's module
    fixtures (the Spark scenario, the fault cases' first run) are built once, not once per
    worker. (`xdist_group` with `loadgroup` would do it per mark, but pytest-xdist 3.8 renames
    node ids in a way pytest 9.2 ignores, so the group is silently spread over the workers.)"""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"


def pytest_collection_modifyitems(session, config, items):
    """The Spark tests first: their file is the longest unit of work (one scenario of four
    Spark runs), so under xdist it starts at once on one worker while the others take the rest."""
    spark = Path(__file__).resolve().parent / "spark"
    items.sort(key=lambda item: not Path(str(item.fspath)).is_relative_to(spark))
