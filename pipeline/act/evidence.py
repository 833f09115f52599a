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
from datetime import datetime
from pathlib import Path
from typing import Iterator

import duckdb

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
    with Gathering(con, reasons, as_of, policy) as g:
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


# Pages can be rendered and written by worker processes when there are many (pipeline/act/workers.py):
POOL_MIN = 2_000       # pages to render before worker processes are worth their start (~0.5 s)
POOL_CHUNK = 1_000     # pages a worker is handed at a time
WORKERS_ENV = "SHORTSHIP_RENDER_WORKERS"  # worker processes (default 0: the run's own process renders)


def render_workers() -> int:
    """Worker processes that render pages: none unless SHORTSHIP_RENDER_WORKERS says how many.
    On the 2-core benchmark machine, shared with other work, two workers were slower than the
    run's own process (24,000 pages rendered and written: 10.8 s against 8.5 s; handing the
    facts over costs a pickle each way and the workers' start), so they are for a machine
    with idle cores."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return 0
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
    render (default `render_workers()`; used from POOL_MIN pages to render)."""
    if not reasons:
        return []
    rels = {o: page_path(o) for o in reasons}
    tx = PageTexts(info.lang)
    key = tx.key
    stage.meta[RENDERER] = key
    same_renderer = stage.previous.header.get(RENDERER) == key
    now = fmt(info.as_of)
    with Gathering(con, reasons, info.as_of, info.policy) as g:
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
            _render_in_workers(g, stage, info, todo, rels, n)
            return list(rels.values())
        clocks: dict[str, datetime] = {}
        for p in g.pages(list(todo)):
            h, since = todo[p.order_id]
            at = clocks.get(since) or clocks.setdefault(since, datetime.fromisoformat(since))
            html = render(p, tx, info.policy, at)
            stage.write_bytes(rels[p.order_id], html.encode(), facts=h, facts_as_of=since)
    return list(rels.values())


def _render_in_workers(g: Gathering, stage: Stage, info: SetInfo, todo: dict[str, tuple[str, str]],
                       rels: dict[str, str], n: int) -> None:
    """stage_pages' rendering by `n` worker processes (see POOL_MIN): this process fetches the
    chunks and records what the workers wrote."""
    from pipeline.act.workers import RenderPool


    def record(results: list[tuple]) -> None:
        for oid, sha, size, staged in results:
            h, since = todo[oid]
            stage.record(rels[oid], sha, size, staged, facts=h, facts_as_of=since)

    pool = RenderPool(n, info.lang, info.policy, str(stage.folder))
    try:
        in_flight = 0
        for chunk in g.chunks(list(todo), POOL_CHUNK):
            for o in chunk.order_ids:
                stage.staged_path(rels[o])  # its folder made in the staging folder (once a folder)
            pool.submit(chunk, {o: (rels[o], todo[o][1], stage.unchanged_sha(rels[o])) for o in chunk.order_ids})
            in_flight += 1
            while in_flight > 2 * n:  # a bounded number of chunks in flight
                record(pool.result())
                in_flight -= 1
        while in_flight:
            record(pool.result())
            in_flight -= 1
    except BaseException:
        pool.kill()
        raise
    pool.close()
