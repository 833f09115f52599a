"""Precision and recall of the flags against the generator's ground truth.

The truth file (`truth.parquet`, written by `shortship generate`) holds one row per order the
generator made faulty (rows with an empty kind, or `none`, count as clean orders) with at least
`order_id`, `kind`, `responsibility` and `evidence` (explicit, text_only, amount_only);
`missing_qty` and `affected_amount` are compared when present.

Counted per kind and per responsibility, overall and separately for each evidence class:
a flag belongs to the evidence class of its order in the truth, or, when the order is clean
in the truth (a false alarm), to the class its own basis names (explicit and weight →
explicit, amount → amount_only, text → text_only).

When the truth has a `case` column, every case is also counted: its orders, how many are
flagged, and how many with the kind the truth expects (for a case whose kind is `none`, a
phrase that is no shortage, every flag is a false alarm).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.errors import ShortshipError
from pipeline.flag import RESPONSIBILITIES
from pipeline.policy import FLAG_KINDS

CLASSES = ("explicit", "amount_only", "text_only")
CLEAN = ("", "none", "ok", "clean", "no_fault")


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def cells(self) -> str:
        def f(x):
            return "     -" if x is None else f"{x:6.3f}"

        return f"{self.tp + self.fn:>8} {self.tp + self.fp:>8} {self.tp:>8} {f(self.precision)} {f(self.recall)}"


@dataclass
class EvalReport:
    truth_rows: int
    faulty: int
    flagged: int
    by_kind: dict[str, dict[str, Score]] = field(default_factory=dict)  # class ('all', ...) -> kind -> Score
    by_resp: dict[str, dict[str, Score]] = field(default_factory=dict)  # class -> responsibility -> Score
    amounts: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # kind -> (tp, qty equal, amount equal)
    by_case: dict[str, tuple[str, int, int, int]] = field(default_factory=dict)  # case -> (kind, orders, flagged, right)

    def lines(self) -> list[str]:
        head = f"{'':<22}{'truth':>8} {'flagged':>8} {'correct':>8} {'prec':>6} {'recall':>6}"
        out = [f"truth: {self.truth_rows} rows, {self.faulty} faulty orders; flags: {self.flagged}"]
        for cls in ("all",) + CLASSES:
            kinds = self.by_kind.get(cls, {})
            resps = self.by_resp.get(cls, {})
            if not any(s.tp + s.fp + s.fn for s in list(kinds.values()) + list(resps.values())):
                continue
            out.append("")
            out.append(f"[{cls}]" + ("" if cls == "all" else " evidence"))
            out.append(head)
            for k in FLAG_KINDS:
                s = kinds.get(k)
                if s and s.tp + s.fp + s.fn:
                    out.append(f"  kind {k:<15}" + s.cells())
            for r in RESPONSIBILITIES:
                s = resps.get(r)
                if s and s.tp + s.fp + s.fn:
                    out.append(f"  resp {r:<15}" + s.cells())
        if self.by_case:
            out.append("")
            out.append(f"{'by case':<22}{'kind':>13} {'orders':>8} {'flagged':>8} {'right':>8}")
            for case, (kind, n, flagged, right) in self.by_case.items():
                out.append(f"  {case:<20}{kind:>13} {n:>8} {flagged:>8} {right:>8}")
        if self.amounts:
            out.append("")
            out.append("goods concerned on correctly flagged orders (same missing_qty / same affected_amount):")
            for k in FLAG_KINDS:
                if k in self.amounts:
                    n, q, a = self.amounts[k]
                    out.append(f"  {k:<15} {n:>8} orders, missing_qty equal {q / n:6.3f}, affected_amount equal {a / n:6.3f}")
        return out


def _columns(con: duckdb.DuckDBPyConnection, path: str) -> set[str]:
    return {r[0] for r in con.execute("describe select * from read_parquet($p)", {"p": path}).fetchall()}


def evaluate(con: duckdb.DuckDBPyConnection, truth_path: str | Path) -> EvalReport:
    path = str(truth_path)
    try:
        cols = _columns(con, path)
    except duckdb.Error as e:
        raise ShortshipError(f"{path}: cannot read the truth file ({str(e).splitlines()[0]})") from None
    missing = {"order_id", "kind"} - cols
    if missing:
        raise ShortshipError(f"{path}: the truth file lacks column(s) {', '.join(sorted(missing))}")
    resp = "responsibility" if "responsibility" in cols else "null"
    case = '"case"' if "case" in cols else "null"
    evid = "evidence" if "evidence" in cols else "'explicit'"
    qty = "missing_qty" if "missing_qty" in cols else "null"
    amt = "affected_amount" if "affected_amount" in cols else "null"
    con.execute(
        f"""create or replace temp table _truth as
            select order_id::varchar as order_id,
                   case when coalesce(lower(kind::varchar), '') in {CLEAN} then null else kind::varchar end as kind,
                   {resp}::varchar as responsibility, {evid}::varchar as evidence,
                   {qty}::bigint as missing_qty, {amt}::decimal(18, 2) as affected_amount,
                   {case}::varchar as "case", coalesce(kind::varchar, '') as truth_kind
            from read_parquet($p)""",
        {"p": path},
    )
    rows = con.execute(
        """with t as (select * from _truth where kind is not null qualify row_number() over (partition by order_id) = 1)
           select coalesce(f.order_id, t.order_id), f.kind, f.responsibility, f.basis,
                  f.missing_qty, f.affected_amount,
                  t.kind, t.responsibility, t.evidence, t.missing_qty, t.affected_amount
           from flags f full join t on t.order_id = f.order_id"""
    ).fetchall()
    truth_rows = con.execute("select count(*) from _truth").fetchone()[0]
    by_case = {
        c: (k, n, flagged, right)
        for c, k, n, flagged, right in con.execute(
            """select t."case", any_value(t.truth_kind), count(*), count(f.order_id),
                      count(*) filter (where f.kind = t.kind)
               from _truth t left join flags f using (order_id)
               where t."case" is not null
               group by t."case" order by min(t.truth_kind = 'none'), t."case" """).fetchall()
    }
    con.execute("drop table if exists _truth")

    by_kind: dict[str, dict[str, Score]] = {c: {k: Score() for k in FLAG_KINDS} for c in ("all",) + CLASSES}
    by_resp: dict[str, dict[str, Score]] = {c: {r: Score() for r in RESPONSIBILITIES} for c in ("all",) + CLASSES}
    amounts: dict[str, list[int]] = {}
    basis_class = {"explicit": "explicit", "weight": "explicit", "amount": "amount_only", "text": "text_only"}
    faulty = flagged = 0
    for _, fk, fr, fb, fq, fa, tk, tr, te, tq, ta in rows:
        faulty += tk is not None
        flagged += fk is not None
        cls = te if tk is not None else basis_class.get(fb or "", "explicit")
        for c in ("all", cls):
            if c not in by_kind:
                continue
            if fk is not None and fk == tk:
                by_kind[c][fk].tp += 1
            else:
                if fk is not None and fk in by_kind[c]:
                    by_kind[c][fk].fp += 1
                if tk is not None and tk in by_kind[c]:
                    by_kind[c][tk].fn += 1
            if fr is not None and tk is not None and fr == tr:
                by_resp[c][fr].tp += 1
            else:
                if fr is not None and fr in by_resp[c]:
                    by_resp[c][fr].fp += 1
                if tk is not None and tr in by_resp[c]:
                    by_resp[c][tr].fn += 1
        if fk is not None and fk == tk:
            a = amounts.setdefault(fk, [0, 0, 0])
            a[0] += 1
            a[1] += tq is not None and fq == tq
            a[2] += ta is not None and fa == ta
    return EvalReport(
        truth_rows=truth_rows, faulty=faulty, flagged=flagged, by_kind=by_kind, by_resp=by_resp,
        amounts={k: tuple(v) for k, v in amounts.items() if v[0]}, by_case=by_case,
    )
