"""report.html from templates: Chinese by default, English with --lang en, charts rendered by
the chart library to inline SVG, no script, data escaped, and it opens in a headless browser
without console errors (skipped when no chromium is installed)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter

import pytest
from click.testing import CliRunner

from pipeline import db
from pipeline.cli import cli

from tests.conftest import FIXTURES

AS_OF = "2019-03-10 12:00:00"
SECTIONS = ("totals", "curable", "review", "courier", "by-status", "by-day", "rates", "trend", "largest")


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    exports = base / "in"
    shutil.copytree(FIXTURES / "run_sample", exports)
    r = CliRunner().invoke(cli, ["run", str(exports), "--db", str(base / "s.duckdb"), "--out", str(base / "out"),
                                 "--as-of", AS_OF, "--create", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output + r.stderr
    return {"db": base / "s.duckdb", "out": base / "out", "json": json.loads(r.stdout)}


def test_chinese_by_default(done):
    page = (done["out"] / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page
    for text in ("少发漏发报告", "总览", "立即补发", "待人工判定", "向快递索赔", "按状态的赔付责任", "根因"):
        assert text in page, text
    for sid in SECTIONS:
        assert f'id="{sid}"' in page, sid
    assert "应赔付" in page and "Re-ship now" not in page


def test_english_with_lang_en(done, tmp_path):
    r = CliRunner().invoke(cli, ["report", "--db", str(done["db"]), "--out", str(tmp_path), "--lang", "en"])
    assert r.exit_code == 0, r.output + r.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page
    for text in ("shortship report", "Totals", "Re-ship now", "Awaiting a review decision", "Claims on couriers"):
        assert text in page, text
    assert "立即补发" not in page


def test_charts_are_inline_svg_drawn_from_the_data(done):
    """The charts are SVG drawn by pipeline/report/charts.py (no chart runtime): one bar per
    liability status, the day chart's bars add up to the flagged orders by kind, its legend in
    Chinese, no script, no shared element id."""
    page = (done["out"] / "report.html").read_text(encoding="utf-8")
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    assert len(svgs) >= 2
    for s in svgs:
        assert 'role="img"' in s and "<title>" in s and 'class="mark' in s
        assert "<script" not in s and "<foreignObject" not in s
    ids = Counter(re.findall(r'\bid="([^"]+)"', page))
    assert not [i for i, n in ids.items() if n > 1]  # several charts, no shared element id
    for ref in re.findall(r'url\(#([^)]+)\)', page):
        assert ids[ref] == 1
    con = db.connect(done["db"], read_only=True)
    try:
        statuses = {r[0] for r in con.execute("select distinct status from liabilities").fetchall()}
        kinds = dict(con.execute("select kind, count(*) from flags group by kind").fetchall())
    finally:
        con.close()
    status = page.split('id="by-status"', 1)[1].split("</section>", 1)[0]
    assert set(re.findall(r'data-status="([^"]+)"', status)) == statuses
    day = page.split('id="by-day"', 1)[1].split("</section>", 1)[0]
    assert "少发/漏发" in day  # the kinds' Chinese labels
    drawn: Counter = Counter()
    for kind, n in re.findall(r'data-kind="([^"]+)"><title>[^<]*: (\d+)</title>', day):
        drawn[kind] += int(n)
    assert drawn == Counter(kinds)


def test_links_reach_files_of_the_set(done):
    page = (done["out"] / "report.html").read_text(encoding="utf-8")
    for href in re.findall(r'href="([^"]+)"', page):
        assert not href.startswith(("http:", "https:", "//")), href
        assert (done["out"] / href).exists(), href


def test_nasty_values_in_tables_and_charts_are_escaped(tmp_path):
    exports = tmp_path / "in"
    shutil.copytree(FIXTURES / "run_sample", exports)
    r = CliRunner().invoke(cli, ["run", str(exports), "--db", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "o"),
                                 "--as-of", AS_OF, "--create"], catch_exceptions=False)
    assert r.exit_code == 0
    nasty = '<script>alert("x")</script>'
    con = db.connect(tmp_path / "s.duckdb")
    try:
        con.execute("update orders set shop = ?", [nasty])
        con.execute("update order_lines set sku = ?, title = ? where order_id in (select order_id from flags)", [nasty, nasty])
    finally:
        con.close()
    r = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output + r.stderr
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium installed")
def test_report_and_an_evidence_page_open_in_a_headless_browser(done, tmp_path):
    r = CliRunner().invoke(cli, ["evidence", "1001000000000000002", "--db", str(done["db"]), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    pages = [done["out"] / "report.html", tmp_path / "evidence" / "02" / "1001000000000000002.html"]
    for page in pages:
        profile = tempfile.mkdtemp()
        try:
            p = subprocess.run(
                [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                 "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
                capture_output=True, text=True, timeout=90, env={**os.environ, "LANG": "C.UTF-8"},
            )
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        assert p.returncode == 0, p.stderr[-2000:]
        assert "</html>" in p.stdout and 'id="' in p.stdout  # the page was parsed and laid out
        console = [ln for ln in p.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
        assert not console, console


def test_problems_in_the_data_are_listed_with_their_source(tmp_path):
    exports = tmp_path / "in"
    shutil.copytree(FIXTURES / "run_sample", exports)
    r = CliRunner().invoke(cli, ["run", str(exports), "--db", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "o"),
                                 "--as-of", AS_OF, "--create"], catch_exceptions=False)
    assert r.exit_code == 0
    con = db.connect(tmp_path / "s.duckdb")
    try:
        refund_id, line = con.execute("select refund_id, line from refunds order by refund_id limit 1").fetchone()
        con.execute("update refunds set refund_amount = 99999.00 where refund_id = ?", [refund_id])
    finally:
        con.close()
    r = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output + r.stderr
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    section = page.split('id="data-problems"', 1)[1].split("</section>", 1)[0]
    assert "退款大于实付" in section and refund_id in section and f"第 {line} 行" in section
