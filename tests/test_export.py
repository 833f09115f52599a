"""The standalone `export` and `report` steps, the summary model, and the report page.

These tests build the result tables by hand (load the fixture, insert flags, compute the
liabilities and the ledger) so that they check the outputs, not the flagging rules."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import markupsafe
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline import db, publish
from pipeline.cli import cli
from pipeline.clock import parse_as_of
from pipeline.act import FILES as ACT_FILES
from pipeline.export import PARQUET_FILES, STAGING_PREFIX, export_outputs
from pipeline.liabilities import append_ledger, compute_liabilities, record_run
from pipeline.load import load_paths
from pipeline.policy import load_policy

from .conftest import FIXTURES, ROOT
from .test_run import CONTRACT, check_contract, dec_sum, int_sum, report_totals

SAMPLE = FIXTURES / "run_sample"
AS_OF = parse_as_of("2019-03-10 12:00:00")
NASTY = '<script>alert("x")</script> & \'quoted\' <img src=x onerror=1>'


def _flag(con, order_id, kind, evidence, missing=1, amount="20.00"):
    con.execute(
        """insert into flags (order_id, shop, buyer, kind, responsibility, confidence, rules, evidence,
                              missing_qty, affected_amount, paid_at, ship_by, as_of, run_id)
           select order_id, shop, buyer, $kind, 'merchant', 0.9, ['test_rule'], $evidence, $missing,
                  $amount::decimal(18, 2), paid_at, paid_at + interval 72 hour, $as_of, 'r1'
           from orders where order_id = $order_id""",
        {"order_id": order_id, "kind": kind, "evidence": evidence, "missing": missing, "amount": amount, "as_of": AS_OF},
    )
    # the facts the outputs say it from (a fact whose template is its one argument)
    con.execute("update flags set evidence_facts = [{'sep': 'row', 'code': 'lines.status', "
                "'args': map(['status'], [$evidence])}] where order_id = $order_id",
                {"order_id": order_id, "evidence": evidence})


@pytest.fixture
def results_db(tmp_path) -> Path:
    """A database with loaded fixture exports and hand-made results of run r1."""
    path = tmp_path / "e.duckdb"
    con = db.connect(path)
    try:
        load_paths(con, [SAMPLE])
        _flag(con, "1001000000000000001", "short", "refund 少件/漏发 " + NASTY)   # owed
        _flag(con, "1001000000000000002", "short", "shipments: 1 of 2 SKU-CAR")   # curable
        _flag(con, "1001000000000000004", "unshipped", "not shipped by 2019-03-05 08:00", amount="25.00")
        pol = load_policy("tmall")
        record_run(con, "r1", AS_OF, pol, "test")
        compute_liabilities(con, AS_OF, pol, "r1")
        append_ledger(con, "r1", pol)
    finally:
        con.close()
    return path


def test_export_outputs_contract_and_atomic_names(results_db, tmp_path):
    out = tmp_path / "out"
    con = db.connect(results_db)
    try:
        written = export_outputs(con, out)
    finally:
        con.close()
    batch = [p for p in written if p.parent.name == "payouts"]
    assert len(batch) == 1  # the pending ledger lines, published as one batch
    assert sorted(p.name for p in written if p.parent == out) == sorted(
        [*PARQUET_FILES, *ACT_FILES, "report.html", "overview.html", "review.csv", "manifest.json"])
    # no staging left
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*PARQUET_FILES, *ACT_FILES, "report.html", "overview.html", "review.csv", "manifest.json", "payouts"])
    t = check_contract(out)
    assert t["flags.parquet"].num_rows == 3
    assert t["flags.parquet"].column("rules").to_pylist()[0] == ["test_rule"]
    assert t["payouts.parquet"].num_rows >= 1
    # the contract's columns lead, in its order (summary: its own model's order)
    for name in ("flags.parquet", "liabilities.parquet", "payouts.parquet", "rejects.parquet"):
        names = t[name].schema.names
        assert names[: len(CONTRACT[name])] == list(CONTRACT[name]), name


def test_export_command_publishes_what_is_pending_once(results_db, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["export", "--db", str(results_db), "--out", str(out)])
    assert r.exit_code == 0, r.output
    first = pq.read_table(out / "payouts.parquet")
    assert first.num_rows >= 1
    con = db.connect(results_db, read_only=True)
    try:
        ledger = con.execute("select payout_id from payouts order by payout_id").fetchall()
        marked = con.execute("select payout_id from payout_publications order by payout_id").fetchall()
    finally:
        con.close()
    assert sorted(first.column("payout_id").to_pylist()) == [r[0] for r in ledger] == [r[0] for r in marked]
    # a second export finds nothing pending: an empty payouts.parquet with the contract's types,
    # and the first batch is still there, unchanged
    r = CliRunner().invoke(cli, ["export", "--db", str(results_db), "--out", str(out)])
    assert r.exit_code == 0, r.output
    empty = pq.read_table(out / "payouts.parquet")
    assert empty.num_rows == 0
    for col, typ in CONTRACT["payouts.parquet"].items():
        assert empty.schema.field(col).type == typ
    batches = sorted((out / "payouts").iterdir())
    assert len(batches) == 1 and pq.read_table(batches[0]).equals(first)


def test_export_and_report_on_a_missing_database_fail_with_one_line(tmp_path):
    for cmd in ("export", "report"):
        r = CliRunner().invoke(cli, [cmd, "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "o")])
        assert r.exit_code == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "no such database" in lines[0]
    assert not (tmp_path / "none.duckdb").exists()


def test_export_after_a_load_only_writes_empty_files_with_the_right_types(tmp_path):
    path = tmp_path / "l.duckdb"
    con = db.connect(path)
    load_paths(con, [SAMPLE])
    con.close()
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["export", "--db", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    t = check_contract(out)
    assert t["flags.parquet"].num_rows == 0 and t["liabilities.parquet"].num_rows == 0
    assert int_sum(t["summary.parquet"], "orders") == 8
    assert t["rejects.parquet"].num_rows == 2


def test_summary_grain_and_totals(results_db, tmp_path):
    out = tmp_path / "out"
    con = db.connect(results_db)
    try:
        export_outputs(con, out)
        orders = con.execute("select count(*) from orders").fetchone()[0]
        by_day = dict(con.execute(
            "select coalesce(paid_at, created_at)::date, count(*) from orders where shop = '玩具小店' group by all"
        ).fetchall())
    finally:
        con.close()
    s = pq.read_table(out / "summary.parquet")
    keys = list(zip(s.column("shop").to_pylist(), s.column("day").to_pylist()))
    assert len(keys) == len(set(keys))  # one row per shop × day
    assert int_sum(s, "orders") == orders
    assert int_sum(s, "flagged") == 3
    assert int_sum(s, "flagged_short") == 2 and int_sum(s, "flagged_unshipped") == 1
    liab = pq.read_table(out / "liabilities.parquet")
    for col in ("compensation_yuan", "goods_refund_yuan", "freight_yuan", "total_yuan"):
        assert dec_sum(s, col) == dec_sum(liab, col), col
    assert int_sum(s, "points") == int_sum(liab, "points")
    toy = {d: n for (shop, d), n in zip(keys, s.column("orders").to_pylist()) if shop == "玩具小店"}
    assert toy == by_day


def test_summary_model_has_its_header_and_ends_in_final():
    text = (ROOT / "sql" / "outputs" / "summary.sql").read_text(encoding="utf-8")
    head = "\n".join(ln for ln in text.splitlines() if ln.startswith("--"))
    assert "Grain: one row per shop × day" in head and "Inputs:" in head
    assert text.rstrip().endswith("select * from final")


def test_report_is_self_contained_and_escapes_data(results_db, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["report", "--db", str(results_db), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    page = (out / "report.html").read_text(encoding="utf-8")
    # offline: no scripts, no external resources
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "@import" not in page and not re.search(r"url\((?!#)", page)  # url(#clip): a chart's own element
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    # the nasty evidence is there, escaped
    assert str(markupsafe.escape(NASTY)) in page
    assert "<img" not in page and NASTY not in page
    # the sections the reader expects
    for section in ("totals", "by-day", "by-status", "rates", "curable", "largest"):
        assert f'id="{section}"' in page
    assert "<svg" in page
    assert "2019-03-12 09:00" in page  # the curable order's deadline


def test_report_totals_match_the_tables(results_db, tmp_path):
    con = db.connect(results_db, read_only=True)
    try:
        from pipeline import export, setdata
        from pipeline.report import build_report

        info = setdata.set_info(con, batch_id="b", run_id="r1")
        page = build_report(con, info, export.set_data(con, info))
        comp, pts, total, owed = con.execute(
            "select sum(compensation_yuan), sum(points), sum(total_yuan), count(*) filter (where status = 'owed') from liabilities"
        ).fetchone()
        p_yuan = con.execute("select sum(yuan) from payouts where run_id = 'r1'").fetchone()[0]
    finally:
        con.close()
    (tmp_path / "r.html").write_text(page, encoding="utf-8")
    t = report_totals(tmp_path / "r.html")
    assert t["run-id"] == "r1"
    assert Decimal(t["compensation-yuan"]) == comp and int(t["points"]) == pts
    assert Decimal(t["total-yuan"]) == total and int(t["owed-orders"]) == owed
    assert Decimal(t["payout-yuan"]) == p_yuan
    assert t["flagged"] == "3"


def test_stale_staging_folders_of_dead_processes_are_removed(results_db, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f"{STAGING_PREFIX}999999999-dead"  # no such pid
    stale.mkdir()
    (stale / "flags.parquet").write_bytes(b"partial")
    con = db.connect(results_db)
    try:
        export_outputs(con, out)
    finally:
        con.close()
    assert not stale.exists()


def test_readme_tables_section_lists_every_column(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Tables", 1)[1].split("\n## ", 1)[0]
    con = db.connect(tmp_path / "schema.duckdb")
    try:
        for table in ("orders", "order_lines", "refunds", "shipments", "rejects", "load_manifest",
                      "flags", "liabilities", "payouts", "runs"):
            m = re.search(rf"\*\*`{table}`\*\*(.*?)(?=\n- \*\*|\Z)", section, re.S)
            assert m, f"README Tables lacks {table}"
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_name = ? and table_schema = 'main'",
                [table]).fetchall()]
            missing = [c for c in cols if f"`{c}`" not in m.group(1)]
            assert not missing, f"README Tables, {table}: add {missing}"
    finally:
        con.close()


def test_export_xlsx_beside_the_parquet_files(results_db, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["export", "--db", str(results_db), "--out", str(out), "--xlsx"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*PARQUET_FILES, *ACT_FILES, "liabilities.xlsx", "report.html", "overview.html", "review.csv", "manifest.json", "payouts"])


def _safe_rel_by_pathlib(rel: str) -> bool:
    """The rule as pathlib states it: relative, no '..' part."""
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts


@pytest.mark.parametrize("rel", [
    "flags.parquet", "evidence/00/20000048380305000.html", "payouts/20261207T211700-a9c78671.parquet",
    "", "/etc/passwd", "../out.html", "evidence/../../x", "a/..", "..", "a..b.html", "a/..b/c", "./a",
    "a//b", "C:/x", "C:x", "\\\\server\\share", "a\\..\\b", "evidence/00/x.html/", ". .", "证据/页.html",
])
def test_manifest_paths_are_trusted_only_inside_the_folder(rel):
    # the fast test of a manifest's paths (publish._safe_rel) says what pathlib says
    assert publish._safe_rel(rel) == _safe_rel_by_pathlib(rel)


def test_a_manifest_entry_outside_the_folder_is_neither_trusted_nor_owned(tmp_path):
    files = [{"path": p, "rows": None, "bytes": 1, "sha256": "0" * 64}
             for p in ("report.html", "../escape.html", "/tmp/abs.html", "evidence/00/1.html")]
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}), encoding="utf-8")
    prev = publish.Previous.read(tmp_path)
    assert set(prev.trusted) == {"report.html", "evidence/00/1.html"}
    assert prev.owned == {"report.html", "evidence/00/1.html"}
