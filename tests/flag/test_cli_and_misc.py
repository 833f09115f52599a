"""The `flag` and `evaluate` commands, the policy settings detection reads, and the SQL
reason normalisation against pipeline.policy.normalize_reason."""
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline import db
from pipeline.cli import cli
from pipeline.flag import FlagSummary, RULES, SIGNALS, flag_orders, policy_terms
from pipeline.policy import PHRASE_LISTS, load_policy, normalize_reason, parse_policy

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cli"
SQL = Path(__file__).resolve().parents[2] / "sql"


@pytest.fixture
def loaded_db(tmp_path):
    path = tmp_path / "cli.duckdb"
    res = CliRunner().invoke(cli, ["load", str(FIXTURES), "--db", str(path), "--create"])
    assert res.exit_code == 0, res.output
    return path


def test_flag_command_prints_counts_and_records_the_run(loaded_db):
    res = CliRunner().invoke(cli, ["flag", "--db", str(loaded_db), "--as-of", "2017-06-20"])
    assert res.exit_code == 0, res.output
    assert "orders flagged" in res.output and "merchant" in res.output and "undetermined" in res.output
    con = duckdb.connect(str(loaded_db), read_only=True)
    try:
        flags = dict(con.execute("select order_id, kind || '/' || responsibility from flags").fetchall())
        runs = con.execute("select run_id, as_of, policy_id, command from runs").fetchall()
        run_ids = {r[0] for r in con.execute("select distinct run_id from flags").fetchall()}
    finally:
        con.close()
    assert flags == {
        "4000000000000000001": "short/merchant",
        "4000000000000000002": "short/undetermined",
        "4000000000000000003": "wrong/merchant",
        "4000000000000000004": "not_received/courier",
        "4000000000000000005": "unshipped/merchant",
        "4000000000000000006": "short/undetermined",
        "4000000000000000007": "short/merchant",
    }
    assert len(runs) == 1 and runs[0][1] == datetime(2017, 6, 20) and runs[0][2] == "tmall-2023"
    assert runs[0][0].startswith("flag-20170620000000-") and run_ids == {runs[0][0]}


def test_flag_again_replaces_the_flags(loaded_db):
    for _ in range(2):
        res = CliRunner().invoke(cli, ["flag", "--db", str(loaded_db), "--as-of", "2017-06-20 08:00:00"])
        assert res.exit_code == 0, res.output
    con = duckdb.connect(str(loaded_db), read_only=True)
    try:
        assert con.execute("select count(*), count(distinct order_id) from flags").fetchone() == (7, 7)
        assert con.execute("select count(*) from runs").fetchone()[0] == 2
    finally:
        con.close()


