"""report.html: one self-contained page telling the run's story to people, Chinese by default.

The page is a Jinja2 template (pipeline/report/templates/report.html, autoescaping on) filled
from the tables and the set's rows (pipeline/setdata.py); its charts are inline SVG drawn by
pipeline/report/charts.py. No script, nothing loaded from the network: it opens offline.
Texts come from the message catalogue (pipeline/locale), in the run's `--lang`.

What it shows, in the order a shop acts on it: the totals; what to re-ship now (reship.csv);
the orders awaiting a review decision; the orders awaiting data (nothing owed until their rows
arrive: sql/outputs/awaiting.sql); what to claim from couriers (courier_claims.csv);
liabilities by status; flagged orders by day and kind; root causes (short-shipment rate by
SKU, shop, packer and warehouse, and its trend by week: root_causes.parquet); the largest
liabilities with their evidence; buyers with many claims; problems found in the data.

The totals are also embedded for machines: the `<section id="totals">` element carries
`data-*` attributes (`data-total-yuan="123.45"`, `data-points="1200"`, ...), summed from the
same tables as the Parquet outputs, so a test or a scraper can check one against the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from pipeline import explain
from pipeline.locale import messages
from pipeline.policy import FLAG_KINDS
from pipeline.report import charts
from pipeline.publish import Stage
from pipeline.report.render import environment, plain_money
from pipeline.setdata import FIRST_ROWS, REVIEW_ORDER, SetData, SetInfo, page_path

STATUS_ORDER = ("owed", "curable", "cured", "courier", "disputed", "excluded", "awaiting_data")
TOP_N = 10
TABLE_N = FIRST_ROWS  # the first rows of a long list (the set's rows hold as many: pipeline/setdata.py)
LARGEST_N = 20
ZERO = Decimal("0.00")


# --- data ---------------------------------------------------------------------------------

@dataclass
class Totals:
    orders: int
    flagged: int
    flagged_by_kind: dict[str, int]
    compensation_yuan: Decimal
    points: int
    goods_refund_yuan: Decimal
    freight_yuan: Decimal
    total_yuan: Decimal
    at_risk_yuan: Decimal
    owed_orders: int
    curable_orders: int
    disputed_orders: int
    courier_orders: int
    payout_lines: int
    payout_yuan: Decimal
    payout_points: int
    rejects: int
    awaiting_orders: int = 0  # orders awaiting data (sql/outputs/awaiting.sql; set by report_context)

    def attributes(self) -> dict[str, str]:
        """The data-* attributes of the totals section (money as plain decimal strings)."""
        a = {
            "orders": str(self.orders),
            "flagged": str(self.flagged),
            "compensation-yuan": plain_money(self.compensation_yuan),
            "points": str(self.points),
            "goods-refund-yuan": plain_money(self.goods_refund_yuan),
            "freight-yuan": plain_money(self.freight_yuan),
            "total-yuan": plain_money(self.total_yuan),
            "at-risk-yuan": plain_money(self.at_risk_yuan),
            "owed-orders": str(self.owed_orders),
            "curable-orders": str(self.curable_orders),
            "disputed-orders": str(self.disputed_orders),
            "courier-orders": str(self.courier_orders),
            "payout-lines": str(self.payout_lines),
            "payout-yuan": plain_money(self.payout_yuan),
            "payout-points": str(self.payout_points),
            "rejects": str(self.rejects),
            "awaiting-orders": str(self.awaiting_orders),
        }
        for k in FLAG_KINDS:
            a[f"flagged-{k.replace('_', '-')}"] = str(self.flagged_by_kind.get(k, 0))
        return a


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | list | None = None) -> list[dict]:
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def totals(con: duckdb.DuckDBPyConnection, run_id: str | None) -> Totals:
    orders = con.execute("select count(*) from orders").fetchone()[0]
    by_kind = dict(con.execute("select kind, count(*) from flags group by kind").fetchall())
    (comp, points, goods, freight, total, at_risk, owed, curable, disputed, courier) = con.execute(
        """select coalesce(sum(compensation_yuan), 0)::decimal(18, 2),
                  coalesce(sum(points), 0)::bigint,
                  coalesce(sum(goods_refund_yuan), 0)::decimal(18, 2),
                  coalesce(sum(freight_yuan), 0)::decimal(18, 2),
                  coalesce(sum(total_yuan), 0)::decimal(18, 2),
                  coalesce(sum(at_risk_yuan), 0)::decimal(18, 2),
                  count(*) filter (where status = 'owed'),
                  count(*) filter (where status = 'curable'),
                  count(*) filter (where status = 'disputed'),
                  count(*) filter (where status = 'courier')
           from liabilities"""
    ).fetchone()
    lines, p_yuan, p_points = con.execute(
        """select count(*), coalesce(sum(yuan), 0)::decimal(18, 2), coalesce(sum(points), 0)::bigint
           from payouts where run_id = $run_id""",
        {"run_id": run_id},
    ).fetchone()
    rejects = con.execute("select count(*) from rejects").fetchone()[0]
    return Totals(
        orders=orders, flagged=sum(by_kind.values()), flagged_by_kind=by_kind,
        compensation_yuan=comp, points=points, goods_refund_yuan=goods, freight_yuan=freight,
        total_yuan=total, at_risk_yuan=at_risk, owed_orders=owed, curable_orders=curable,
        disputed_orders=disputed, courier_orders=courier,
        payout_lines=lines, payout_yuan=p_yuan, payout_points=p_points, rejects=rejects,
    )


def _run_info(con, run_id: str | None) -> dict | None:
    if run_id is None:
        return None
    rows = _rows(con, "select * from runs where run_id = $run_id order by started_at desc limit 1", {"run_id": run_id})
    return rows[0] if rows else None


def _by_day(con, data: SetData) -> list[dict]:
    """Flagged orders per day and kind, from the set's summary rows."""
    if data.summary is None:
        return []
    return _rows(
        con,
        f"""select day::varchar as day, kind, n from (
                select day, {', '.join(f'sum(flagged_{k})::bigint as {k}' for k in FLAG_KINDS)}
                from {data.summary.name} s where day is not null group by day having sum(flagged) > 0
            ) unpivot (n for kind in ({', '.join(FLAG_KINDS)}))
            where n > 0 order by day""",
    )


