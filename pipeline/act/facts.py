"""The page model of an evidence page: the facts gathered for one order (`PageFacts`).

Each kind of fact is one query over the orders of the pages (`KINDS`): the order row, its flag
and liability, its lines (with what was paid for each), refunds, review decisions, parcels (with
their weight against the expected weight) and the rows of the shipments file; and, when the
buyer's later order makes up goods of this one (a 补发 traced by detection: the notes), that
order's row, lines, parcels and shipments rows (its payment, the text, its parcel), or, on the
later order's page, the earlier orders it makes up. A change to the later order's facts is a
change of the earlier order's page (its hash). A kind selects the
columns the page shows, never the run's id or clock: a page shows its order's facts, so that it
changes only when they do. To show a new fact on the pages, add a column to a kind's query or a
new FactKind here, then show it in pipeline/act/page.py; the facts hash follows by itself.

`Gathering` works in three steps, each over all the pages at once (one query per kind, never
one per order):

1. `prepare`: each kind's rows of every page's order into a temp table (`_ev_<kind>`);
2. `hashes`: per order, the hash of every fact a page shows (each kind's rows: their number
   and the sum of DuckDB's hash of each row; the reasons for the page and the policy's
   settings the page quotes; not the shop-wide statistics a kind marks `quoted`), computed by
   DuckDB: a page whose hash equals the one its published copy was rendered from need not be
   rendered at all;
3. `chunks` / `pages`: the facts of the orders still to render, a chunk of orders at a time
   (plain rows), as PageFacts; `write_share` writes the facts of some of them into Parquet
   files once, which a worker process reads back (`read_share`) as the same chunks.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
from collections import defaultdict, namedtuple
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import Any, Callable, Iterator, NamedTuple

import duckdb

from pipeline.policy import Policy
from pipeline.setdata import SAID, evidence_said, weigh_parcels

CHUNK = 5_000  # orders whose facts are held in memory at once


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector paused for the block, which makes many objects and no cycles
    (rows fetched: tuples of plain values; the page model built of them), freed by their
    reference counts as ever. With it running, the collections that every 700 new objects
    set off, each going through the objects that lived on, cost a third of reading the facts
    of the pages and half of building their model (measured on the 31,000 pages of a 1M run)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class FactKind(NamedTuple):
    name: str   # the PageFacts field
    sql: str    # rows of the orders in _ev_ids (temp), with an order_id column
    order: str  # the order of the rows on the page (a total order: no two rows of an order tie)
    one: bool   # at most one row per order
    # columns quoted on the page that are not facts of the order but statistics of the whole
    # shop at the page's clock (a parcel's expected weight, learnt from every parcel of its
    # SKUs: it moves a little with each day's parcels). They are left out of the facts hash:
    # the page quotes them as of the clock of its facts, and what they decide (light, as
    # expected) is in the hash.
    quoted: tuple[str, ...] = ()
    # columns of facts (lists of {sep, code, args}, pipeline/explain.py) the page shows as text:
    # (column, name) fetched as the text in the page's language (DuckDB's fl_render, the same
    # text as explain.render), not as the nested values (slow to turn into Python objects);
    # the hash is of the facts themselves
    said: tuple[tuple[str, str], ...] = ()


# The facts of a page. Free text people wrote is masked by detection's rule (fl_mask_text).
KINDS: tuple[FactKind, ...] = (
    FactKind("order", """
        select order_id, shop, buyer, status, status_raw, goods_amount, postage, total_amount, paid_amount,
               refund_amount, paid_gross, created_at, paid_at, shipped_at, confirmed_at, tracking_no, carrier,
               fl_mask_text(buyer_message) as buyer_message, fl_mask_text(seller_memo) as seller_memo,
               item_count, close_reason, source_file, line
        from _ev_orders semi join _ev_ids using (order_id)""", "order_id", True),
    FactKind("flag", """
        select order_id, kind, responsibility, confidence, missing_qty, affected_amount, rules, evidence_facts, ship_by
        from flags semi join _ev_ids using (order_id)""", "order_id", True, said=(("evidence_facts", "evidence"),)),
    FactKind("liability", """
        select order_id, status, hold, base_amount, compensation_yuan, points, floor_applied, cap_applied,
               goods_refund_yuan, freight_yuan, total_yuan, at_risk_yuan, recoverable_yuan, deadline
        from liabilities semi join _ev_ids using (order_id)""", "order_id", True),
    FactKind("lines", """
        select l.order_id, l.line_no, l.line_id, l.sku, l.title, l.attributes, l.price, l.quantity, l.status,
               l.status_raw, l.refund_status, l.refund_amount, a.line_paid, a.paid_source, l.shipped_at,
               l.tracking_no, l.source_file, l.line
        from _ev_order_lines l
        left join line_amounts_of('_ev_order_lines', '_ev_orders') a using (order_id, line_no)
        where l.order_id in (select order_id from _ev_ids)""",
             "order_id, line_no", False),
    FactKind("refunds", """
        select order_id, refund_id, sku, title, refund_amount, order_paid_amount, status, status_raw,
               goods_status, reason, fl_mask_text(description) as description, return_required, aftersale_type,
               cs_status, responsible_party, phase, refund_scope, fl_mask_text(seller_memo) as seller_memo,
               applied_at, finished_at, timeout_at, returned_at, source_file, line
        from refunds semi join _ev_ids using (order_id)""", "order_id, applied_at nulls last, refund_id", False),
    FactKind("decisions", """
        select order_id, decision, decision_raw, missing_qty, fl_mask_text(note) as note, decided_by, decided_at,
               source_file, line
        from decisions semi join _ev_ids using (order_id)""", "order_id, decided_at nulls last, line, source_file",
             False),
    FactKind("parcels", """
        select order_id, tracking_no, shipped_at, reship, units, contents, weight_kg, expected_kg, sigma_kg,
               weight_ok, light, source_files, lines
        from _act_parcels semi join _ev_ids using (order_id)""", "order_id, shipped_at, tracking_no", False,
             ("expected_kg", "sigma_kg")),
    FactKind("shipment_rows", """
        select order_id, sku, quantity, shipped_at, tracking_no, weight_kg, reship, source_file, line
        from _ev_shipments semi join _ev_ids using (order_id)""", "order_id, shipped_at, line, source_file, sku, tracking_no",
             False),
    # A make-up (补发) traced to the page's order from the buyer's later order (the notes of
    # detection, rule text_makeup; sql/flags/notes.sql): the later order's payment, the text that
    # makes up (its 买家留言 or 订单备注, whichever detection read as the make-up), its parcel, and
    # the rows they were read from; `has_page`: the later order has a page of its own beside this
    # one (a page of the same set, or of the same request): the page links to it.
    FactKind("makeups", """
        select p.order_id, o.order_id as later_id, o.status_raw, o.created_at, o.paid_at, o.paid_amount,
               o.paid_gross, o.postage, o.shipped_at, o.carrier, o.tracking_no,
               case when list_contains(p.sources, '买家留言') then fl_mask_text(o.buyer_message) end as buyer_message,
               case when list_contains(p.sources, '订单备注') then fl_mask_text(o.seller_memo) end as seller_memo,
               p.later_id in (select order_id from _ev_ids) as has_page, o.source_file, o.line
        from _ev_makeup_pairs p
        join _ev_orders o on o.order_id = p.later_id""",
             "order_id, paid_at nulls last, later_id", False),
    FactKind("makeup_lines", """
        select p.order_id, l.order_id as later_id, l.line_no, l.sku, l.title, l.attributes, l.price, l.quantity,
               l.status_raw, l.source_file, l.line
        from _ev_makeup_pairs p
        join _ev_order_lines l on l.order_id = p.later_id""", "order_id, later_id, line_no, line, source_file", False),
    FactKind("makeup_parcels", """
        select p.order_id, a.order_id as later_id, a.tracking_no, a.shipped_at, a.reship, a.units, a.contents,
               a.weight_kg, a.expected_kg, a.sigma_kg, a.weight_ok, a.light, a.source_files, a.lines
        from _ev_makeup_pairs p
        join _act_parcels a on a.order_id = p.later_id""", "order_id, shipped_at, later_id, tracking_no", False,
             ("expected_kg", "sigma_kg")),
    FactKind("makeup_shipment_rows", """
        select p.order_id, s.order_id as later_id, s.sku, s.quantity, s.shipped_at, s.tracking_no, s.weight_kg,
               s.reship, s.source_file, s.line
        from _ev_makeup_pairs p
        join _ev_shipments s on s.order_id = p.later_id""",
             "order_id, later_id, shipped_at, line, source_file, sku, tracking_no", False),
    # the other way: the page's order is the later one, its text makes up goods of the buyer's
    # earlier order(s) (each with its own page or not)
    FactKind("made_up", """
        select p.later_id as order_id, p.order_id as earlier_id, o.paid_at as earlier_paid_at, p.sources,
               p.order_id in (select order_id from _ev_ids) as has_page
        from _ev_made_up_pairs p
        left join orders o on o.order_id = p.order_id""", "order_id, earlier_paid_at nulls last, earlier_id", False),
)


@dataclass
class PageFacts:
    """Everything one evidence page shows (besides the policy and the clock of its facts). Rows
    are named tuples with the columns of their kind's query (`KINDS`)."""
    order_id: str
    reasons: list[str] = field(default_factory=list)  # why the page (disputed, courier, decided); [] on request
    order: Any = None
    flag: Any = None
    liability: Any = None
    lines: list = field(default_factory=list)
    refunds: list = field(default_factory=list)
    decisions: list = field(default_factory=list)
    parcels: list = field(default_factory=list)
    shipment_rows: list = field(default_factory=list)
    makeups: list = field(default_factory=list)               # the buyer's later orders making up this one's goods
    makeup_lines: list = field(default_factory=list)          # their lines (later_id names the order)
    makeup_parcels: list = field(default_factory=list)        # their parcels (shipments file)
    makeup_shipment_rows: list = field(default_factory=list)  # their shipments file rows
    made_up: list = field(default_factory=list)               # the buyer's earlier orders this one makes up


