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
from datetime import datetime
from pathlib import Path
from typing import Iterator

import duckdb

from pipeline import db
from pipeline.act.facts import Gathering
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


def render_workers() -> int:
    """Processes that render pages, the run's own included: SHORTSHIP_RENDER_WORKERS, else two
    (one on a machine of one core). With two, the run's process writes the facts of half the
    pages to render into the staging folder once (Parquet), a worker process reads them and
    renders that half while the run's process renders the other. At 1 M orders (31,000
    pages) the worker's half cost it about 5 CPU seconds, its start included, and the run's
    process as much less."""
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
        if n > 1 and len(todo) >= POOL_MIN:
            with db.memory_lent(con, WORKER_MEMORY * (n - 1)):
                _render_shared(g, stage, info, tx, todo, rels, n)
        else:
            _render_here(g, stage, info, tx, list(todo), todo, rels)
    return list(rels.values())


def _render_here(g: Gathering, stage: Stage, info: SetInfo, tx: PageTexts, order_ids: list[str],
                 todo: dict[str, tuple[str, str]], rels: dict[str, str]) -> None:
    """Render the pages of `order_ids` in this process and stage them."""
    clocks: dict[str, datetime] = {}
    for p in g.pages(order_ids):
        h, since = todo[p.order_id]
        at = clocks.get(since) or clocks.setdefault(since, datetime.fromisoformat(since))
        html = render(p, tx, info.policy, at)
        stage.write_bytes(rels[p.order_id], html.encode(), facts=h, facts_as_of=since)


def _render_shared(g: Gathering, stage: Stage, info: SetInfo, tx: PageTexts, todo: dict[str, tuple[str, str]],
                   rels: dict[str, str], n: int) -> None:
    """stage_pages' rendering by this process and `n` - 1 worker processes, each a share of
    the pages (see `render_workers`); this process records what the workers wrote."""
    from pipeline.act.workers import Worker

    ids = list(todo)
    size = -(-len(ids) // n)
    shares = [ids[i:i + size] for i in range(0, len(ids), size)]
    pool = [Worker() for _ in shares[1:]]  # started first: their start overlaps the facts' writing
    folders = []
    try:
        for i, (worker, share) in enumerate(zip(pool, shares[1:]), 1):
            facts = os.path.join(stage.folder, f".facts-{i}")  # never part of the set: removed below
            os.makedirs(facts, exist_ok=True)
            folders.append(facts)
            columns = g.write_share(share, facts)
            worker.submit({"lang": info.lang, "policy": info.policy, "folder": str(stage.folder), "facts": facts,
                           "columns": columns, "order_ids": share, "reasons": {o: g.reasons[o] for o in share},
                           "tasks": {o: (rels[o], todo[o][1], stage.unchanged_sha(rels[o])) for o in share}})
        _render_here(g, stage, info, tx, shares[0], todo, rels)
        for worker, share in zip(pool, shares[1:]):
            try:
                results = worker.result()
            except ShortshipError:
                # the worker failed (it could not start, or stopped): its share is rendered
                # here, where a cause in the data or the folder is told as the run's own error
                _render_here(g, stage, info, tx, share, todo, rels)
                continue
            for oid, sha, nbytes, staged in results:
                h, since = todo[oid]
                stage.record(rels[oid], sha, nbytes, staged, facts=h, facts_as_of=since)
    except BaseException:
        for worker in pool:
            worker.kill()
        raise
    finally:
        for facts in folders:
            shutil.rmtree(facts, ignore_errors=True)
    for worker in pool:
        worker.close()
