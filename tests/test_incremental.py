"""Incremental outputs (issue 21): a file or an evidence page is written only when its content
changes, a page shows its order's facts (not the run's id or clock), publication touches only
what changed, manifest.json carries the unchanged files over, a page whose order leaves the set
is removed, and a page overwritten by `shortship evidence` is not trusted by the next set.

Most cases build the result tables by hand on the fixture sample (three disputed orders, so
three pages) and publish with `shortship export`, which is cheap; one case reruns a real run."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import db, export
from pipeline.cli import cli
from pipeline.clock import parse_as_of
from pipeline.liabilities import compute_liabilities, record_run
from pipeline.load import load_paths
from pipeline.policy import load_policy
from pipeline.publish import JOURNAL, MANIFEST, sha256_file
from pipeline.setdata import page_path

from .conftest import FIXTURES

SAMPLE = FIXTURES / "run_sample"
AS_OF = parse_as_of("2019-03-10 12:00:00")
DISPUTED = ("1001000000000000001", "1001000000000000002", "1001000000000000004")


def _flag(con, order_id, kind="short", responsibility="undetermined"):
    con.execute(
        """insert into flags (order_id, shop, buyer, kind, responsibility, confidence, rules, evidence,
                              missing_qty, affected_amount, paid_at, ship_by, as_of, run_id)
           select order_id, shop, buyer, $kind, $resp, 0.5, ['test_rule'], 'the buyer says 少发', 1,
                  20.00, paid_at, paid_at + interval 72 hour, $as_of, 'r1'
           from orders where order_id = $order_id""",
        {"order_id": order_id, "kind": kind, "resp": responsibility, "as_of": AS_OF},
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A database with the fixture's exports and three disputed flags of run r1 (three pages)."""
    path = tmp_path_factory.mktemp("incr") / "e.duckdb"
    con = db.connect(path)
    try:
        load_paths(con, [SAMPLE])
        for o in DISPUTED:
            _flag(con, o)
        pol = load_policy("tmall")
        record_run(con, "r1", AS_OF, pol, "test")
        compute_liabilities(con, AS_OF, pol, "r1")
    finally:
        con.close()
    return path


@pytest.fixture
def shop(built, tmp_path) -> dict:
    dbp = tmp_path / "e.duckdb"
    shutil.copy(built, dbp)
    return {"db": dbp, "out": tmp_path / "out"}


def export_(shop: dict, *extra: str) -> None:
    r = CliRunner().invoke(cli, ["export", "--db", str(shop["db"]), "--out", str(shop["out"]), *extra])
    assert r.exit_code == 0, r.output + r.stderr


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """Every file of the folder (but the manifest): (inode, mtime in ns)."""
    found = {}
    for p in out.rglob("*"):
        if p.is_file() and p.name != MANIFEST:
            st = p.stat()
            found[p.relative_to(out).as_posix()] = (st.st_ino, st.st_mtime_ns)
    return found


def manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST).read_text(encoding="utf-8"))


def pages(out: Path) -> set[str]:
    return {p.stem for p in (out / "evidence").glob("*/*.html")}


def assert_manifest_is_the_folder(out: Path) -> None:
    """manifest.json vouches for exactly the bytes the folder holds, and no journal is left."""
    m = manifest(out)
    for f in m["files"]:
        assert sha256_file(out / f["path"]) == f["sha256"], f["path"]
        assert (out / f["path"]).stat().st_size == f["bytes"], f["path"]
    assert not (out / JOURNAL).exists()


