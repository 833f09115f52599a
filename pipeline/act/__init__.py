"""Acting on what is found (SPEC section 6): the files each person needs to act.

| file                        | for                | grain                                          |
|-----------------------------|--------------------|------------------------------------------------|
| reship.csv                  | warehouse / ERP    | one row per order × SKU still to send          |
| courier_claims.csv          | whoever claims     | one row per order to claim from a courier      |
| root_causes.parquet         | BI, the report     | one row per dimension × value (SKU, shop, ...) |
| evidence/<order_id>.html    | 小二介入 (disputes) | one page per disputed, courier or decided order |

`stage_act` is the writer of these files in a run's output set (pipeline/export.py
`output_writers`). It computes the rows once (the SQL models under sql/outputs/) and keeps
them for the report of the same set (`take`), which shows the same rows.

The CSV files are for people and for import: UTF-8 with a BOM (Excel opens it as UTF-8),
comma separated, headings in the run's language (`--lang`, Chinese by default; English gives
the canonical names), code values labelled in Chinese (English: the codes), money with two places, times
`YYYY-MM-DD HH:MM:SS` China time, ids as plain digits.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb

from pipeline import db
from pipeline.clock import china_now, fmt
from pipeline.errors import ShortshipError
from pipeline.locale import Messages, messages
from pipeline.policy import Policy, load_policy, presets

# the columns of each people's CSV, in order (canonical names; headings from the catalogue)
RESHIP_COLUMNS = ["order_id", "shop", "buyer", "sku", "title", "attributes", "quantity", "deadline", "hours_left",
                  "penalty_avoided_yuan", "status", "kind", "basis", "line_id", "line_no"]
CLAIM_COLUMNS = ["carrier", "month", "order_id", "shop", "basis", "status", "kind", "tracking_nos", "shipped_at",
                 "goods_value_yuan", "freight_yuan", "freight_source", "claim_rule", "claim_yuan", "weight_kg",
                 "expected_kg"]
# code columns and the catalogue context of their values
CODE_FIELDS = {"status": "status", "kind": "kind", "basis": None, "freight_source": "freight_source",
               "claim_rule": "claim_rule", "responsibility": "responsibility", "payout_form": "payout_form",
               "reason": "payout_reason", "decision": "decision", "dimension": "dimension"}
EVIDENCE_DIR = "evidence"
# the files of a run's output set written here (besides evidence/<order_id>.html)
FILES = ("reship.csv", "courier_claims.csv", "root_causes.parquet")


@dataclass
class ActData:
    """The rows behind the files of this package, computed once per output set."""
    as_of: datetime
    policy: Policy
    reship: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    root_causes: list[dict] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)
    evidence_reasons: dict[str, list[str]] = field(default_factory=dict)  # why each page (evidence_orders.sql)


_STASH: dict[str, ActData] = {}


def take(batch_id: str) -> ActData | None:
    """The rows `stage_act` computed for the output set `batch_id`, forgotten (the report, the
    set's last writer, takes them); None if none."""
    return _STASH.pop(batch_id, None)


def peek(batch_id: str) -> ActData | None:
    """The same, kept for a later writer of the set (the workbook)."""
    return _STASH.get(batch_id)


# --- the run's clock and policy ------------------------------------------------------------

def resolve_policy(policy: Policy | None, policy_id: str | None) -> Policy:
    """The run's policy: given, else the preset with that id, else the default preset."""
    if policy is not None:
        return policy
    for name in presets():
        p = load_policy(name)
        if p.id == policy_id:
            return p
    return load_policy(None)


def resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: datetime | None) -> datetime:
    if as_of is not None:
        return as_of
    row = con.execute("select max(as_of) from liabilities").fetchone()
    return row[0] if row and row[0] is not None else china_now()


