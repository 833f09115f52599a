"""evidence/<order_id>.html: a page per disputed, courier or decided order, whose facts are
the source rows (file and line), self-contained, phones masked; `shortship evidence`."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline import db
from pipeline.cli import cli
from pipeline.locale import mask_phones
from pipeline.setdata import page_path

from .conftest import run


class Facts(HTMLParser):
    """The data-fact elements of a page: (fact, id, file, line), those of the buyer's later
    order of a make-up apart (`later`: (fact, later order, id, file, line)), and every text."""

    def __init__(self):
        super().__init__()
        self.facts: list[tuple[str, str, str, int]] = []
        self.later: list[tuple[str, str, str, str, int]] = []
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if "data-fact" in a and a["data-fact"].startswith("later_"):
            self.later.append((a["data-fact"], a["data-order"], a.get("data-id", ""), a["data-file"], int(a["data-line"])))
        elif "data-fact" in a:
            self.facts.append((a["data-fact"], a.get("data-id", ""), a["data-file"], int(a["data-line"])))

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Facts:
    p = Facts()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _rows(db_path, sql, params=None):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_a_page_per_disputed_and_courier_order(truth_run, truth):
    pages = {p.stem for p in (truth_run["out"] / "evidence").glob("*/*.html")}
    want = {r[0] for r in _rows(truth_run["db"], "select order_id from liabilities where status in ('disputed', 'courier')")}
    assert want and pages == want
    # the truth's disputed and lost orders among them
    for t in truth:
        if t["expected_status"] in ("disputed", "courier"):
            assert t["order_id"] in pages, t["case"]
    # listed in the manifest, as part of the set
    import json

    manifest = json.loads((truth_run["out"] / "manifest.json").read_text(encoding="utf-8"))
    assert {f["path"] for f in manifest["files"] if f["path"].startswith("evidence/")} == {page_path(o) for o in want}
    # the report links the orders it lists to their pages, and every link reaches one
    report = (truth_run["out"] / "report.html").read_text(encoding="utf-8")
    links = re.findall(r'href="(evidence/[^"]+)"', report)
    assert links and all((truth_run["out"] / link).is_file() for link in links)


def test_every_fact_is_a_source_row(truth_run, truth):
    """Each order's page lists its order row, lines, parcels and refunds with their file and line,
    exactly the rows the database holds for it; and the rows of the buyer's later order whose
    text makes up its goods (issue 22), exactly that order's."""
    disputed = [t["order_id"] for t in truth if t["expected_status"] == "disputed"][:12]
    disputed += [t["order_id"] for t in truth if t["expected_status"] == "courier"][:4]
    traced = [o for (o,) in _rows(truth_run["db"], "select distinct unnest(related_order_ids) as o from notes "
                                  "where rule = 'text_makeup' and flagged order by o")]
    pages = {p.stem for p in (truth_run["out"] / "evidence").glob("*/*.html")}
    disputed += [o for o in traced if o in pages][:4]
    assert any(o in traced for o in disputed)
    for oid in disputed:
        page = parse(truth_run["out"] / page_path(oid))
        later = {}
        for fact, lo, i, file, line in page.later:
            later.setdefault(lo, set()).add((fact, i, file, line))
        assert set(later) == {lo for (lo,) in _rows(truth_run["db"], "select distinct order_id from notes where "
                                                    "rule = 'text_makeup' and list_contains(related_order_ids, ?)", [oid])}
        for lo, got in later.items():
            want = {("later_order", lo, f, ln) for f, ln in _rows(truth_run["db"], "select source_file, line from orders where order_id = ?", [lo])}
            want |= {("later_line", s or "", f, ln) for s, f, ln in _rows(truth_run["db"], "select sku, source_file, line from order_lines where order_id = ?", [lo])}
            want |= {("later_shipment", tk or "", f, ln) for tk, f, ln in _rows(truth_run["db"], "select tracking_no, source_file, line from shipments where order_id = ?", [lo])}
            assert got == want, (oid, lo)
        got = {(f, i, file, line) for f, i, file, line in page.facts}
        want = {("order", oid, f, ln) for f, ln in _rows(truth_run["db"], "select source_file, line from orders where order_id = ?", [oid])}
        want |= {("line", s or "", f, ln) for s, f, ln in _rows(truth_run["db"], "select sku, source_file, line from order_lines where order_id = ?", [oid])}
        want |= {("shipment", tk or "", f, ln) for tk, f, ln in _rows(truth_run["db"], "select tracking_no, source_file, line from shipments where order_id = ?", [oid])}
        want |= {("refund", r, f, ln) for r, f, ln in _rows(truth_run["db"], "select refund_id, source_file, line from refunds where order_id = ?", [oid])}
        assert got == want, oid
        # the lines really are those rows of those files: the order id is on that line of the export
        for fact, _, file, line in page.facts:
            if fact in ("order", "shipment"):
                text = Path(file).read_bytes().split(b"\n")[line - 1]
                assert oid.encode() in text, (file, line)