def _by_status(con) -> list[dict]:
    rows = _rows(
        con,
        """select status, count(*) as orders,
                  coalesce(sum(compensation_yuan), 0)::decimal(18, 2) as compensation_yuan,
                  coalesce(sum(points), 0)::bigint as points,
                  coalesce(sum(goods_refund_yuan), 0)::decimal(18, 2) as goods_refund_yuan,
                  coalesce(sum(freight_yuan), 0)::decimal(18, 2) as freight_yuan,
                  coalesce(sum(total_yuan), 0)::decimal(18, 2) as total_yuan,
                  coalesce(sum(at_risk_yuan), 0)::decimal(18, 2) as at_risk_yuan,
                  coalesce(sum(recoverable_yuan), 0)::decimal(18, 2) as recoverable_yuan
           from liabilities group by status""",
    )
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    rows.sort(key=lambda r: (order.get(r["status"], 99), str(r["status"])))
    return rows


def _review_queue(review, limit: int | None = TABLE_N) -> tuple[list[dict], int]:
    """The orders awaiting a decision (the set's review queue, sql/review/review_queue.sql),
    the largest first: the first `limit` rows and how many in all."""
    if review is None or not review.num_rows:
        return [], 0
    return review.rows(REVIEW_ORDER, limit), review.num_rows


def _largest(con, lang: str) -> list[dict]:
    """The largest liabilities, their evidence said in `lang` (pipeline/explain.py): said for
    those rows only, not for every flag before the largest are picked."""
    explain.prepare(con)
    return _rows(
        con,
        f"""select l.order_id, l.shop, l.kind, l.responsibility, l.status, l.compensation_yuan, l.points,
                   l.goods_refund_yuan, l.freight_yuan, l.total_yuan, {explain.said('f.evidence_facts')} as evidence,
                   f.rules
            from (select * from liabilities where total_yuan > 0
                  order by total_yuan desc, order_id limit {LARGEST_N}) l
            left join flags f using (order_id)
            order by l.total_yuan desc, l.order_id""",
        explain.render_params(lang),
    )


def _buyer_reviews(con) -> list[dict] | None:
    has = con.execute(
        "select count(*) from information_schema.tables where table_name = 'buyer_reviews' and table_schema = 'main'"
    ).fetchone()[0]
    if not has:
        return None
    return _rows(
        con,
        f"""select buyer, claims, orders, refunded_amount, last_claim_at
            from buyer_reviews where review
            order by claims desc, refunded_amount desc nulls last, buyer
            limit {TOP_N}""",
    )


