"""evidence/<order_id>.html: one self-contained page per order, the file to hand in for 举证.

A page holds the order's timeline (paid, ship-by, every parcel with its tracking number and
its weight against the expected weight, re-shipments, every refund with its reason,
description, goods status, customer-service status and times, review decisions), the rule and
the policy applied, the amounts, and beside each fact its source: the export file and line it
was read from (every typed row keeps `source_file` and `line`).

Pages are printable from a browser (A4, no navigation, nothing cut across pages where it can
be helped), carry no script and load nothing: the CSS is in the page. Free text quoted from the
exports (buyer messages, seller memos, refund descriptions, the detection's evidence, decision
notes) is masked by detection's rule (sql/flags/macros.sql fl_mask_text: an address becomes
〔地址〕, a name before a phone number 〔姓名〕, phone numbers 136****2067); no buyer name or
address column is shown, only the buyer id the platform shows.

`write_pages` renders the pages of many orders with a handful of queries (one per kind of
fact, over all the orders at once), not one query per order.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict, namedtuple
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pipeline import db
from pipeline.act import Row, resolve_as_of, resolve_policy, weigh_parcels
from pipeline.errors import ShortshipError
from pipeline.policy import Policy
from pipeline.report.render import environment

TEMPLATE = "evidence.html"
_SAFE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def page_name(order_id: str) -> str:
    """The file name of an order's page; an id that is not a plain token cannot name a file."""
    if not _SAFE_ID.fullmatch(order_id or ""):
        raise ShortshipError(f"order id {order_id!r}: not a valid order id")
    return f"{order_id}.html"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[tuple]:
    """The rows of a query as named tuples (cheap to make by the ten thousand, read as
    attributes by the template)."""
    cur = con.execute(sql, params or {})
    make = namedtuple("Fact", [d[0] for d in cur.description], rename=True)._make
    return [make(r) for r in cur.fetchall()]