def test_refund_texts_and_weights_are_quoted(truth_run, truth):
    oid = next(t["order_id"] for t in truth if t["expected_status"] == "disputed" and t["refund_ids"])
    page = (truth_run["out"] / page_path(oid)).read_text(encoding="utf-8")
    import html

    text = html.unescape(page)
    for refund_id, reason, description, goods, amount in _rows(
            truth_run["db"], "select refund_id, reason, description, goods_status, refund_amount from refunds where order_id = ?", [oid]):
        assert refund_id in text
        for v in (reason, goods):
            if v:
                assert v in text
        if description:
            assert mask_phones(description) in text
        assert f"{amount:,.2f}" in text


def test_pages_are_self_contained_and_printable(truth_run):
    for path in sorted((truth_run["out"] / "evidence").glob("*/*.html"))[:20]:
        page = path.read_text(encoding="utf-8")
        p = parse(path)
        assert "script" not in p.tags and "<script" not in page.lower()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
        assert "@import" not in page and "url(" not in page
        assert "@media print" in page


def test_phones_masked_names_and_addresses_left_out(tmp_path):
    """A memo and a refund description with a phone number; the order's address and the
    buyer's name are in the export but never on the page."""
    from tests.conftest import FIXTURES

    exports = tmp_path / "in"
    exports.mkdir()
    for p in (FIXTURES / "run_sample").iterdir():
        (exports / p.name).write_bytes(p.read_bytes())
    done = run(exports, tmp_path / "o", as_of="2019-03-10 12:00:00")
    con = db.connect(done["db"])
    try:
        oid = con.execute("select order_id from flags order by order_id limit 1").fetchone()[0]
        con.execute("update orders set seller_memo = '补发 寄到 杭州市西湖区文三路8号2栋2单元 王美琴 13607942067', "
                    "address = '浙江省杭州市西湖区某路1号' where order_id = ?", [oid])
        con.execute("update refunds set description = '电话 136-0794-2067 或 0571-87654321' where order_id = ?", [oid])
    finally:
        con.close()
    r = CliRunner().invoke(cli, ["evidence", oid, "--db", str(done["db"]), "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output + r.stderr
    page = (tmp_path / "ev" / page_path(oid)).read_text(encoding="utf-8")
    assert "13607942067" not in page and "136****2067" in page
    assert "0794-2067" not in page and "87654321" not in page and "0571-****4321" in page
    assert "浙江省杭州市" not in page and "文三路" not in page and "王美琴" not in page
    assert "〔地址〕" in page and "〔姓名〕" in page
    assert oid in page


def test_evidence_command_writes_the_pages_asked_for(truth_run, tmp_path):
    con = duckdb.connect(str(truth_run["db"]), read_only=True)
    try:
        owed = con.execute("select order_id from liabilities where status = 'owed' order by order_id limit 2").fetchall()
        plain = con.execute("select order_id from orders where order_id not in (select order_id from flags) limit 1").fetchone()[0]
    finally:
        con.close()
    ids = [o for (o,) in owed] + [plain]
    out = tmp_path / "asked"
    r = CliRunner().invoke(cli, ["evidence", *ids, "--db", str(truth_run["db"]), "--out", str(out), "--lang", "en"])
    assert r.exit_code == 0, r.output + r.stderr
    assert sorted(p.name for p in (out / "evidence").glob("*/*")) == sorted(f"{o}.html" for o in ids)
    assert [ln for ln in r.stdout.splitlines()] == [str(out / page_path(o)) for o in ids]
    page = (out / page_path(ids[0])).read_text(encoding="utf-8")
    assert 'lang="en"' in page and "Timeline" in page and "Page written on request" in page
    unflagged = (out / page_path(plain)).read_text(encoding="utf-8")
    assert "not flagged in this run" in unflagged
    # nothing else in the folder: no staging left behind
    assert sorted(p.name for p in out.iterdir()) == ["evidence"]


@pytest.mark.parametrize("ids, needle", [(["99999999999999999"], "99999999999999999 is not in the database"),
                                         (["../etc/passwd"], "not a valid order id")])
def test_evidence_command_errors_are_one_line(truth_run, tmp_path, ids, needle):
    r = CliRunner().invoke(cli, ["evidence", *ids, "--db", str(truth_run["db"]), "--out", str(tmp_path / "x")])
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0]
    assert not (tmp_path / "x" / "evidence").exists()


def test_a_decided_order_gets_a_page(truth_run, tmp_path):
    """An order decided in review (the decisions table) gets a page with the decision, its
    file and line, even when it is no longer disputed."""
    import shutil

    dbp = tmp_path / "d.duckdb"
    shutil.copy(truth_run["db"], dbp)
    con = db.connect(dbp)
    try:
        oid = con.execute("select order_id from liabilities where status = 'owed' order by order_id limit 1").fetchone()[0]
        con.execute("""insert into decisions (order_id, decision, decision_raw, missing_qty, note, decided_by,
                                              decided_at, load_id, source_file, line)
                       values (?, 'merchant', '商家', 1, '客服确认少发，电话13600001111', '小王',
                               timestamp '2017-06-20 10:00:00', 999, 'review_filled.csv', 7)""", [oid])
        from pipeline.setdata import evidence_orders

        assert oid in evidence_orders(con)
    finally:
        con.close()
    from pipeline.act import evidence as ev

    con = db.connect(dbp, read_only=True)
    try:
        reasons = {r[0]: list(r[1]) for r in con.execute(
            f"select * from ({db.model_sql('outputs/evidence_orders.sql')})").fetchall()}
        assert reasons[oid] == ["decided"]
        from pipeline.policy import load_policy

        written = ev.write_pages(con, [oid], tmp_path / "pages", "zh",
                                 con.execute("select max(as_of) from liabilities").fetchone()[0], load_policy("tmall"))
    finally:
        con.close()
    page = parse(written[0])
    assert ("decision", "merchant", "review_filled.csv", 7) in page.facts
    text = "".join(page.text)
    assert "人工判定" in text and "136****1111" in text and "13600001111" not in text


def test_a_run_again_on_the_same_data_rewrites_no_page_and_no_unchanged_file(truth_run, exports, tmp_path):
    """`shortship run` again with no new data (issue 21): no evidence page and none of the files
    whose content is the same is written (inodes and mtimes kept); a file is written by the run
    exactly when its bytes changed (the run's id is a column of flags and liabilities), and the
    manifest says which run wrote each file last."""
    import json
    import shutil

    from pipeline.publish import MANIFEST

    from .conftest import TRUTH_AS_OF

    def stamps(out):
        return {p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
                for p in out.rglob("*") if p.is_file() and p.name != MANIFEST}

    def entries(out):
        return {f["path"]: f for f in json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"]}

    dbp, out = tmp_path / "shop.duckdb", tmp_path / "out"
    shutil.copy(truth_run["db"], dbp)
    shutil.copytree(truth_run["out"], out)
    before, old = stamps(out), entries(out)
    again = run(exports, tmp_path, "--lang", "en", "--xlsx", as_of=TRUTH_AS_OF, db=dbp)
    after, new = stamps(out), entries(out)
    run_id = again["json"]["run_id"]
    assert again["json"]["evidence_pages"] > 0
    kept = {p for p in before if after.get(p) == before[p]}
    assert {p for p in before if p.startswith("evidence/")} <= kept  # no page rewritten
    for p in ("review.csv", "reship.csv", "courier_claims.csv", "root_causes.parquet", "summary.parquet",
              "rejects.parquet"):
        assert p in kept, p
    for p, f in new.items():
        if p in old:
            assert (f["written_by"] == run_id) == (f["sha256"] != old[p]["sha256"]), p
        assert (p in kept) == (f["written_by"] != run_id), p
    assert again["json"]["output_files"]["written"] == sum(1 for f in new.values() if f["written_by"] == run_id)


def test_the_facts_a_worker_reads_are_those_the_run_reads(truth_run, tmp_path):
    """The facts of the pages as a worker process reads them (Parquet written once,
    pipeline/act/facts.py `read_share`) are the rows, values and types the run's own process
    reads; a flag's evidence said in SQL (fl_render) is the text explain.render gives, in
    both languages."""
    from pipeline import explain, setdata
    from pipeline.act.facts import KINDS, Gathering, read_share

    con = db.connect(truth_run["db"], read_only=True)
    try:
        info = setdata.set_info(con, batch_id="t")
        reasons = setdata.evidence_orders(con)
        ids = list(reasons)
        assert len(ids) >= 3
        for lang in ("zh", "en"):
            with Gathering(con, reasons, info.as_of, info.policy, lang) as g:
                folder = tmp_path / lang
                folder.mkdir()
                columns = g.write_share(ids, str(folder))
                here = list(g.chunks(ids, size=2))
                there = list(read_share(str(folder), columns, ids, reasons, size=2))
                said = dict(con.execute("select order_id, evidence_facts from _ev_flag").fetchall())
            assert [c.order_ids for c in here] == [c.order_ids for c in there]
            for a, b in zip(here, there):
                assert a.fields == b.fields
                for k in KINDS:
                    assert a.rows[k.name] == b.rows[k.name]
                    for o in a.rows[k.name]:
                        for x, y in zip(a.rows[k.name][o], b.rows[k.name][o]):
                            assert [type(v) for v in x] == [type(v) for v in y]
                for p in a.pages():
                    if p.flag is not None:
                        assert p.flag.evidence == explain.render(said[p.order_id], lang)
            assert any(p.flag is not None and p.flag.evidence for c in here for p in c.pages())
    finally:
        con.close()
