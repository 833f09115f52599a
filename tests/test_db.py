"""pipeline/db.py: the run's memory limit, lent to its render workers and given back."""
import re

from pipeline import db

UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


SLACK = 0.2 * (1 << 30)  # DuckDB shows the limit cut to a tenth of a GiB, both before and while lent


def shown(con) -> int:
    """DuckDB's memory limit in bytes, as it shows it (to a tenth of its unit)."""
    text = con.execute("select current_setting('memory_limit')").fetchone()[0]
    n, unit = re.fullmatch(r"([0-9.]+) (\w+)", text).groups()
    return int(float(n) * UNITS[unit])


def test_memory_is_lent_to_the_workers_and_given_back(tmp_path, monkeypatch):
    monkeypatch.setenv("SHORTSHIP_MEMORY_LIMIT", "2GB")
    con = db.connect(tmp_path / "m.duckdb", create=True)
    try:
        before = shown(con)
        assert abs(before - 2 * 10 ** 9) < 0.1 * (1 << 30)
        with db.memory_lent(con, 512 << 20):
            during = shown(con)
        assert before - (512 << 20) - SLACK <= during <= before - (512 << 20)
        assert shown(con) == before
        # never below half of it, however much is asked for
        with db.memory_lent(con, 100 << 30):
            assert before // 2 - SLACK <= shown(con) <= before // 2 + SLACK
        assert shown(con) == before
    finally:
        con.close()