def test_a_second_publication_of_the_same_data_rewrites_nothing(shop):
    export_(shop)
    first, m1 = stamps(shop["out"]), manifest(shop["out"])
    assert pages(shop["out"]) == set(DISPUTED)
    export_(shop)  # the first published the ledger lines: this one's payouts.parquet is empty
    export_(shop)  # nothing at all changed since the one before
    m3 = manifest(shop["out"])
    assert stamps(shop["out"]) == {**first, **{k: v for k, v in stamps(shop["out"]).items()
                                              if k == "payouts.parquet" or k.startswith("payouts/")}}
    by_path = {f["path"]: f for f in m3["files"]}
    for f in m1["files"]:
        if f["path"] == "payouts.parquet" or f["path"].startswith("payouts/"):
            continue
        same = by_path[f["path"]]
        assert same["sha256"] == f["sha256"] and same["written_by"] == m1["batch_id"], f["path"]
    for o in DISPUTED:
        e = by_path[page_path(o)]
        assert e["facts"] and e["facts_as_of"] == "2019-03-10 12:00:00"
    assert_manifest_is_the_folder(shop["out"])


def test_a_page_shows_its_facts_and_their_clock_not_the_run(shop):
    export_(shop)
    page = (shop["out"] / page_path(DISPUTED[0])).read_text(encoding="utf-8")
    assert "r1" not in page and manifest(shop["out"])["batch_id"] not in page
    assert "本页事实截至 2019-03-10 12:00" in page and 'data-event="facts_as_of"' in page
    assert 'data-event="as_of"' not in page


def test_a_change_of_one_orders_facts_rewrites_its_page_only(shop):
    export_(shop)
    before = stamps(shop["out"])
    con = db.connect(shop["db"])
    try:  # a later run's clock, and one order's memo changed
        con.execute("update orders set seller_memo = '客服已核实：少发一件' where order_id = ?", [DISPUTED[1]])
        con.execute("insert into runs (run_id, started_at, as_of, policy_id, command) "
                    "values ('r2', timestamp '2099-01-01', timestamp '2019-03-11 12:00:00', 'tmall-2023', 'test')")
    finally:
        con.close()
    export_(shop)
    after = stamps(shop["out"])
    changed = {p for p in before if p.startswith("evidence/") and after.get(p) != before[p]}
    assert changed == {page_path(DISPUTED[1])}
    page = (shop["out"] / page_path(DISPUTED[1])).read_text(encoding="utf-8")
    assert "客服已核实" in page and "本页事实截至 2019-03-11 12:00" in page
    entries = {f["path"]: f for f in manifest(shop["out"])["files"]}
    assert entries[page_path(DISPUTED[1])]["facts_as_of"] == "2019-03-11 12:00:00"
    assert entries[page_path(DISPUTED[0])]["facts_as_of"] == "2019-03-10 12:00:00"  # kept as it was
    assert_manifest_is_the_folder(shop["out"])


def test_a_page_whose_order_leaves_the_set_is_removed(shop):
    export_(shop)
    (shop["out"] / "evidence" / "mine.txt").write_text("a file of the user's own")
    con = db.connect(shop["db"])
    try:  # decided by the data now: owed, no longer disputed
        con.execute("update flags set responsibility = 'merchant' where order_id = ?", [DISPUTED[2]])
        compute_liabilities(con, AS_OF, load_policy("tmall"), "r1")
    finally:
        con.close()
    export_(shop)
    assert pages(shop["out"]) == set(DISPUTED[:2])
    assert page_path(DISPUTED[2]) not in {f["path"] for f in manifest(shop["out"])["files"]}
    assert (shop["out"] / "evidence" / "mine.txt").exists()
    assert not (shop["out"] / page_path(DISPUTED[2])).parent.exists()  # its folder, now empty, too
    assert_manifest_is_the_folder(shop["out"])


def test_a_page_overwritten_by_the_evidence_command_is_written_again_by_the_next_set(shop):
    export_(shop)
    oid = DISPUTED[0]
    r = CliRunner().invoke(cli, ["evidence", oid, "--db", str(shop["db"]), "--out", str(shop["out"]), "--lang", "en"])
    assert r.exit_code == 0, r.output + r.stderr
    assert 'lang="en"' in (shop["out"] / page_path(oid)).read_text(encoding="utf-8")
    assert json.loads((shop["out"] / JOURNAL).read_text())["paths"] == [page_path(oid)]
    export_(shop)  # the manifest's hash of that page is not trusted: written again, in Chinese
    assert 'lang="zh-CN"' in (shop["out"] / page_path(oid)).read_text(encoding="utf-8")
    assert_manifest_is_the_folder(shop["out"])