def _data_problems(data: SetData, lang: str = "zh") -> tuple[list[dict], int]:
    """Problems found in the data (the set's rows of sql/outputs/data_problems.sql), each
    detail said in `lang` from its facts (pipeline/explain.py)."""
    rows, by = data.problems
    rows = [dict(r) for r in rows]
    for r in rows:
        if r.get("facts") is not None:
            r["detail"] = explain.render(r["facts"], lang)
    return rows, sum(by.values())


def _awaiting(data: SetData) -> tuple[list[dict], int, dict[str, int]]:
    """The orders awaiting data (the set's rows of sql/outputs/awaiting.sql): the first rows, how
    many in all, and how many by what they wait for."""
    rows, by = data.awaiting
    return rows, sum(by.values()), by


def _rates(root_causes: list[dict], dimension: str) -> list[dict]:
    rows = [r for r in root_causes if r["dimension"] == dimension and r["short_orders"] > 0]
    rows.sort(key=lambda r: (-r["short_rate_low"], -r["short_orders"], r["value"]))
    return rows[:TOP_N]


def report_context(con: duckdb.DuckDBPyConnection, info: SetInfo, data: SetData) -> dict[str, Any]:
    """Everything the template shows: the database's tables and the set's rows (`data`)."""
    m = messages(info.lang)
    run_id = info.run_id
    run = _run_info(con, run_id)
    root_causes = data.root_cause_rows()
    t = totals(con, run_id)
    status_rows = _by_status(con)
    kinds = [(k, m.code("kind", k)) for k in FLAG_KINDS]
    by_day = _by_day(con, data)
    weeks = [{"week": r["value"], "rate": r["short_rate"]} for r in root_causes if r["dimension"] == "week"]
    reship_orders = {r["order_id"] for r in data.reship}
    review, review_n = _review_queue(data.review)
    problems = _data_problems(data, info.lang)
    awaiting, awaiting_n, awaiting_by = _awaiting(data)
    t.awaiting_orders = awaiting_n
    count_label = m.gettext("orders")
    return {
        "run_id": run_id,
        "run": run,
        "as_of": run["as_of"] if run else info.as_of,
        "policy": info.policy,
        "t": t,
        "attrs": t.attributes(),
        "kinds": FLAG_KINDS,
        "status_rows": status_rows,
        "status_chart": charts.status_bars(
            [{"code": r["status"], "label": m.code("status", r["status"]), "n": r["orders"],
              "text": m.gettext("%(n)s, %(yuan)s yuan") % {"n": r["orders"], "yuan": f"{r['total_yuan']:,.2f}"}}
             for r in status_rows], count_label) if status_rows else None,
        "day_chart": charts.stacked_days(by_day, kinds, m.gettext("day"), count_label) if by_day else None,
        "trend_chart": charts.weekly_trend(weeks, m.gettext("week (from Monday)"), m.gettext("short-shipment rate"))
        if len(weeks) >= 2 else None,
        "weeks": weeks,
        "reship": data.reship[:TABLE_N],
        "reship_rows": len(data.reship),
        "reship_orders": len(reship_orders),
        "reship_units": sum(r["quantity"] or 0 for r in data.reship),
        "reship_curable": len({r["order_id"] for r in data.reship if r["status"] == "curable"}),
        "review": review,
        "review_n": review_n,
        "awaiting": awaiting,
        "awaiting_n": awaiting_n,
        "awaiting_by": awaiting_by,
        "claims": sorted(data.claims, key=lambda c: -(c["claim_yuan"] or 0))[:TABLE_N],
        "claims_n": len(data.claims),
        "claim_totals": data.claim_totals,
        "claim_sum": sum((c["claim_yuan"] or ZERO for c in data.claims), ZERO),
        "rates": {d: _rates(root_causes, d) for d in ("sku", "shop", "packer", "warehouse")},
        "largest": _largest(con, info.lang),
        "buyer_reviews": _buyer_reviews(con),
        "problems": problems,
        "evidence": data.evidence,
        "page_of": page_path,
    }


# --- the page -----------------------------------------------------------------------------

def build_report(con: duckdb.DuckDBPyConnection, info: SetInfo, data: SetData) -> str:
    """The report page as a string: the run `info.run_id` (its ledger lines are counted), the
    current flags and liabilities, the set's rows."""
    return environment(info.lang).get_template("report.html").render(**report_context(con, info, data))


def stage_report(con: duckdb.DuckDBPyConnection, stage: Stage, info: SetInfo, data: SetData) -> None:
    """The writer of report.html."""
    stage.write_bytes("report.html", build_report(con, info, data).encode("utf-8"))
