"""Detection: flag short, wrong, empty, lost and unshipped orders, with evidence.

`flag_orders` (re)builds the `flags` table (one row per flagged order), `notes` (what every
phrase of the memos, messages and refund descriptions says, and the refunds explained
otherwise) and `buyer_reviews` (buyers who claim short shipment on many orders) from the typed
tables, for one run clock (`as_of`: nothing from after it is read) and one policy. The work is
SQL (sql/flags/text_*.sql read the phrases; sql/signals/*.sql, one model per signal;
sql/flags/*.sql combine them; sql/review/*.sql apply the people's decisions); this module only
orders the steps, hands the policy's word lists to SQL as the temp table
`policy_terms(list, kind, term, norm)` and its numbers as bind parameters, moves decisions for
orders that are not flagged to `rejects` (pipeline.review), and counts the result. Everything
happens in one transaction: a failure leaves the previous flags in place.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import duckdb

from pipeline import db, explain, outcome
from pipeline.clock import china_now
from pipeline.policy import FLAG_KINDS, Policy, normalize_reason

RESPONSIBILITIES = ("merchant", "courier", "buyer", "undetermined")
# a review decision may also say nobody was at fault: the flag stays, its liability is excluded
DECISIONS = ("merchant", "courier", "buyer", "no_fault")

# the rows that load but do not add up (sql/outputs/data_problems.sql `problem`): never evidence
# for money; a refund of these raises no signal, a decision of these is not applied, and the
# order goes to review (rule data_problem)
DATA_PROBLEMS = (
    "refund_exceeds_paid",
    "refunds_exceed_paid",
    "refund_exceeds_line_paid",
    "refund_line_not_on_order",
    "decision_units_exceed_ordered",
)

# the signal models, in the order they are built (sql/signals/<name>.sql -> temp sig_<name>)
SIGNALS = (
    "refund_reason",
    "goods_aftersale",
    "refund_amount",
    "text_words",
    "text_makeup",
    "shipments",
    "parcel_weight",
    "unshipped",
    "data_problem",
)

# rule id -> (signal model, what it means). Responsibility rules come from
# sql/flags/responsibility.sql.
RULES: dict[str, tuple[str, str]] = {
    "refund_reason": ("refund_reason", "买家退款原因 names the fault (policy [reasons])"),
    "aftersale_reship": ("goods_aftersale", "售后类型 补寄: the buyer asks for the missing goods"),
    "aftersale_exchange": ("goods_aftersale", "售后类型 换货 (supports wrong)"),
    "goods_not_received": ("goods_aftersale", "货物状态 not received on a shipped order (supports not_received)"),
    "refund_amount": ("refund_amount", "refund = k x unit price of a line with more than k units, or one whole line"),
    "text_words": ("text_words", "订单备注 / 买家退款说明 say units of this order's goods are missing (少发, 漏发, "
                                 "补发 N 个 X with X on the order), wrong, empty or not received (supporting only)"),
    "text_makeup": ("text_makeup", "a make-up on the buyer's later order (订单备注 补发 of an item not on it, or of any "
                                   "item when the memo says how to pack that parcel or re-ships goods it does not "
                                   "hold; a 买家留言 asking to 补, 上次 ...) traced to this order's line: units missing "
                                   "here, re-shipped with the later order"),
    "ship_shortfall": ("shipments", "shipments file: first parcels hold fewer units than ordered"),
    "ship_reship": ("shipments", "shipments file: a re-shipment (补发) parcel"),
    "ship_wrong_sku": ("shipments", "shipments file: a SKU not ordered shipped while an ordered SKU fell short"),
    "parcel_weight": ("parcel_weight", "parcel weighs clearly less than its SKUs' expected weight"),
    "unshipped_deadline": ("unshipped", "paid, not shipped, ship-by passed at as-of"),
    "closed_out_of_stock": ("unshipped", "closed after payment as 缺货 / 卖家缺货"),
    "data_problem": ("data_problem", "a refund (or a review decision) that does not add up: never evidence for money; "
                                     "the order goes to review (sql/outputs/data_problems.sql)"),
    # what a phrase or a refund says that raises no flag (the notes table; in a flag's rules when
    # the order is flagged for another reason they do not appear)
    "text_gift": ("notes", "a missing free gift (补发赠品): a packing error to count, nothing owed"),
    "text_damage": ("notes", "damage or quality (坏, 破, 不亮 ...): goods replaced, not a shortage"),
    "text_checkout": ("notes", "a 买家留言 written at checkout: a warning or a wish, never a report about the parcel"),
    "text_other_order": ("notes", "a make-up for another order (补发 X with X not on the order, 上次 ...) that no "
                                  "earlier order of the buyer matches, or the units of a make-up more than every "
                                  "earlier line holding its item: context"),
    "text_substitution": ("notes", "an agreed swap said with a shortage (少发一个X换成2个Y, [phrases] substitution): "
                                   "the buyer took other goods instead, nothing is missing"),
    "refund_explained": ("notes", "a refund explained otherwise: the whole of a line closed inside the order "
                                  "(交易关闭), or damage said on the order"),
    # responsibility
    "ruling_party": ("responsibility", "责任方 on the refund"),
    "cs_ruling": ("responsibility", "客服介入状态 支持买家 / 支持卖家"),
    "shop_refunded": ("responsibility", "退款成功 for a short / wrong / empty / 缺货 reason"),
    "shipments_record": ("responsibility", "the shop's own shipping record"),
    "order_status": ("responsibility", "the order's own status (paid not shipped, closed 缺货)"),
    "courier_not_received": ("responsibility", "shipped, not received"),
    "review_decision": ("review", "a person's decision in a filled review.csv (判定): responsibility and units"),
}

# the rows that do not add up, built before the clock's macros (fl_refunds_at leaves the refunds
# of fl_untrusted out): (model, temp table)
_PROBLEMS = (
    ("outputs/data_problems.sql", "fl_problems"),
    ("flags/untrusted.sql", "fl_untrusted"),
)

# the steps before the signals: (model, temp table)
_BEFORE_SIGNALS = (
    # the whole-table work first (shipments against order lines, parcel weights)
    ("flags/ship_orders.sql", "fl_ship_orders"),
    ("signals/parcel_light.sql", "fl_light_parcels"),
    # the phrases: read, sorted, traced to the order they are about
    ("flags/phrase_patterns.sql", "fl_patterns"),
    ("flags/texts.sql", "fl_texts"),
    ("flags/text_parts.sql", "fl_text_parts"),
    ("flags/text_spans.sql", "fl_text_spans"),
    ("flags/text_match.sql", "fl_text_match"),
    # the orders some signal can fire on, and everything else on those only
    ("flags/scope.sql", "fl_scope"),
    ("flags/lines.sql", "fl_lines"),
    ("flags/order_base.sql", "fl_orders"),
    ("flags/refund_fit.sql", "fl_refund_fit"),
    ("flags/refund_line.sql", "fl_refund_line"),
)
_AFTER_SIGNALS = (
    ("flags/evidence.sql", "fl_evidence"),
    ("flags/kinds.sql", "fl_kinds"),
    ("flags/responsibility.sql", "fl_responsibility"),
    ("review/decided.sql", "fl_decided"),
    # the claims of short shipment (buyer_reviews counts them per buyer)
    ("flags/claims.sql", "fl_claims"),
)

_TEMP_TABLES = (
    ["policy_terms"]
    + [t for _, t in _PROBLEMS]
    + [t for _, t in _BEFORE_SIGNALS]
    + [f"sig_{s}" for s in SIGNALS]
    + [t for _, t in _AFTER_SIGNALS]
)


@dataclass
class FlagSummary:
    run_id: str
    as_of: datetime
    policy_id: str
    flagged: int
    by_kind: dict[str, int] = field(default_factory=dict)
    by_responsibility: dict[str, int] = field(default_factory=dict)
    by_kind_responsibility: dict[tuple[str, str], int] = field(default_factory=dict)
    by_basis: dict[str, int] = field(default_factory=dict)
    buyers_for_review: int = 0
    awaiting_review: int = 0          # responsibility undetermined, no decision yet (review.csv)
    decided: int = 0                  # settled by a person's decision (review_decision)
    decisions_rejected: int = 0       # decisions for orders this run does not flag (to rejects)
    notes_by_rule: dict[str, int] = field(default_factory=dict)  # phrases and refunds by what they say
    held: dict[str, int] = field(default_factory=dict)  # flags by hold: awaiting data or a data problem
    recomputed: int | None = None     # orders whose detection was recomputed (None: all of them)

    def table(self) -> list[str]:
        """Counts by kind (rows) and responsibility (columns), as printable lines."""
        kinds = [k for k in FLAG_KINDS]
        resps = RESPONSIBILITIES + (("no_fault",) if self.by_responsibility.get("no_fault") else ())
        w = max(len(k) for k in kinds + ["total"]) + 2
        head = "kind".ljust(w) + "".join(r.rjust(14) for r in resps) + "total".rjust(9)
        out = [head]
        for k in kinds:
            cells = [self.by_kind_responsibility.get((k, r), 0) for r in resps]
            out.append(k.ljust(w) + "".join(str(c).rjust(14) for c in cells) + str(self.by_kind.get(k, 0)).rjust(9))
        out.append(
            "total".ljust(w)
            + "".join(str(self.by_responsibility.get(r, 0)).rjust(14) for r in resps)
            + str(self.flagged).rjust(9)
        )
        return out

    def lines(self) -> list[str]:
        basis = ", ".join(f"{b} {n}" for b, n in sorted(self.by_basis.items()))
        return (
            [f"run {self.run_id}: as of {self.as_of:%Y-%m-%d %H:%M:%S}, policy {self.policy_id}: "
             f"{self.flagged} orders flagged" + (f" ({basis})" if basis else "")]
            + self.table()
            + [f"awaiting review (review.csv): {self.awaiting_review}; decided by review: {self.decided}"
               + (f"; decisions rejected (order not flagged): {self.decisions_rejected}"
                  if self.decisions_rejected else ""),
               *([f"held, no money moves yet: " + ", ".join(f"{h} {n}" for h, n in sorted(self.held.items()))]
                 if self.held else []),
               "what the words and refunds say (notes): "
               + (", ".join(f"{r} {n}" for r, n in sorted(self.notes_by_rule.items())) or "nothing"),
               f"buyers for review (many short-shipment claims): {self.buyers_for_review}"]
        )


def new_run_id(as_of: datetime, prefix: str = "flag") -> str:
    return f"{prefix}-{as_of:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"


def policy_terms(policy: Policy) -> list[tuple[str, str, str, str]]:
    """The policy's word lists as rows (list, kind, term, normalised term)."""
    rows: list[tuple[str, str, str, str]] = []
    for list_name, table in (
        ("reasons", policy.reasons),
        ("goods_status", policy.goods_status),
        ("words", policy.words),
        ("rulings", policy.rulings),
        ("phrases", policy.phrases),
        ("detection", policy.detection_terms),
    ):
        for kind, terms in table.items():
            for term in terms:
                if term is None or str(term).strip() == "":
                    continue
                row = (list_name, kind, str(term), normalize_reason(term))
                if row not in rows:
                    rows.append(row)
    return rows