def _by_order(rows: list[tuple]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for r in rows:
        out[r.order_id].append(r)
    return out


def _has_table(con, name: str) -> bool:
    return con.execute(
        "select count(*) from information_schema.tables where table_name = ? and table_schema = 'main'", [name]
    ).fetchone()[0] > 0


def gather(con: duckdb.DuckDBPyConnection, order_ids: list[str], as_of: datetime, policy: Policy) -> dict[str, dict]:
    """Every fact of the orders `order_ids`, grouped by order (see the module doc)."""
    con.execute("create or replace temp table _ev_ids as select distinct unnest($ids::varchar[]) as order_id",
                {"ids": list(order_ids)})
    # what people wrote is quoted with personal data masked by detection's own rule (fl_mask_text:
    # addresses, a name before a phone number, phone numbers), as in the flags' evidence
    db.run_script(con, db.read_sql("flags/macros.sql"))
    try:
        orders = _rows(con, """
            select order_id, shop, buyer, status, status_raw, goods_amount, postage, total_amount, paid_amount,
                   refund_amount, paid_gross, created_at, paid_at, shipped_at, confirmed_at, tracking_no, carrier,
                   fl_mask_text(buyer_message) as buyer_message, fl_mask_text(seller_memo) as seller_memo,
                   item_count, close_reason, source_file, line
            from orders semi join _ev_ids using (order_id)""")
        con.execute("create or replace temp table _ev_lines as select * from order_lines semi join _ev_ids using (order_id)")
        con.execute("create or replace temp table _ev_orders as select * from orders semi join _ev_ids using (order_id)")
        lines = _rows(con, """
            select l.order_id, l.line_no, l.line_id, l.sku, l.title, l.attributes, l.price, l.quantity, l.status,
                   l.status_raw, l.refund_status, l.refund_amount, a.line_paid, a.paid_source, l.shipped_at,
                   l.tracking_no, l.source_file, l.line
            from _ev_lines l
            left join line_amounts_of('_ev_lines', '_ev_orders') a using (order_id, line_no)
            order by l.order_id, l.line_no""")
        refunds = _rows(con, """
            select order_id, refund_id, sku, title, refund_amount, order_paid_amount, status, status_raw,
                   goods_status, reason, fl_mask_text(description) as description, return_required, aftersale_type,
                   cs_status, responsible_party, phase, refund_scope, fl_mask_text(seller_memo) as seller_memo,
                   applied_at, finished_at, timeout_at, returned_at,
                   source_file, line
            from refunds semi join _ev_ids using (order_id)
            order by order_id, applied_at nulls last, refund_id""")
        flags = _rows(con, "select * from flags semi join _ev_ids using (order_id)")
        liabilities = _rows(con, "select * from liabilities semi join _ev_ids using (order_id)")
        decisions = _rows(con, """select * replace (fl_mask_text(note) as note) from decisions
                                  semi join _ev_ids using (order_id)
                                  order by order_id, decided_at nulls last, line""") if _has_table(con, "decisions") else []
        weigh_parcels(con, "select order_id from _ev_ids", as_of, policy)
        parcels = _rows(con, "select * from _act_parcels order by order_id, shipped_at, tracking_no")
        shipment_rows = _rows(con, """
            select order_id, sku, quantity, shipped_at, tracking_no, weight_kg, reship, source_file, line
            from shipments semi join _ev_ids using (order_id)
            order by order_id, shipped_at, line""")
    finally:
        for t in ("_ev_ids", "_ev_lines", "_ev_orders"):
            con.execute(f"drop table if exists {t}")
    grouped = {
        "lines": _by_order(lines), "refunds": _by_order(refunds), "decisions": _by_order(decisions),
        "parcels": _by_order(parcels), "shipment_rows": _by_order(shipment_rows),
    }
    one = {"order": {r.order_id: r for r in orders}, "flag": {r.order_id: r for r in flags},
           "liability": {r.order_id: r for r in liabilities}}
    facts = {}
    for oid in order_ids:
        facts[oid] = Row(
            order_id=oid,
            **{k: v.get(oid) for k, v in one.items()},
            **{k: v.get(oid, []) for k, v in grouped.items()},
        )
    return facts


def _event(at: datetime | None, what: str, source: tuple | None = None, **detail: Any) -> Row:
    return Row(at=at, what=what, source=source, **detail)


def timeline(f: dict, as_of: datetime) -> list[dict]:
    """The order's events in time order (undated ones last)."""
    o, flag, liab = f["order"], f["flag"], f["liability"]
    ev: list[dict] = []
    src = (o.source_file, o.line) if o else None
    if o:
        ev.append(_event(o.created_at, "created", src))
        ev.append(_event(o.paid_at, "paid", src, amount=o.paid_gross or o.paid_amount, postage=o.postage))
        if o.shipped_at:
            ev.append(_event(o.shipped_at, "shipped", src, tracking_no=o.tracking_no, carrier=o.carrier))
        if o.confirmed_at:
            ev.append(_event(o.confirmed_at, "confirmed", src))
    ship_by = (flag.ship_by if flag else None) or (liab.deadline if liab else None)
    if ship_by:
        ev.append(_event(ship_by, "ship_by", None))
    for p in f["parcels"]:
        ev.append(_event(p.shipped_at, "reshipped" if p.reship else "parcel",
                         (p.source_files[0], p.lines) if p.source_files else None, parcel=p))
    for r in f["refunds"]:
        ev.append(_event(r.applied_at, "refund_applied", (r.source_file, r.line), refund=r))
        if r.finished_at:
            ev.append(_event(r.finished_at, "refund_finished", (r.source_file, r.line), refund=r))
    for d in f["decisions"]:
        ev.append(_event(d.decided_at, "decided", (d.source_file, d.line), decision=d))
    ev.append(_event(as_of, "as_of", None))
    far = datetime.max
    return sorted(ev, key=lambda e: (e["at"] or far, 0 if e["what"] != "as_of" else 1))


def _sources(f: dict) -> list[tuple[str, list[int]]]:
    """Every source file of the page's facts with its lines."""
    found: dict[str, set[int]] = defaultdict(set)
    if f["order"]:
        found[f["order"].source_file].add(f["order"].line)
    for key in ("lines", "refunds", "decisions", "shipment_rows"):
        for r in f[key]:
            if r.source_file is not None and r.line is not None:
                found[r.source_file].add(r.line)
    return sorted((path, sorted(lines)) for path, lines in found.items())


def page(f: dict, lang: str, as_of: datetime, policy: Policy, run_id: str | None, reasons: list[str]) -> str:
    env = environment(lang)
    return env.get_template(TEMPLATE).render(
        f=f, events=timeline(f, as_of), sources=_sources(f), as_of=as_of, policy=policy, run_id=run_id,
        reasons=reasons, rule=policy.rule_for(f["flag"].kind) if f["flag"] else policy.penalty,
        basename=os.path.basename,
    )


def write_pages(con: duckdb.DuckDBPyConnection, order_ids: list[str], folder: Path, lang: str, as_of: datetime,
                policy: Policy, run_id: str | None = None, reasons: dict[str, list[str]] | None = None) -> list[Path]:
    """Write evidence/<order_id>.html for each order into `folder`; returns the paths.

    One process renders them all: sharing the work with forked processes was measured slower
    (each process touching the shared facts copies their memory pages) on the 2-core machine."""
    if not order_ids:
        return []
    names = [page_name(o) for o in order_ids]
    facts = gather(con, order_ids, as_of, policy)
    why = reasons if reasons is not None else _reasons(con, order_ids)
    folder.mkdir(parents=True, exist_ok=True)
    for oid, name in zip(order_ids, names):
        (folder / name).write_bytes(page(facts[oid], lang, as_of, policy, run_id, why.get(oid, [])).encode())
    return [folder / name for name in names]


def _reasons(con, order_ids: list[str]) -> dict[str, list[str]]:
    sql = db.model_sql("outputs/evidence_orders.sql")
    return {r[0]: list(r[1]) for r in con.execute(
        f"select * from ({sql}) where order_id in (select unnest($ids::varchar[]))", {"ids": order_ids}).fetchall()}


def evidence_to(con: duckdb.DuckDBPyConnection, order_ids: list[str], out_dir: str | Path, lang: str = "zh",
                policy: Policy | None = None) -> list[Path]:
    """`shortship evidence ORDER_ID...`: the pages of the orders asked for, written atomically
    into <out>/evidence/ (staged, then each renamed over its old copy). An order the database
    does not hold is an error naming it; nothing is written then."""
    from pipeline import export

    ids = list(dict.fromkeys(o.strip() for o in order_ids if o and o.strip()))
    if not ids:
        raise ShortshipError("no order ids given")
    for o in ids:
        page_name(o)
    known = {r[0] for r in con.execute(
        "select order_id from (select order_id from orders union select order_id from flags) "
        "where order_id in (select unnest($ids::varchar[]))", {"ids": ids}).fetchall()}
    missing = [o for o in ids if o not in known]
    if missing:
        raise ShortshipError(f"order {missing[0]} is not in the database"
                             + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else ""))
    run = con.execute("select run_id, as_of, policy_id from runs order by started_at desc, run_id desc limit 1").fetchone()
    as_of = resolve_as_of(con, run[1] if run else None)
    pol = resolve_policy(policy, run[2] if run else None)
    out_dir = Path(out_dir)
    staging = export.new_staging_dir(out_dir)
    try:
        staged = write_pages(con, ids, staging, lang, as_of, pol, run_id=run[0] if run else None)
        (out_dir / "evidence").mkdir(parents=True, exist_ok=True)
        written = []
        for p in staged:
            target = out_dir / "evidence" / p.name
            try:
                os.replace(p, target)
            except OSError as e:
                raise ShortshipError(f"{target}: cannot write ({e.strerror})") from None
            written.append(target)
        return written
    finally:
        from pipeline.act import drop_temp

        drop_temp(con)
        export.remove_staging(staging)
