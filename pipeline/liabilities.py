"""What the shop owes for every flagged order, and the append-only payout ledger (SPEC section 5).

`compute_liabilities` rebuilds the `liabilities` table from `flags` with the SQL models under
sql/liabilities/ (status.sql -> penalty.sql -> liabilities.sql). Every policy number reaches
the SQL as a bind parameter or through the temp table `_policy_rules`, one row per flag kind
built from the Policy with bound values; nothing is pasted into SQL text.

`append_ledger` compares what each order should have received in total with what the
`payouts` ledger already holds for it (sql/liabilities/payout_due.sql) and appends only the
difference: `new`, `top_up` or a negative `reversal`. Payout lines are never updated or
deleted; running again on the same data appends nothing.

Both functions are atomic: each runs in its own transaction, or inside the caller's when one
is open (the CLI runs both in one).
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import duckdb

from pipeline import db, outcome
from pipeline.clock import china_now, fmt, parse_as_of
from pipeline.errors import ShortshipError
from pipeline.policy import FLAG_KINDS, Policy, load_policy

STATUSES = ("owed", "curable", "cured", "courier", "disputed", "excluded", "awaiting_data")
# liabilities.hold: why no money may move for an order yet (sql/liabilities/status.sql); the
# ledger neither pays nor reverses a held order. The first three are status awaiting_data.
HOLDS = ("order_not_loaded", "lines_not_loaded", "no_paid_time", "data_problem")
MODELS = (
    ("liabilities/status.sql", "_liab_status"),
    ("liabilities/penalty.sql", "_liab_penalty"),
)


@dataclass(frozen=True)
class LiabilitySummary:
    run_id: str
    as_of: datetime
    policy: str
    platform: str
    payout_form: str
    rows: int
    by_status: dict[str, int]
    owed_yuan: Decimal  # compensation owed now
    owed_points: int
    at_risk_yuan: Decimal  # curable: owed if not re-shipped by the deadline
    goods_refund_yuan: Decimal
    freight_yuan: Decimal
    total_yuan: Decimal
    recoverable_yuan: Decimal  # courier: may be claimed back from the courier

    def lines(self) -> list[str]:
        counts = ", ".join(f"{s} {self.by_status.get(s, 0)}" for s in STATUSES)
        return [
            f"liabilities: {self.rows} flagged orders ({counts}); policy {self.policy}, as of {self.as_of:%Y-%m-%d %H:%M:%S}",
            f"owed: {self.owed_yuan} yuan = {self.owed_points} points ({self.payout_form}); "
            f"goods to refund {self.goods_refund_yuan}, freight {self.freight_yuan}, total {self.total_yuan} yuan",
            f"at risk if not re-shipped in time: {self.at_risk_yuan} yuan; "
            f"recoverable from couriers: {self.recoverable_yuan} yuan",
        ]


@dataclass(frozen=True)
class PayoutLine:
    payout_id: int
    run_id: str
    order_id: str
    points: int
    yuan: Decimal
    reason: str  # new, top_up, reversal
    policy: str | None
    payout_form: str | None
    created_at: datetime = field(compare=False)


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an explicit transaction is open: in auto-commit mode every statement gets a new
    transaction id. (A failed BEGIN would abort the caller's transaction, so it is not probed.)"""
    first = con.execute("select txid_current()").fetchone()[0]
    return con.execute("select txid_current()").fetchone()[0] == first