def test_write_people_files_of_one_database_into_a_folder(built, tmp_path):
    con = db.connect(built, read_only=True)
    try:
        done = export.write_people_files(con, tmp_path / "people")
        again = export.write_people_files(con, tmp_path / "people")
    finally:
        con.close()
    names = {p.relative_to(tmp_path / "people").as_posix() for p in done.paths}
    # overview.html too: the database holds three shops (店铺名称)
    assert names == {"review.csv", "reship.csv", "courier_claims.csv", "root_causes.parquet", "report.html",
                     "overview.html", MANIFEST, *(page_path(o) for o in DISPUTED)}
    assert done.written == len(names) - 1 and again.written == 0 and again.unchanged == done.written
    review = (tmp_path / "people" / "review.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(review) == 1 + len(DISPUTED)
    assert not [p for p in os.listdir(tmp_path / "people") if p.startswith(".")]


def test_the_paths_an_interrupted_publication_was_replacing_are_not_trusted(tmp_path):
    """A publication killed after some renames leaves the old manifest and the journal: the
    next set writes the journal's paths again even when their new content equals what the old
    manifest says (the folder may hold the killed set's bytes), and removes the old set's files
    it lacks, also those the journal lists."""
    from pipeline.publish import Stage, publish

    out = tmp_path / "out"

    def publish_set(name: str, files: dict[str, bytes]):
        st = Stage(out, name)
        try:
            for rel, data in files.items():
                st.write_bytes(rel, data)
            return publish(st, {"batch_id": name})
        finally:
            st.remove()

    publish_set("s1", {"a.txt": b"A", "b.txt": b"B", "evidence/1.html": b"P1"})
    # a second set killed mid-way: a.txt and the page replaced, b.txt about to be removed
    (out / "a.txt").write_bytes(b"A2")
    (out / "evidence" / "1.html").write_bytes(b"P2")
    (out / JOURNAL).write_text(json.dumps({"paths": ["a.txt", "b.txt", "evidence/1.html"]}))
    done = publish_set("s3", {"a.txt": b"A", "evidence/1.html": b"P1"})
    assert (out / "a.txt").read_bytes() == b"A" and (out / "evidence" / "1.html").read_bytes() == b"P1"
    assert not (out / "b.txt").exists()
    assert done.written == 2 and done.removed == 1
    assert_manifest_is_the_folder(out)
    # and the set after that writes nothing
    assert publish_set("s4", {"a.txt": b"A", "evidence/1.html": b"P1"}).written == 0


def _people_files(dbp: Path, folder: Path, workers: str, monkeypatch):
    """The people's files of the database `dbp` written into `folder` by `workers` render processes."""
    from pipeline.act import evidence

    monkeypatch.setenv(evidence.WORKERS_ENV, workers)
    con = db.connect(dbp, read_only=True)
    try:
        return export.write_people_files(con, folder)
    finally:
        con.close()


def test_pages_rendered_by_worker_processes_are_those_of_one_process(built, tmp_path, monkeypatch):
    """Many pages to render go to worker processes (pipeline/act/workers.py): the same bytes,
    the same manifest entries, and a second set renders nothing."""
    from pipeline.act import evidence

    dbp = tmp_path / "w.duckdb"
    shutil.copy(built, dbp)

    def people(folder: Path, workers: str):
        return _people_files(dbp, folder, workers, monkeypatch)

    monkeypatch.setattr(evidence, "POOL_MIN", 1)
    monkeypatch.setattr(evidence, "SHARE_CHUNK", 1)  # a chunk per page: the run and the worker share them
    one, two = tmp_path / "one", tmp_path / "two"
    people(one, "0")
    done = people(two, "2")
    assert done.written == len(DISPUTED) + 6  # + the five files and overview.html (three shops)
    for o in DISPUTED:
        assert (one / page_path(o)).read_bytes() == (two / page_path(o)).read_bytes()
    strip = lambda m: [{k: v for k, v in f.items() if k != "written_by"} for f in m["files"]]  # noqa: E731
    assert strip(manifest(one)) == strip(manifest(two))
    assert_manifest_is_the_folder(two)
    before = stamps(two)
    con = db.connect(dbp)
    try:  # one page's facts change: the workers write that page only
        con.execute("update orders set seller_memo = '少发一件' where order_id = ?", [DISPUTED[0]])
    finally:
        con.close()
    again = people(two, "2")
    changed = {p for p, st in stamps(two).items() if before.get(p) != st}
    assert {p for p in changed if p.startswith("evidence/")} == {page_path(DISPUTED[0])}
    assert again.written >= 1


def test_a_worker_that_fails_leaves_its_pages_to_the_run(built, tmp_path, monkeypatch):
    """A worker process that cannot render (here: it cannot even start) does not fail the
    set: its share of the pages is rendered by the run's own process, the same bytes."""
    from pipeline.act import evidence, workers

    dbp = tmp_path / "f.duckdb"
    shutil.copy(built, dbp)
    monkeypatch.setattr(evidence, "POOL_MIN", 1)

    def people(folder: Path, n: str):
        return _people_files(dbp, folder, n, monkeypatch)

    people(tmp_path / "one", "1")
    monkeypatch.setattr(workers.sys, "executable", "/bin/false")
    people(tmp_path / "two", "3")  # two workers, both failing
    for o in DISPUTED:
        assert (tmp_path / "one" / page_path(o)).read_bytes() == (tmp_path / "two" / page_path(o)).read_bytes()
    assert not list((tmp_path / "two").glob(".shortship-*"))  # no staging folder or facts left behind


def test_chunks_a_failed_worker_had_claimed_are_rendered_by_the_run(built, tmp_path, monkeypatch):
    """A worker that claimed chunks of pages and then stopped answering: the run renders those
    chunks itself (the others it claims as usual), every page once, the same bytes as one
    process writes; the set's other files are written while the worker holds its chunks."""
    from pipeline.act import evidence, workers
    from pipeline.errors import ShortshipError

    dbp = tmp_path / "c.duckdb"
    shutil.copy(built, dbp)
    monkeypatch.setattr(evidence, "POOL_MIN", 1)
    monkeypatch.setattr(evidence, "SHARE_CHUNK", 1)
    seen = {}

    class Dying:
        """Claims the first two chunks, writes nothing, then fails."""
        def submit(self, job):
            claim = workers.claimer(job["claims"])
            seen["claimed"] = [i for i in range(2) if claim(i)]
            seen["job"] = job

        def result(self):
            seen["files_at_result"] = sorted(p.name for p in Path(seen["job"]["folder"]).iterdir() if p.is_file())
            raise ShortshipError("evidence pages: a page-rendering worker stopped (exit status 1)")

        def close(self):
            pass

        def kill(self):
            pass

    _people_files(dbp, tmp_path / "one", "1", monkeypatch)
    monkeypatch.setattr(workers, "Worker", Dying)
    done = _people_files(dbp, tmp_path / "two", "2", monkeypatch)
    assert seen["claimed"] == [0, 1] and len(seen["job"]["order_ids"]) == len(DISPUTED)
    assert {"review.csv", "report.html"} <= set(seen["files_at_result"])  # written before the pages were finished
    for o in DISPUTED:
        assert (tmp_path / "one" / page_path(o)).read_bytes() == (tmp_path / "two" / page_path(o)).read_bytes()
    assert done.written == len(DISPUTED) + 6
    assert not list((tmp_path / "two").glob(".shortship-*"))  # no staging folder or facts left behind


def test_a_writer_failing_while_the_worker_renders_stops_the_worker(built, tmp_path, monkeypatch):
    """A writer that fails while the pages are being rendered beside it: its error is the set's,
    the worker is stopped, and neither the staging folder nor the facts are left behind."""
    from pipeline import export
    from pipeline.act import evidence, workers
    from pipeline.errors import ShortshipError

    dbp = tmp_path / "k.duckdb"
    shutil.copy(built, dbp)
    monkeypatch.setattr(evidence, "POOL_MIN", 1)
    calls = []

    class Watched(workers.Worker):
        def submit(self, job):
            calls.append("submit")
            super().submit(job)

        def kill(self):
            calls.append("kill")
            super().kill()

    def broken(con, stage, info, data):
        raise ShortshipError("review.csv: cannot write (No space left on device)")

    monkeypatch.setattr(workers, "Worker", Watched)
    monkeypatch.setattr(export, "PEOPLE", [(n, broken if n == "review.csv" else w) for n, w in export.PEOPLE])
    with pytest.raises(ShortshipError, match="No space left"):
        _people_files(dbp, tmp_path / "out", "2", monkeypatch)
    assert calls == ["submit", "kill"]
    assert not list((tmp_path / "out").glob(".shortship-*"))


def test_page_paths_and_the_links_between_pages(tmp_path):
    """evidence/NN/<order_id>.html, NN the id's last two digits; a link from a page to another
    resolves to that page; an id that cannot name a file is refused."""
    from pipeline.errors import ShortshipError
    from pipeline.setdata import page_href_from_page

    assert page_path("1001000000000000004") == "evidence/04/1001000000000000004.html"
    here = tmp_path / page_path("1001000000000000004")
    there = tmp_path / page_path("2001000000000000017")
    assert (here.parent / page_href_from_page("2001000000000000017")).resolve() == there.resolve()
    with pytest.raises(ShortshipError):
        page_path("../etc")


def test_a_run_whose_new_data_change_one_order_rewrites_that_page_only(tmp_path):
    """`shortship run` twice: two orders decided in review have pages; a later shipments file
    holds a re-shipment of one of them: its page is written again (with the parcel and the new
    clock of its facts), the other's is left as it was. (Not an unshipped order: its flag's
    evidence text quotes the run's clock, so its page changes with every run.)"""
    exports = tmp_path / "in"
    shutil.copytree(SAMPLE, exports)
    (exports / "review_filled.csv").write_text(
        "order_id,decision,note\n1001000000000000001,merchant,客服确认\n1001000000000000002,merchant,少发\n",
        encoding="utf-8")
    dbp, out = tmp_path / "s.duckdb", tmp_path / "out"

    def run(as_of: str) -> dict:
        r = CliRunner().invoke(cli, ["run", str(exports), "--db", str(dbp), "--out", str(out), "--as-of", as_of,
                                     "--create", "--json"], catch_exceptions=False)
        assert r.exit_code == 0, r.output + r.stderr
        return json.loads(r.stdout)

    run("2019-03-10 12:00:00")
    one, two = page_path("1001000000000000001"), page_path("1001000000000000002")
    before = stamps(out)
    assert one in before and two in before
    (exports / "shipments201903120000.csv").write_text(
        "order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship\n"
        "1001000000000000001,SKU-BLOCK,1,2019-03-10 14:00:00,7000000009,0.5,true\n", encoding="utf-8")
    second = run("2019-03-10 18:00:00")
    after = stamps(out)
    assert after[two] == before[two]  # same inode, same mtime: not written
    assert after[one] != before[one]
    page = (out / one).read_text(encoding="utf-8")
    assert "7000000009" in page and "本页事实截至 2019-03-10 18:00" in page
    entries = {f["path"]: f for f in manifest(out)["files"]}
    assert entries[two]["written_by"] != second["run_id"] and entries[one]["written_by"] == second["run_id"]
    assert_manifest_is_the_folder(out)
