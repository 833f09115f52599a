"""overview.html: one page across shops (SPEC section 9), so that a provider sees where to look first.

The rows are the model sql/outputs/overview.sql (one row per shop: what it owes, what awaits
review, its short-shipment rate and the rate's trend by week, its nearest re-ship deadlines);
the page ranks the shops by what they owe, then by what awaits review (`rank_key`), and lists
the nearest re-ship deadlines across shops. Texts from the catalogue (Chinese by default,
English with lang 'en'); no script, nothing loaded: it opens offline, like the report.

Two places write it, from the same rows and the same template:

* `shortship run` / `export` on a database holding more than one shop (店铺名称): `stage_overview`,
  a writer of the output set (pipeline/export.py), beside report.html;
* `shortship spark-run`: each shop's task computes its row on its own database, with the shop
  folder's name as the shop (`overview_rows(con, shop=...)`); the rows are kept in the dataset
  `overview/shop=<shop>/` and the page over every shop of `--out` is `<out>/overview.html`, each
  shop linking to its people's files (`people/<shop>/report.html`).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable

import duckdb

from pipeline import db
from pipeline.publish import Stage
from pipeline.report import charts
from pipeline.report.render import environment, plain_money
from pipeline.setdata import SetData, SetInfo

OVERVIEW = "overview.html"
MODEL = "outputs/overview.sql"
TREND_WEEKS = 8      # weeks of the short-rate trend, ending with the clock's week
DEADLINES_N = 20     # re-ship deadlines listed across shops
ZERO = Decimal("0.00")

if TYPE_CHECKING:  # pyarrow is imported only where Arrow is made (a Spark task): see overview_dicts
    import pyarrow as pa


def overview_rows(con: duckdb.DuckDBPyConnection, shop: str | None = None) -> pa.Table:
    """The model's rows (one per shop) as Arrow (a Spark shop task's dataset); `shop`: every row
    of the database is this shop's."""
    return con.sql(db.model_sql(MODEL), params=_params(shop)).to_arrow_table()


def _params(shop: str | None = None) -> dict[str, Any]:
    return {"shop": shop, "trend_weeks": TREND_WEEKS}


def overview_dicts(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The model's rows (one per shop) as dicts: the values overview_rows(...).to_pylist() gives,
    without pyarrow to import (pipeline/setdata.py)."""
    cur = con.execute(db.model_sql(MODEL), _params())
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _shops_at_most_one(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database names at most one shop: every shop of the model's rows (its
    orders', else its flags', else its liabilities', else '') is one of these values, so the
    model (a whole-database query, planned and run for nothing in a shop alone) is not needed
    to know that it has fewer than two rows."""
    return con.execute(
        "select count(distinct coalesce(shop, '')) from (select shop from orders union all "
        "select shop from flags union all select shop from liabilities)").fetchall()[0][0] < 2


def rank_key(r: dict) -> tuple:
    """The page's order: what the shop owes, then what awaits review (yuan, orders), largest first."""
    return (-(r["owed_yuan"] or ZERO), -(r["review_yuan"] or ZERO), -(r["review_orders"] or 0), r["shop"] or "")


def ranked(rows: pa.Table | Iterable[dict]) -> list[dict]:
    rows = rows.to_pylist() if hasattr(rows, "to_pylist") else list(rows)
    return sorted(rows, key=rank_key)


def _hours(deadline: datetime | None, as_of: datetime | None) -> float | None:
    if deadline is None or as_of is None:
        return None
    return round((deadline - as_of).total_seconds() / 3600, 1)


def overview_context(rows: pa.Table | Iterable[dict], lang: str, as_of: datetime | None = None,
                     report_href: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    from pipeline.locale import messages

    m = messages(lang)
    shops = ranked(rows)
    clock = as_of or max((r["as_of"] for r in shops if r.get("as_of")), default=None)
    deadlines = []
    for r in shops:
        for d in r.get("deadlines") or ():
            deadlines.append({"shop": r["shop"], "order_id": d["order_id"], "deadline": d["deadline"],
                              "at_risk_yuan": d["at_risk_yuan"], "hours_left": _hours(d["deadline"], clock)})
    deadlines.sort(key=lambda d: (d["deadline"], d["shop"] or "", d["order_id"]))
    rate_label = m.gettext("short-shipment rate by week")
    for r in shops:
        weeks = r.get("weeks") or []
        r["spark"] = charts.sparkline(weeks, rate_label) if weeks else None
        r["href"] = report_href(r["shop"]) if report_href else None
    total = {
        "shops": len(shops),
        "owed_orders": sum(r["owed_orders"] for r in shops),
        "owed_yuan": sum((r["owed_yuan"] for r in shops), ZERO),
        "review_orders": sum(r["review_orders"] for r in shops),
        "review_yuan": sum((r["review_yuan"] for r in shops), ZERO),
        "curable_orders": sum(r["curable_orders"] for r in shops),
        "at_risk_yuan": sum((r["at_risk_yuan"] for r in shops), ZERO),
        "orders": sum(r["orders"] for r in shops),
        "short_orders": sum(r["short_orders"] for r in shops),
        "next_deadline": min((r["next_deadline"] for r in shops if r["next_deadline"]), default=None),
    }
    attrs = {
        "shops": str(total["shops"]),
        "owed-orders": str(total["owed_orders"]),
        "owed-yuan": plain_money(total["owed_yuan"]),
        "review-orders": str(total["review_orders"]),
        "review-yuan": plain_money(total["review_yuan"]),
        "curable-orders": str(total["curable_orders"]),
        "at-risk-yuan": plain_money(total["at_risk_yuan"]),
    }
    return {"shops": shops, "total": total, "attrs": attrs, "as_of": clock,
            "deadlines": deadlines[:DEADLINES_N], "deadlines_n": len(deadlines), "trend_weeks": TREND_WEEKS,
            "linked": report_href is not None,
            # shops whose latest run is older than the page (spark-run: shops not in this run)
            "stale": any(r.get("as_of") != clock for r in shops)}


def build_overview(rows: pa.Table | Iterable[dict], lang: str = "zh", as_of: datetime | None = None,
                   report_href: Callable[[str], str | None] | None = None) -> str:
    """The page as a string: `rows` of the model (any order), `as_of` the page's clock (default
    the latest of the rows'), `report_href(shop)` the link to a shop's own report (None: no links)."""
    return environment(lang).get_template("overview.html").render(
        **overview_context(rows, lang, as_of, report_href))


def stage_overview(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of overview.html in an output set: only for a database holding more than one
    shop (a shop alone has its report)."""
    if _shops_at_most_one(con):  # the model's shops are among these: it cannot give two rows
        return
    rows = overview_dicts(con)
    if len(rows) < 2:
        return
    stage.write_bytes(OVERVIEW, build_overview(rows, info.lang, info.as_of).encode("utf-8"), rows=len(rows))