class Row(dict):
    """A result row whose columns are also attributes (the row is its own instance dict):
    templates read `row.sku` at the speed of an attribute, without the template runtime's
    failed attribute lookup on a plain dict (evidence pages are rendered by the thousand)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.__dict__ = self


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[Row]:
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [Row(zip(names, r)) for r in cur.fetchall()]


def model_rows(con: duckdb.DuckDBPyConnection, model: str, params: dict[str, Any] | None = None) -> list[dict]:
    sql = db.model_sql(model)
    return _rows(con, sql, {k: v for k, v in (params or {}).items() if f"${k}" in sql})


# --- parcel weights (the evidence pages and the courier claims) ----------------------------

def weigh_parcels(con: duckdb.DuckDBPyConnection, order_ids_sql: str, as_of: datetime, policy: Policy,
                  params: dict | None = None) -> None:
    """Temp table _act_parcels: every parcel of the orders `order_ids_sql` selects, with its
    weight against the expected weight (sql/outputs/parcel_weights.sql). The SKU weights are
    learnt once per connection and clock (_act_sku_weights)."""
    learnt = con.execute(
        "select count(*) from duckdb_tables() where table_name = '_act_sku_weights' and temporary"
    ).fetchone()[0]
    key = f"{as_of.isoformat()}|{policy.weight_min_samples}"
    if learnt:
        stamp = con.execute("select any_value(stamp) from _act_sku_weights_stamp").fetchone()[0]
        learnt = stamp == key
    if not learnt:
        db.materialize(con, "outputs/sku_weights.sql", "_act_sku_weights",
                       {"as_of": as_of, "min_samples": policy.weight_min_samples}, temp=True)
        con.execute("create or replace temp table _act_sku_weights_stamp as select ?::varchar as stamp", [key])
    con.execute(f"create or replace temp table _act_orders as {order_ids_sql}", params or {})
    db.materialize(con, "outputs/parcel_weights.sql", "_act_parcels",
                   {"as_of": as_of, "noise": policy.weight_noise}, temp=True)


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("_act_orders", "_act_parcels", "_act_sku_weights", "_act_sku_weights_stamp"):
        con.execute(f"drop table if exists {t}")


# --- the rows -------------------------------------------------------------------------------

def reship_rows(con: duckdb.DuckDBPyConnection, as_of: datetime) -> list[dict]:
    return model_rows(con, "outputs/reship.sql", {"as_of": as_of})


def claim_rows(con: duckdb.DuckDBPyConnection, as_of: datetime, policy: Policy) -> list[dict]:
    weigh_parcels(
        con,
        "select order_id from liabilities where status = 'courier' "
        "or (kind = 'short' and status in ('owed', 'cured'))",
        as_of, policy,
    )
    return model_rows(con, "outputs/courier_claims.sql", {
        "as_of": as_of,
        "claim_rule": policy.courier_claim,
        "postage_multiple": policy.courier_postage_multiple,
        "freight_per_parcel": policy.freight_per_parcel,
        "noise": policy.weight_noise,
    })


def evidence_orders(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """order_id -> why it gets a page (disputed, courier, decided), in order_id order."""
    return {r["order_id"]: list(r["reasons"]) for r in model_rows(con, "outputs/evidence_orders.sql")}


def evidence_order_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    return list(evidence_orders(con))


def compute(con: duckdb.DuckDBPyConnection, as_of: datetime | None, policy: Policy | None,
            policy_id: str | None = None, root_causes: bool = True, cleanup: bool = True) -> ActData:
    """Every row this package writes, from what the database holds (the temp tables it makes
    are dropped unless `cleanup` is false: the caller then drops them with `drop_temp`)."""
    pol = resolve_policy(policy, policy_id)
    when = resolve_as_of(con, as_of)
    try:
        data = ActData(as_of=when, policy=pol)
        data.reship = reship_rows(con, when)
        data.claims = claim_rows(con, when, pol)
        if root_causes:
            data.root_causes = model_rows(con, "outputs/root_causes.sql")
        data.evidence_reasons = evidence_orders(con)
        data.evidence_ids = list(data.evidence_reasons)
    except BaseException:
        drop_temp(con)
        raise
    if cleanup:
        drop_temp(con)
    return data


# --- writing ------------------------------------------------------------------------------

def cell(value: Any, column: str, m: Messages) -> str:
    """A value as a CSV cell for people: labelled codes, plain money, full times."""
    if value is None:
        return ""
    ctx = CODE_FIELDS.get(column, "")
    if column == "basis":
        ctx = "reship_basis" if value in ("shipments", "flag_line", "single_line", "whole_order", "undetermined") \
            else "claim_basis"
    if ctx:
        return m.cell(ctx, value)
    if isinstance(value, datetime):
        return fmt(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join("" if v is None else str(v) for v in value)
    return str(value)


def write_people_csv(path: Path, columns: Sequence[str], rows: Iterable[dict], lang: str) -> Path:
    """A CSV for people (see the module doc): UTF-8 with BOM, headings in `lang`."""
    m = messages(lang)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow([m.heading(c) for c in columns])
        for r in rows:
            w.writerow([cell(r.get(c), c, m) for c in columns])
    return path


def write_root_causes(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    target = str(path).replace("'", "''")
    try:
        con.execute(f"COPY ({db.model_sql('outputs/root_causes.sql')}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    except duckdb.Error as e:
        raise ShortshipError(f"{path.name}: cannot write ({db._first_line(e)})") from None
    return path


def stage_act(con: duckdb.DuckDBPyConnection, staging: Path, ctx) -> list[Path]:
    """The writer of reship.csv, courier_claims.csv, root_causes.parquet and evidence/ for a
    run's output set (ctx: pipeline.export.OutputContext)."""
    from pipeline.act import evidence
    from pipeline.report import charts

    import pyarrow.parquet as pq

    charts.prewarm()  # the report's chart runtime starts in a thread while the SQL below runs
    lang = ctx.lang
    data = compute(con, ctx.as_of, getattr(ctx, "policy", None), ctx.policy_id, root_causes=False, cleanup=False)
    try:
        out = [
            write_people_csv(staging / "reship.csv", RESHIP_COLUMNS, data.reship, lang),
            write_people_csv(staging / "courier_claims.csv", CLAIM_COLUMNS, data.claims, lang),
            write_root_causes(con, staging / "root_causes.parquet"),
        ]
        data.root_causes = pq.read_table(staging / "root_causes.parquet").to_pylist()
        out += evidence.write_pages(con, data.evidence_ids, staging / EVIDENCE_DIR, lang, data.as_of,
                                    data.policy, run_id=ctx.run_id, reasons=data.evidence_reasons)
    finally:
        drop_temp(con)
    _STASH[ctx.batch_id] = data
    return out
