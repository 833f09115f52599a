import pytest

from pipeline.policy import load_policy

# `con` (a fresh database per test) comes from tests/conftest.py


@pytest.fixture
def tmall():
    return load_policy("tmall")


@pytest.fixture
def taobao():
    return load_policy("taobao")


@pytest.fixture
def jd():
    return load_policy("jd")