@dataclass
class Chunk:
    """The facts of some pages as plain rows (picklable: a worker process renders them)."""
    order_ids: list[str]
    reasons: dict[str, list[str]]
    fields: dict[str, tuple[str, ...]]          # kind -> its columns
    rows: dict[str, dict[str, list[tuple]]]     # kind -> order_id -> rows, in page order

    def pages(self) -> Iterator[PageFacts]:
        # each kind: (field, one row at most, its row type, its rows by order)
        kinds = [(k.name, k.one, namedtuple(f"{k.name.title()}Fact", self.fields[k.name], rename=True)._make,
                  self.rows[k.name]) for k in KINDS]
        reasons = self.reasons
        pages = []
        with gc_paused():
            for oid in self.order_ids:
                got: dict[str, Any] = {"order_id": oid, "reasons": reasons.get(oid, [])}
                for name, one, make, by in kinds:
                    found = by.get(oid)
                    if found is None:
                        got[name] = None if one else []
                    else:
                        got[name] = make(found[0]) if one else list(map(make, found))
                pages.append(PageFacts(**got))
        return iter(pages)


def policy_key(policy: Policy) -> str:
    """The policy's settings a page quotes, hashed: a new policy is new facts on every page."""
    def rule(r) -> dict:
        return {"rate": str(r.rate), "floor": str(r.floor_yuan), "cap": str(r.cap_yuan), "scope": r.cap_scope,
                "form": r.payout_form, "ppy": r.points_per_yuan}

    shown = {
        "id": policy.id, "platform": policy.platform, "date": str(policy.effective_date),
        "window": policy.window_hours, "cures": policy.reship_cures, "freight": str(policy.freight_per_parcel),
        "claim": policy.courier_claim, "multiple": str(policy.courier_postage_multiple),
        "noise": str(policy.weight_noise), "penalty": rule(policy.penalty),
        "by_kind": {k: rule(v) for k, v in sorted(policy.penalty_by_kind.items())},
    }
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:32]