def load_policy_terms(con: duckdb.DuckDBPyConnection, policy: Policy) -> int:
    con.execute(
        "create or replace temp table policy_terms "
        "(list varchar not null, kind varchar not null, term varchar not null, norm varchar not null)"
    )
    rows = policy_terms(policy)
    if rows:  # one statement (executemany runs one INSERT per row)
        cols = list(zip(*rows))
        con.execute("insert into policy_terms select unnest($l), unnest($k), unnest($t), unnest($n)",
                    {"l": list(cols[0]), "k": list(cols[1]), "t": list(cols[2]), "n": list(cols[3])})
    return len(rows)


def _params(as_of: datetime, policy: Policy, run_id: str) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "run_id": run_id,
        "window_hours": int(policy.window_hours),
        "tolerance": policy.amount_tolerance,
        "light_ratio": policy.light_parcel_ratio,
        "empty_ratio": policy.empty_parcel_ratio,
        "min_samples": int(policy.weight_min_samples),
        "negation_window": int(policy.negation_window),
        "makeup_lookback": int(policy.makeup_lookback_orders),
        "weight_noise": policy.weight_noise,
        "min_claims": int(policy.min_short_claims),
        # the evidence said in English in the tables (the outputs say it in the reader's language)
        **explain.render_params("en"),
    }


