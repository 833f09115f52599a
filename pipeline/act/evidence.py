"""evidence/NN/<order_id>.html (setdata.page_path): one self-contained page per order, the file to hand in for 举证.

A page holds the order's timeline (paid, ship-by, every parcel with its tracking number and
its weight against the expected weight, re-shipments, every refund with its reason,
description, goods status, customer-service status and times, review decisions), the rule and
the policy applied, the amounts, and beside each fact its source: the export file and line it
was read from (every typed row keeps `source_file` and `line`).
When the buyer's later order makes up (补发) goods of the order (detection's notes, rule
text_makeup), the page shows that order too: its payment and text, its parcel, its rows; the
two pages link each other when both are in the set, and a change to the later order's facts
changes the earlier page's hash (pipeline/act/facts.py).

Pages are printable from a browser (A4, no navigation, nothing cut across pages where it can
be helped), carry no script and load nothing: the CSS is in the page. Free text quoted from the
exports (buyer messages, seller memos, refund descriptions, the detection's evidence, decision
notes) is masked by detection's rule (sql/flags/macros.sql fl_mask_text: an address becomes
〔地址〕, a name before a phone number 〔姓名〕, phone numbers 136****2067); no buyer name or
address column is shown, only the buyer id the platform shows.

A page shows its order's facts (pipeline/act/facts.py, the page model) and the clock at which
they last changed, never the run's id or clock, and is written only when they change
(`stage_pages`): the hash of each page's facts is computed by DuckDB over all the pages at
once and kept in manifest.json with the page; a page whose hash (and renderer) is unchanged is
carried over without being rendered, the others are rendered (pipeline/act/page.py) and
written. A page whose order no longer gets one leaves the set (its file is removed).
"""
from __future__ import annotations

import os
import shutil
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Iterator

import duckdb

from pipeline import db
from pipeline.act.facts import Gathering, gc_paused
from pipeline.act.page import PageTexts, render
from pipeline.clock import fmt
from pipeline.errors import ShortshipError
from pipeline.policy import Policy
from pipeline.publish import Stage
from pipeline.setdata import SetInfo, page_name, page_path  # noqa: F401 - the pages' names, re-exported

RENDERER = "evidence_renderer"  # the manifest's key: what rendered the published pages


def rendered(con: duckdb.DuckDBPyConnection, reasons: dict[str, list[str]], lang: str, as_of: datetime,
             policy: Policy, facts_as_of: datetime | None = None) -> Iterator[tuple[str, str]]:
    """(order_id, page) for each order of `reasons` (order_id -> why its page), every page
    rendered; `facts_as_of` (default `as_of`) printed as the clock of their facts."""
    for o in reasons:
        page_name(o)
    tx = PageTexts(lang)
    with Gathering(con, reasons, as_of, policy, lang) as g:
        for p in g.pages(list(reasons)):
            yield p.order_id, render(p, tx, policy, facts_as_of or as_of)


def write_pages(con: duckdb.DuckDBPyConnection, order_ids: list[str], folder: Path, lang: str, as_of: datetime,
                policy: Policy, reasons: dict[str, list[str]] | None = None) -> list[Path]:
    """Write <order_id>.html for each order into `folder`, every one rendered (not a set's
    publication: see `stage_pages`); returns the paths."""
    if not order_ids:
        return []
    if reasons is None:
        from pipeline.setdata import evidence_orders

        reasons = evidence_orders(con, order_ids)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for oid, html in rendered(con, {o: reasons.get(o, []) for o in order_ids}, lang, as_of, policy):
        path = folder / page_name(oid)
        path.write_bytes(html.encode())
        out.append(path)
    return out


# Pages are rendered by two processes when there are many (pipeline/act/workers.py):
POOL_MIN = 2_000       # pages to render before a second process is worth its start (~0.5 s)
# what a worker process takes, lent by the run's DuckDB while the workers render (db.memory_lent:
# the memory limit holds for the run with its workers); one measured 354 MiB at its peak on
# 155,000 pages (10 M orders)
WORKER_MEMORY = 512 << 20
WORKERS_ENV = "SHORTSHIP_RENDER_WORKERS"  # processes that render (default: 2, or 1 on a single core)
# orders per chunk of the shared rendering (a process claims one at a time; at most one chunk,
# about half a second, is left to one process at the end)
SHARE_CHUNK = 2_000


