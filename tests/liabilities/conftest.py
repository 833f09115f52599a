import pytest

from pipeline import db
from pipeline.policy import load_policy


@pytest.fixture
def con(tmp_path):
    c = db.connect(tmp_path / "liabilities.duckdb")
    yield c
    c.close()


@pytest.fixture
def tmall():
    return load_policy("tmall")


@pytest.fixture
def taobao():
    return load_policy("taobao")


@pytest.fixture
def jd():
    return load_policy("jd")