def build_signals(con: duckdb.DuckDBPyConnection, as_of: datetime, policy: Policy,
                  run_id: str = "", progress: Callable[[str], None] | None = None,
                  skip: tuple[tuple[str, str], ...] = (),
                  on_built: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None) -> dict[str, int]:
    """Build the temp tables up to fl_claims (no result table is touched).

    Returns row counts per temp table. Useful on its own to inspect one signal in tests.
    `skip`: (model, temp table) steps the caller has built already (the macros too, then:
    pipeline/incremental.py builds the shop-wide steps first). `on_built(con, table)` is called
    after each temp table is built (pipeline/incremental.py narrows the scope there).
    """
    params = _params(as_of, policy, run_id)
    if not skip:
        explain.prepare(con)  # sql/flags/macros.sql, once per connection
    counts = {}
    for model, table in _PROBLEMS:
        if progress:
            progress(f"flag: {model}")
        counts[table] = db.materialize(con, model, table, params, temp=True)
    db.run_script(con, db.read_sql("flags/clock.sql"))
    counts["policy_terms"] = load_policy_terms(con, policy)
    steps = list(_BEFORE_SIGNALS) + [(f"signals/{s}.sql", f"sig_{s}") for s in SIGNALS] + list(_AFTER_SIGNALS)
    for model, table in steps:
        if (model, table) in skip:
            counts[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
            if table == "fl_patterns":
                params.update(pattern_params(con))
            continue
        if progress:
            progress(f"flag: {model}")
        counts[table] = db.materialize(con, model, table, params, temp=True)
        if table == "fl_patterns":
            params.update(pattern_params(con))
        if on_built is not None:
            on_built(con, table)
    return counts


def pattern_params(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The phrase patterns (temp table fl_patterns, one row) as bind parameters $re_<column>:
    a pattern that reaches a regular expression as a constant is compiled once, not per row."""
    cur = con.execute("select * from fl_patterns")
    row = cur.fetchone()
    return {f"re_{d[0]}": v for d, v in zip(cur.description, row)}


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for t in _TEMP_TABLES:
        con.execute(f"drop table if exists {t}")


def flag_orders(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    policy: Policy,
    run_id: str,
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
    incremental: bool = False,
) -> FlagSummary:
    """(Re)build `flags`, `notes` and `buyer_reviews` for the run clock `as_of` under `policy`.

    With `command` (the standalone `shortship flag`), the run is also recorded in `runs`
    (skipped when the run id is there already); `shortship run` records its own run.
    With `incremental` (`shortship run`), only the orders that new rows or the moving clock can
    change are recomputed when the tables hold an earlier detection of this database
    (pipeline/incremental.py); the result is the same.
    """
    from pipeline.incremental import detect

    params = _params(as_of, policy, run_id)
    flagged = [0]
    with db.transaction(con, on_commit=lambda: outcome.committed(
            "the flags", plural=True, detail=f"{flagged[0]:,} flagged order(s)")):
        done = detect(con, as_of, policy, run_id, params, progress, incremental)
        rejected = done.decisions_rejected
        flagged[0] = con.execute("select count(*) from flags").fetchone()[0]
        if command:
            con.execute(
                """insert into runs (run_id, started_at, as_of, policy_id, command)
                   select $run_id, $started_at, $as_of, $policy_id, $command
                   where not exists (select 1 from runs where run_id = $run_id)""",
                {"run_id": run_id, "started_at": china_now(), "as_of": as_of,
                 "policy_id": policy.id, "command": command},
            )
        drop_temp(con)
    summary = summarize(con, run_id, as_of, policy.id)
    summary.decisions_rejected = rejected
    summary.recomputed = done.orders
    return summary


def summarize(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime, policy_id: str) -> FlagSummary:
    rows = con.execute("select kind, responsibility, basis, count(*) from flags group by all").fetchall()
    by_kr: Counter = Counter()
    by_k: Counter = Counter()
    by_r: Counter = Counter()
    by_b: Counter = Counter()
    for k, r, b, n in rows:
        by_kr[(k, r)] += n
        by_k[k] += n
        by_r[r] += n
        by_b[b or "?"] += n
    review = con.execute("select count(*) from buyer_reviews where review").fetchone()[0]
    awaiting, decided = con.execute(
        "select count(*) filter (where responsibility = 'undetermined' and decision is null "
        "and (hold is null or hold = 'data_problem')), "
        "count(*) filter (where decision is not null) from flags").fetchone()
    notes = dict(con.execute("select rule, count(*) from notes group by rule").fetchall())
    held = dict(con.execute("select hold, count(*) from flags where hold is not null group by hold").fetchall())
    return FlagSummary(
        run_id=run_id, as_of=as_of, policy_id=policy_id, flagged=sum(by_k.values()),
        by_kind=dict(by_k), by_responsibility=dict(by_r), by_kind_responsibility=dict(by_kr),
        by_basis=dict(by_b), buyers_for_review=review, awaiting_review=awaiting, decided=decided,
        notes_by_rule=notes, held=held,
    )