def _has_table(con, name: str) -> bool:
    return con.execute(
        "select count(*) from information_schema.tables where table_name = ? and table_schema = 'main'", [name]
    ).fetchone()[0] > 0


def _tables() -> list[str]:
    return ["_ev_ids", "_ev_all", "_ev_shipments", "_ev_order_lines", "_ev_orders", "_ev_todo", "_ev_hash", "_ev_makeup_links", "_ev_makeup_pairs",
            "_ev_made_up_pairs", *(f"_ev_{k.name}" for k in KINDS)]


class Gathering:
    """The facts of the evidence pages of some orders, in temp tables of `con` (see the module
    doc). Use as a context manager: the temp tables are dropped on exit."""

    def __init__(self, con: duckdb.DuckDBPyConnection, reasons: dict[str, list[str]], as_of: datetime,
                 policy: Policy, lang: str = "zh"):
        self.con = con
        self.reasons = reasons
        self.as_of = as_of
        self.policy = policy
        self.lang = lang  # the language of the facts fetched as text (FactKind.said)
        self._said = False  # the set said the flags' evidence in `lang` already (setdata.say_evidence)

    def _fetch(self, k: FactKind) -> tuple[str, dict]:
        """The SELECT of kind `k`'s rows of the orders in _ev_todo (its facts said as text), in
        page order, and its parameters."""
        if not k.said:
            return (f"select t.* from _ev_{k.name} t semi join _ev_todo using (order_id) order by {k.order}", {})
        from pipeline import explain

        if self._said and k.name == "flag" and k.said == (("evidence_facts", "evidence"),):
            # the flag's evidence as the set said it once (setdata.say_evidence)
            return (f"select t.* exclude (evidence_facts), s.said as evidence from _ev_{k.name} t "
                    f"semi join _ev_todo using (order_id) left join {SAID} s using (order_id) order by {k.order}", {})
        cols = ", ".join(f"{explain.said('t.' + c)} as {name}" for c, name in k.said)
        return (f"select t.* exclude ({', '.join(c for c, _ in k.said)}), {cols} from _ev_{k.name} t "
                f"semi join _ev_todo using (order_id) order by {k.order}", explain.render_params(self.lang))

    def __enter__(self) -> "Gathering":
        self.prepare()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def prepare(self) -> None:
        con = self.con
        ids = list(self.reasons)
        con.execute("create or replace temp table _ev_ids as "
                    "select unnest($ids::varchar[]) as order_id, unnest($why::varchar[][]) as reasons",
                    {"ids": ids, "why": [self.reasons[o] for o in ids]})
        # what people wrote is quoted with personal data masked by detection's own rule
        from pipeline import explain

        explain.prepare(con)  # once per connection: the run made them already
        self._said = evidence_said(con, self.lang)
        self._makeup_pairs()
        # the rows of the pages' orders and of the later orders making up their goods, each
        # big table read once (the kinds select from these)
        con.execute("create or replace temp table _ev_all as "
                    "select order_id from _ev_ids union select later_id from _ev_makeup_pairs")
        con.execute("create or replace temp table _ev_order_lines as "
                    "select * from order_lines semi join _ev_all using (order_id)")
        con.execute("create or replace temp table _ev_orders as select * from orders semi join _ev_all using (order_id)")
        con.execute("create or replace temp table _ev_shipments as "
                    "select * from shipments semi join _ev_all using (order_id)")
        weigh_parcels(con, "select order_id from _ev_all", self.as_of, self.policy)
        has_decisions = _has_table(con, "decisions")
        for k in KINDS:
            sql = k.sql if (k.name != "decisions" or has_decisions) else \
                "select null::varchar as order_id where false"
            con.execute(f"create or replace temp table _ev_{k.name} as {sql}")

    def _makeup_pairs(self) -> None:
        """The make-ups between the pages' orders and the buyers' other orders, from detection's
        notes (a later order's text read as a make-up for the earlier order(s) it was traced to):
        _ev_makeup_pairs (order_id: a page's order, later_id: the order whose text makes up its
        goods, sources: which texts) and _ev_made_up_pairs (later_id: a page's order, order_id:
        an earlier order it makes up)."""
        con = self.con
        if _has_table(con, "notes"):
            con.execute("""
                create or replace temp table _ev_makeup_links as
                select earlier_id as order_id, later_id, list_sort(list_distinct(list(source))) as sources
                from (select unnest(related_order_ids) as earlier_id, order_id as later_id, source
                      from notes where rule = 'text_makeup')
                where earlier_id is not null and earlier_id <> later_id
                  and (earlier_id in (select order_id from _ev_ids) or later_id in (select order_id from _ev_ids))
                group by earlier_id, later_id""")
        else:
            con.execute("create or replace temp table _ev_makeup_links as select null::varchar as order_id, "
                        "null::varchar as later_id, null::varchar[] as sources where false")
        con.execute("create or replace temp table _ev_makeup_pairs as "
                    "select * from _ev_makeup_links semi join _ev_ids using (order_id)")
        con.execute("create or replace temp table _ev_made_up_pairs as "
                    "select * from _ev_makeup_links where later_id in (select order_id from _ev_ids)")

    def hashes(self) -> dict[str, str]:
        """order_id -> the hash of the facts its page shows (see the module doc)."""
        parts, joins = [], []
        for i, k in enumerate(KINDS):
            rows = f"(select * exclude ({', '.join(k.quoted)}) from _ev_{k.name})" if k.quoted else f"_ev_{k.name}"
            parts.append(f"coalesce(h{i}.h, '')")
            # the rows of a kind, in any order (their order on the page follows from their
            # values): their number and the sum of their hashes (DuckDB's 64-bit hash of the
            # whole row), four times cheaper than an md5 of their JSON sorted
            joins.append(f"left join (select order_id, count(*) || ':' || sum(hash(t)) as h from {rows} t "
                         f"group by order_id) h{i} using (order_id)")
        sql = (f"select i.order_id, md5(concat_ws('|', $key, i.reasons::varchar, {', '.join(parts)})) "
               f"from _ev_ids i {' '.join(joins)}")
        return dict(self.con.execute(sql, {"key": policy_key(self.policy)}).fetchall())

    def chunks(self, order_ids: list[str], size: int = CHUNK) -> Iterator["Chunk"]:
        """The facts of `order_ids`, `size` orders at a time (one query per kind and chunk)."""
        con = self.con
        for start in range(0, len(order_ids), size):
            part = order_ids[start:start + size]
            con.execute("create or replace temp table _ev_todo as select unnest($ids::varchar[]) as order_id",
                        {"ids": part})
            fields: dict[str, tuple[str, ...]] = {}
            rows: dict[str, dict[str, list[tuple]]] = {}
            with gc_paused():
                for k in KINDS:
                    cur = con.execute(*self._fetch(k))
                    fields[k.name] = tuple(d[0] for d in cur.description)
                    by: dict[str, list[tuple]] = defaultdict(list)
                    for r in cur.fetchall():
                        by[r[0]].append(r)
                    rows[k.name] = dict(by)
            yield Chunk(order_ids=part, reasons={o: self.reasons.get(o, []) for o in part}, fields=fields,
                        rows=rows)

    def pages(self, order_ids: list[str], size: int = CHUNK) -> Iterator[PageFacts]:
        """The PageFacts of `order_ids`, in that order, `size` orders at a time."""
        for chunk in self.chunks(order_ids, size):
            yield from chunk.pages()

    def write_share(self, order_ids: list[str], folder: str, row_group: int = 20_000) -> dict[str, list[tuple[str, str]]]:
        """The facts of `order_ids` as one Parquet file per kind in `folder` (`<kind>.parquet`,
        each row with `_seq`, its order's place in `order_ids`), for a worker process to read
        (`read_share`) while this connection's transaction stays open. Returns each kind's
        columns and their types (Parquet has no HUGEINT: the reader casts them back)."""
        con = self.con
        con.execute("create or replace temp table _ev_todo as "
                    "select unnest($ids::varchar[]) as order_id, unnest(range(len($ids::varchar[]))) as _seq",
                    {"ids": order_ids})
        columns: dict[str, list[tuple[str, str]]] = {}
        for k in KINDS:
            sql, params = self._fetch(k)
            columns[k.name] = [(r[0], r[1]) for r in con.execute(f"describe {sql}", params).fetchall()]
            target = os.path.join(folder, f"{k.name}.parquet").replace("'", "''")
            con.execute(f"COPY (select f.*, s._seq from ({sql}) f join _ev_todo s using (order_id) order by s._seq) "
                        f"TO '{target}' (FORMAT parquet, COMPRESSION uncompressed, ROW_GROUP_SIZE {int(row_group)})", params)
        return columns

    def close(self) -> None:
        # the parcel weights are the set's, shared with the courier claims (setdata.drop_temp)
        for t in _tables():
            self.con.execute(f"drop table if exists {t}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _with_decimals(rows: list[tuple], columns: list[int]) -> list[tuple]:
    """`rows` with the text in `columns` made Decimal (None stays None), column by column."""
    values = list(zip(*rows))
    for i in columns:
        values[i] = [None if v is None else Decimal(v) for v in values[i]]
    return list(zip(*values))


def read_share(folder: str, columns: dict[str, list[tuple[str, str]]], order_ids: list[str],
               reasons: dict[str, list[str]], size: int = CHUNK,
               claim: Callable[[int], bool] | None = None) -> Iterator[Chunk]:
    """The facts `Gathering.write_share` wrote into `folder` for `order_ids`, `size` orders at a
    time, as the Chunks `Gathering.chunks` would give (the same rows, values and order); only
    the chunks i (orders i * size onwards) for which `claim(i)` is true, when given."""
    con = duckdb.connect()
    try:
        con.execute("set threads = 1")
        # no progress bar: in a worker process stdout is the pipe its answers go through
        # (pipeline/act/workers.py), and a slow query on a loaded machine would print one there
        con.execute("set enable_progress_bar = false")
        fields = {k.name: tuple(c for c, _ in columns[k.name]) for k in KINDS}
        selects, decimals = {}, {}
        for k in KINDS:
            # DECIMAL columns are fetched as their text and made Decimal here: the same values
            # (the text of a DECIMAL(p,s) has its s places, as DuckDB's own Decimal has), at
            # half the cost of DuckDB's conversion, most of what reading the facts costs
            decimals[k.name] = [i for i, (_, t) in enumerate(columns[k.name]) if t.upper().startswith("DECIMAL")]
            cols = ", ".join((f"cast(cast({_ident(c)} as {t}) as varchar)" if t.upper().startswith("DECIMAL")
                              else f"cast({_ident(c)} as {t})") + f" as {_ident(c)}" for c, t in columns[k.name])
            path = os.path.join(folder, f"{k.name}.parquet").replace("'", "''")
            selects[k.name] = (f"select {cols} from read_parquet('{path}') where _seq >= $lo and _seq < $hi "
                               f"order by {k.order}")
        for start in range(0, len(order_ids), size):
            if claim is not None and not claim(start // size):
                continue
            part = order_ids[start:start + size]
            rows: dict[str, dict[str, list[tuple]]] = {}
            with gc_paused():
                for k in KINDS:
                    got = con.execute(selects[k.name], {"lo": start, "hi": start + size}).fetchall()
                    if got and decimals[k.name]:
                        got = _with_decimals(got, decimals[k.name])
                    # the rows come in order_id order (each kind's order starts with it)
                    rows[k.name] = {oid: list(group) for oid, group in groupby(got, key=itemgetter(0))}
            yield Chunk(order_ids=part, reasons={o: reasons.get(o, []) for o in part}, fields=fields, rows=rows)
    finally:
        con.close()
