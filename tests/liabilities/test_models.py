"""The SQL models under sql/liabilities/: one select per file, a header with grain and inputs,
a CTE chain ending in `select * from final`."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline import db

MODELS = sorted((Path(__file__).resolve().parents[2] / "sql" / "liabilities").glob("*.sql"))


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_model_conventions(path):
    text = path.read_text(encoding="utf-8")
    header = re.match(r"(\s*--[^\n]*\n)+", text).group(0)
    assert "Grain:" in header and "Inputs:" in header
    body = db.model_sql(f"liabilities/{path.name}")
    assert body.lstrip().lower().startswith("with")
    assert re.search(r"select \* from final\s*$", body)


def test_all_models_present():
    assert {p.name for p in MODELS} >= {"status.sql", "penalty.sql", "liabilities.sql", "payout_due.sql"}