def render_workers() -> int:
    """Processes that render pages, the run's own included: SHORTSHIP_RENDER_WORKERS, else two
    (one on a machine of one core). With more than one, the run's process writes the facts of
    the pages to render into the staging folder once (Parquet) and the worker processes read
    them and render while the run's process writes the rest of the output set; then it renders
    with them, each process taking chunks of SHARE_CHUNK orders in turn (`_SharedRender`)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return min(2, os.cpu_count() or 1)
    try:
        return max(int(value), 0)
    except ValueError:
        raise ShortshipError(f"{WORKERS_ENV}={value!r}: expected a whole number") from None


def stage_pages(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, reasons: dict[str, list[str]],
                every: bool = False, workers: int | None = None) -> list[str]:
    """Put the pages of the orders `reasons` (order_id -> why its page) into the set staged in
    `stage`: only the pages whose facts (or renderer) changed since their published copy are
    rendered, and only those whose bytes changed are written (`every`: render them all, for
    pages asked for by name). Returns the pages' paths (relative). `workers`: processes that
    render (default `render_workers()`; more than one from POOL_MIN pages to render)."""
    if not reasons:
        return []
    rels = {o: page_path(o) for o in reasons}
    tx = PageTexts(info.lang)
    key = tx.key
    stage.meta[RENDERER] = key
    same_renderer = stage.previous.header.get(RENDERER) == key
    now = fmt(info.as_of)
    with Gathering(con, reasons, info.as_of, info.policy, info.lang) as g:
        hashes = g.hashes()
        todo: dict[str, tuple[str, str]] = {}  # order_id -> (facts hash, clock of the facts)
        for oid, rel in rels.items():
            h = hashes[oid]
            prev = stage.previous_entry(rel)
            if prev is not None and prev.facts == h:
                if not every and same_renderer and stage.keep(rel):
                    continue
                todo[oid] = (h, prev.facts_as_of or now)
            else:
                todo[oid] = (h, now)
        n = render_workers() if workers is None else workers
        shared = None
        if n > 1 and len(todo) >= POOL_MIN:
            shared = _SharedRender(con, stage, info, todo, rels, n)
            try:
                shared.start(g)
            except BaseException:
                shared.abort()
                raise
        else:
            _render_here(g, stage, info, tx, list(todo), todo, rels)
    if shared is not None:
        stage.defer(shared)  # finished after the set's other writers (at once outside a set)
    return list(rels.values())


def _render_here(g: Gathering, stage: Stage, info: SetInfo, tx: PageTexts, order_ids: list[str],
                 todo: dict[str, tuple[str, str]], rels: dict[str, str]) -> None:
    """Render the pages of `order_ids` in this process and stage them."""
    clocks: dict[str, datetime] = {}
    with gc_paused():  # pages make no cycles: see gc_paused
        for p in g.pages(order_ids):
            h, since = todo[p.order_id]
            at = clocks.get(since) or clocks.setdefault(since, datetime.fromisoformat(since))
            html = render(p, tx, info.policy, at)
            stage.write_bytes(rels[p.order_id], html.encode(), facts=h, facts_as_of=since)


class _SharedRender:
    """The pages of one `stage_pages` call rendered by this process and `n` - 1 worker
    processes (pipeline/act/workers.py) from one copy of their facts: `start` writes the facts
    (Parquet, in the staging folder) and hands the job to the workers, which begin at once;
    `finish`, called when the set's other files are written (publish.Stage.defer), renders here
    too and records every page. Each process claims chunks of SHARE_CHUNK orders in turn, so
    the work splits by itself, however busy each process is. While the workers run, the run's
    DuckDB lends them memory (db.memory_lent)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo,
                 todo: dict[str, tuple[str, str]], rels: dict[str, str], n: int):
        from pipeline.act.workers import Worker

        self.stage, self.info, self.todo, self.rels = stage, info, todo, rels
        self.facts = os.path.join(stage.folder, ".facts")  # never part of the set: removed at the end
        self.job: dict = {}
        self._lent = ExitStack()
        self.pool: list = []
        try:
            self.pool = [Worker() for _ in range(n - 1)]  # started first: their start overlaps the facts' writing
            self._lent.enter_context(db.memory_lent(con, WORKER_MEMORY * (n - 1)))
        except BaseException:
            self.abort()
            raise

    def start(self, g: Gathering) -> None:
        ids = list(self.todo)
        claims = os.path.join(self.facts, "claims")
        os.makedirs(claims, exist_ok=True)
        columns = g.write_share(ids, self.facts, row_group=SHARE_CHUNK)
        stage = self.stage
        self.job = {"lang": self.info.lang, "policy": self.info.policy, "folder": str(stage.folder),
                    "facts": self.facts, "columns": columns, "order_ids": ids, "chunk": SHARE_CHUNK,
                    "claims": claims, "reasons": {o: g.reasons[o] for o in ids},
                    "tasks": {o: (self.rels[o], self.todo[o][1], stage.unchanged_sha(self.rels[o])) for o in ids}}
        for worker in self.pool:
            worker.submit(self.job)

    def finish(self) -> None:
        from pipeline.act.workers import render_share

        try:
            results = render_share(self.job)  # the chunks no worker has claimed yet
            for worker in self.pool:
                try:
                    results += worker.result()
                except ShortshipError:
                    # the worker failed (it could not start, or stopped): its chunks are
                    # rendered here below, where a cause in the data or the folder is told as
                    # the run's own error
                    pass
            done = {r[0] for r in results}
            if len(done) < len(self.todo):
                ids, size = self.job["order_ids"], self.job["chunk"]
                results += render_share(self.job, claim=lambda i: ids[i * size] not in done)
            by_order = {r[0]: r for r in results}
            for oid in self.job["order_ids"]:  # recorded in the pages' order, whoever rendered them
                _, sha, nbytes, staged = by_order[oid]
                h, since = self.todo[oid]
                self.stage.record(self.rels[oid], sha, nbytes, staged, facts=h, facts_as_of=since)
        except BaseException:
            self.abort()
            raise
        self._close()
        for worker in self.pool:
            worker.close()

    def abort(self) -> None:
        for worker in self.pool:
            worker.kill()
        try:
            self._close()
        except duckdb.Error:
            pass  # the run's transaction failed: the first error is the one to tell

    def _close(self) -> None:
        shutil.rmtree(self.facts, ignore_errors=True)
        self._lent.close()
