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
    """The Spark tests (tests/spark) share one Spark session: under xdist they are one
    `xdist_group`, which only the `loadgroup` distribution honours (it spreads every other test
    like `load`)."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
