"""`shortship liabilities`: counts by status, owed yuan/points, new payout lines; idempotent."""
from __future__ import annotations

from click.testing import CliRunner

from pipeline import db
from pipeline.cli import cli

from .helpers import add_flag, hours


def test_liabilities_command(tmp_path):
    path = tmp_path / "cli.duckdb"
    con = db.connect(path)
    add_flag(con, "1", affected="99.00")
    add_flag(con, "2", affected="99.00", reshipped_at=hours(10), buyer="b2")
    add_flag(con, "3", kind="not_received", responsibility="courier", affected="50.00", buyer="b3")
    con.close()
    runner = CliRunner()
    args = ["liabilities", "--db", str(path), "--as-of", "2024-03-12 12:00:00"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "owed 1, curable 0, cured 1, courier 1" in first.output
    assert "owed: 29.70 yuan = 2970 points" in first.output
    assert "payout lines written: 1" in first.output
    second = runner.invoke(cli, args)
    assert second.exit_code == 0 and "payout lines written: 0" in second.output
    con = db.connect(path)
    try:
        runs = con.execute("select command, as_of, policy_id from runs order by started_at").fetchall()
        assert [r[0] for r in runs] == ["liabilities", "liabilities"]
        assert str(runs[0][1]) == "2024-03-12 12:00:00" and runs[0][2] == "tmall-2023"
        assert con.execute("select count(*) from payouts").fetchone()[0] == 1
    finally:
        con.close()


def test_liabilities_command_bad_policy(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\neffective_date = 2024-01-01\n[penalty]\nrate = 0.3\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["liabilities", "--db", str(tmp_path / "x.duckdb"), "--policy", str(bad)])
    assert result.exit_code != 0
    assert "policy key 'penalty.rate'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_liabilities_command_needs_an_existing_database(tmp_path):
    missing = tmp_path / "none.duckdb"
    result = CliRunner().invoke(cli, ["liabilities", "--db", str(missing)])
    assert result.exit_code == 1
    assert "no such database" in result.output and not missing.exists()