def test_flag_command_errors_are_one_line(tmp_path, loaded_db):
    res = CliRunner().invoke(cli, ["flag", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 1 and "no such database" in res.output
    res = CliRunner().invoke(cli, ["flag", "--db", str(loaded_db), "--as-of", "yesterday"])
    assert res.exit_code == 1 and "--as-of" in res.output
    res = CliRunner().invoke(cli, ["flag", "--db", str(loaded_db), "--policy", "nosuch"])
    assert res.exit_code == 1 and "no such preset" in res.output


def test_evaluate_command(loaded_db, tmp_path):
    CliRunner().invoke(cli, ["flag", "--db", str(loaded_db), "--as-of", "2017-06-20"])
    truth = pd.DataFrame({
        "order_id": ["4000000000000000001", "4000000000000000003", "4000000000000000006", "4000000000000000008"],
        "kind": ["short", "short", "short", None],
        "responsibility": ["merchant", "merchant", "undetermined", None],
        "evidence": ["explicit", "explicit", "text_only", None],
        "missing_qty": [1, 1, 1, None],
        "affected_amount": [Decimal("10.00"), Decimal("20.00"), Decimal("10.00"), None],
    })
    path = tmp_path / "truth.parquet"
    truth.to_parquet(path)
    res = CliRunner().invoke(cli, ["evaluate", "--truth", str(path), "--db", str(loaded_db)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    # all classes: short has 2 correct of 3 in truth (001, 006) and 4 flagged short (001, 002, 006, 007)
    short_all = next(l for l in lines if l.strip().startswith("kind short"))
    assert short_all.split()[2:5] == ["3", "4", "2"]
    assert "[explicit] evidence" in res.output and "[text_only] evidence" in res.output

    from pipeline.evaluate import evaluate

    con = duckdb.connect(str(loaded_db), read_only=True)
    try:
        rep = evaluate(con, path)
    finally:
        con.close()
    assert rep.by_kind["explicit"]["short"].tp == 1 and rep.by_kind["explicit"]["short"].fn == 1
    assert rep.by_kind["text_only"]["short"].precision == 1.0
    assert rep.by_resp["all"]["merchant"].tp == 2  # 001 and 003 (merchant, whatever the kind)
    assert rep.amounts["short"] == (2, 2, 2)


def test_sql_reason_normalisation_is_the_python_one():
    samples = ["少件/漏发", "少件.漏发", " 少件 / 漏发 ", "少件．漏发", "少件／漏发", "商品错发.漏发", "空包裹/少货",
               "快递/物流一直未送到", "少件\u3000/\u00a0漏发", "少件\t.\n漏发", "七天无理由退换货", "", "Ａ.b"]
    con = duckdb.connect()
    db.run_script(con, db.read_sql("flags/macros.sql"))
    got = [con.execute("select fl_norm(?)", [s]).fetchone()[0] for s in samples]
    assert got == [normalize_reason(s) for s in samples]


def test_money_share_rounds_half_up_in_cents():
    con = duckdb.connect()
    db.run_script(con, db.read_sql("flags/macros.sql"))
    q = "select fl_share(?::decimal(18, 2), ?, ?)"
    assert con.execute(q, ["10.00", 1, 3]).fetchone()[0] == Decimal("3.33")
    assert con.execute(q, ["10.00", 2, 3]).fetchone()[0] == Decimal("6.67")
    assert con.execute(q, ["0.05", 1, 2]).fetchone()[0] == Decimal("0.03")  # 0.025 -> 0.03
    assert con.execute(q, ["31.80", 1, 20]).fetchone()[0] == Decimal("1.59")


def test_review_and_detection_settings_default_when_absent():
    base = load_policy("tmall").raw
    data = {k: v for k, v in base.items() if k not in ("review", "detection")}
    p = parse_policy(data, "test")
    assert p.min_short_claims == 3 and p.amount_tolerance == Decimal("0.01")
    assert p.detection_terms == {}
    p = parse_policy({**data, "review": {"min_short_claims": 5}}, "test")
    assert p.min_short_claims == 5


def test_review_threshold_comes_from_the_policy(tmp_path):
    from tests.flag.builders import Shop

    s = Shop()
    for i in range(2):
        oid = f"500000000000000000{i}"
        s.order(oid, ("玩具车", "10.00", 3, "CAR"), buyer="b2")
        s.refund(oid, f"600000000000000000{i}", "10.00", "少件/漏发", status="退款关闭")
    con = db.connect(tmp_path / "r.duckdb")
    try:
        s.load(con, tmp_path / "ex")
        base = load_policy("tmall").raw
        for threshold, expected in ((3, False), (2, True)):
            pol = parse_policy({**base, "review": {"min_short_claims": threshold}}, "test")
            flag_orders(con, datetime(2017, 6, 20), pol, "r")
            assert con.execute("select review from buyer_reviews where buyer = 'b2'").fetchone()[0] is expected
    finally:
        con.close()


def test_policy_terms_carry_every_list():
    rows = policy_terms(load_policy("tmall"))
    lists = {r[0] for r in rows}
    assert lists == {"reasons", "goods_status", "words", "rulings", "phrases", "detection"}
    assert ("reasons", "short", "少件/漏发", "少件/漏发") in rows


def test_every_signal_has_a_model_with_a_header_and_final():
    for name in SIGNALS:
        text = (SQL / "signals" / f"{name}.sql").read_text(encoding="utf-8")
        assert text.startswith("-- ") and "Grain:" in text and text.rstrip().endswith("select * from final")
    for rule, (model, _) in RULES.items():
        assert model in SIGNALS or model in ("responsibility", "notes", "review"), rule


def test_summary_table():
    s = FlagSummary("r", datetime(2017, 6, 20), "tmall-2023", 3, {"short": 2, "wrong": 1},
                    {"merchant": 2, "undetermined": 1},
                    {("short", "merchant"): 1, ("short", "undetermined"): 1, ("wrong", "merchant"): 1})
    text = "\n".join(s.lines())
    assert "3 orders flagged" in text and "short" in text and "wrong" in text


@pytest.mark.parametrize("name", ["taobao", "jd"])
def test_preset_phrases_follow_tmall(name):
    """The [phrases] lists are back-office vocabulary like [words]: every preset carries tmall's."""
    assert load_policy(name).phrases == load_policy("tmall").phrases
    assert load_policy(name).words == load_policy("tmall").words


def test_a_phrase_list_must_be_strings():
    base = load_policy("tmall").raw
    with pytest.raises(Exception, match="phrases.gift"):
        parse_policy({**base, "phrases": {"gift": ["赠品", 3]}}, "test")
    with pytest.raises(Exception, match="phrase"):
        parse_policy({**base, "phrase": {"gift": ["赠品"]}}, "test")  # a table the schema does not know


def test_a_misspelt_phrase_list_is_an_error():
    """A [phrases] list the text models do not read would switch its rule off without a word
    (`pakcing` for `packing`): it is refused naming the key, like any unknown setting."""
    base = load_policy("tmall").raw
    with pytest.raises(Exception, match="phrases.pakcing"):
        parse_policy({**base, "phrases": {**base["phrases"], "pakcing": ["申通"]}}, "test")
    assert set(load_policy("tmall").phrases) == set(PHRASE_LISTS)