@contextmanager
def _atomic(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """A transaction of our own, or the caller's when one is already open."""
    if _in_transaction(con):
        yield  # the caller commits or rolls back
        return
    with db.transaction(con):
        yield


def _as_policy(policy: Policy | str | Path | None) -> Policy:
    return policy if isinstance(policy, Policy) else load_policy(policy)


def build_policy_rules(con: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    """The temp table `_policy_rules`: one row per flag kind with the rule that applies."""
    con.execute(
        """create or replace temp table _policy_rules (
               kind varchar, rate decimal(18, 10), base_scope varchar, floor_yuan decimal(18, 2),
               cap_yuan decimal(18, 2), cap_scope varchar, points_per_yuan bigint, payout_form varchar)"""
    )
    rows = []
    for kind in FLAG_KINDS:
        r = policy.rule_for(kind)
        rows.append([kind, r.rate, r.base_scope, r.floor_yuan, r.cap_yuan, r.cap_scope, r.points_per_yuan, r.payout_form])
    con.executemany(
        "insert into _policy_rules values ($1, $2::decimal(18, 10), $3, $4::decimal(18, 2), "
        "$5::decimal(18, 2), $6, $7::bigint, $8)",
        rows,
    )


def compute_liabilities(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | str | None,
    policy: Policy | str | Path | None,
    run_id: str,
) -> LiabilitySummary:
    """Rebuild `liabilities` (one row per flagged order) from `flags` under `policy`."""
    pol = _as_policy(policy)
    when = parse_as_of(as_of)
    params = {
        "as_of": when,
        "run_id": str(run_id),
        "policy_id": pol.id,
        "platform": pol.platform,
        "window_hours": pol.window_hours,
        "reship_cures": pol.reship_cures,
        "freight_per_parcel": pol.freight_per_parcel,
        "shop_bears_freight": pol.shop_bears_freight,
    }
    dup = con.execute(
        "select order_id, count(*) from flags group by order_id having count(*) > 1 order by order_id limit 1"
    ).fetchone()
    if dup:
        raise ShortshipError(
            f"flags holds {dup[1]} rows for order {dup[0]}: detection must write one row per order"
        )
    with _atomic(con):
        build_policy_rules(con, pol)
        for model, table in MODELS:
            db.materialize(con, model, table, params, temp=True)
        sql = db.model_sql("liabilities/liabilities.sql")
        used = db.bound(sql, params)
        con.execute("delete from liabilities")
        con.execute(f"insert into liabilities by name {sql}", used)
        for t in ("_liab_penalty", "_liab_status", "_policy_rules"):
            con.execute(f"drop table if exists {t}")
        summary = _summarize(con, str(run_id), when, pol)
    return summary


def _summarize(con, run_id: str, when: datetime, pol: Policy) -> LiabilitySummary:
    by_status = dict(con.execute("select status, count(*) from liabilities group by status").fetchall())
    (rows, owed_yuan, owed_points, at_risk, goods, freight, total, recoverable) = con.execute(
        """select count(*),
                  coalesce(sum(compensation_yuan) filter (where status = 'owed'), 0)::decimal(18, 2),
                  coalesce(sum(points) filter (where status = 'owed'), 0)::bigint,
                  coalesce(sum(at_risk_yuan), 0)::decimal(18, 2),
                  coalesce(sum(goods_refund_yuan), 0)::decimal(18, 2),
                  coalesce(sum(freight_yuan), 0)::decimal(18, 2),
                  coalesce(sum(total_yuan), 0)::decimal(18, 2),
                  coalesce(sum(recoverable_yuan), 0)::decimal(18, 2)
           from liabilities"""
    ).fetchone()
    return LiabilitySummary(
        run_id=run_id, as_of=when, policy=pol.id, platform=pol.platform,
        payout_form=pol.penalty.payout_form, rows=rows,
        by_status={s: by_status.get(s, 0) for s in STATUSES},
        owed_yuan=owed_yuan, owed_points=int(owed_points), at_risk_yuan=at_risk,
        goods_refund_yuan=goods, freight_yuan=freight, total_yuan=total, recoverable_yuan=recoverable,
    )


def append_ledger(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    policy: Policy | str | Path | None,
) -> list[PayoutLine]:
    """Append to `payouts` what each order is still due (or must give back); returns the new lines.

    Reads the `liabilities` table, so run `compute_liabilities` first. Never updates or
    deletes a payout line.
    """
    pol = _as_policy(policy)
    with _atomic(con):
        db.materialize(con, "liabilities/payout_due.sql", "_payout_due", temp=True)
        rows = con.execute(
            """insert into payouts (payout_id, run_id, order_id, points, yuan, reason, policy, created_at, payout_form)
               select nextval('payout_seq'), $run_id, order_id, points, yuan, reason, $policy_id,
                      $created_at, payout_form
               from (select * from _payout_due order by order_id, yuan, payout_form)
               returning payout_id, run_id, order_id, points, yuan, reason, policy, payout_form, created_at""",
            {"run_id": str(run_id), "policy_id": pol.id, "created_at": china_now()},
        ).fetchall()
        con.execute("drop table if exists _payout_due")
    lines = [PayoutLine(*r) for r in rows]
    return sorted(lines, key=lambda p: p.payout_id)


def ledger_clock(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The latest as-of of a run that wrote lines to the ledger (None for an empty ledger)."""
    return con.execute(
        "select max(r.as_of) from runs r where exists (select 1 from payouts p where p.run_id = r.run_id)"
    ).fetchone()[0]


def check_clock(con: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    """The ledger's clock only moves forward (SPEC section 5): a run whose as-of is earlier than
    the latest as-of that wrote the ledger is refused; what an earlier day owed is read from the
    ledger and that day's outputs, never by paying backwards."""
    latest = ledger_clock(con)
    if latest is not None and as_of < latest:
        raise ShortshipError(
            f"--as-of {fmt(as_of)} is earlier than {fmt(latest)}, the latest as-of that wrote the payout "
            f"ledger: the ledger's clock only moves forward"
        )


def liabilities_step(
    con: duckdb.DuckDBPyConnection, as_of: datetime, policy: Policy
) -> tuple[LiabilitySummary, list[PayoutLine], str]:
    """`shortship liabilities`: the clock checked, the liabilities rebuilt and the ledger
    appended in one transaction, recorded as a run. Returns (summary, new lines, run id)."""
    run_id = new_run_id()
    lines: list[PayoutLine] = []

    def committed() -> None:  # what the message after an interrupt says (pipeline/outcome.py)
        outcome.committed("the liabilities", plural=True, lines=len(lines),
                          yuan=sum((p.yuan for p in lines), Decimal("0.00")))

    with db.transaction(con, on_commit=committed):
        check_clock(con, as_of)
        record_run(con, run_id, as_of, policy, "liabilities")
        summary = compute_liabilities(con, as_of, policy, run_id)
        lines.extend(append_ledger(con, run_id, policy))
    return summary, lines, run_id


def new_run_id(now: datetime | None = None) -> str:
    """A run id: the China-time start and a random suffix, e.g. 20240308T080000-1a2b3c4d."""
    now = now or china_now()
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def record_run(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime, policy: Policy, command: str) -> None:
    """One row in `runs` for a run (skipped when the run id is already there)."""
    con.execute(
        """insert into runs (run_id, started_at, as_of, policy_id, command)
           select $run_id, $started_at, $as_of, $policy_id, $command
           where not exists (select 1 from runs where run_id = $run_id)""",
        {"run_id": run_id, "started_at": china_now(), "as_of": as_of, "policy_id": policy.id, "command": command},
    )
