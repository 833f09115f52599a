"""report.html: one self-contained page telling the run's story to people.

Everything is inline (CSS in the page, charts as hand-written SVG); the page opens offline.
Every value that comes from the data goes through `esc` (HTML-escaped, quotes included).

The totals are also embedded for machines: the `<section id="totals">` element carries
`data-*` attributes (`data-total-yuan="123.45"`, `data-points="1200"`, ...), summed from the
same tables as the Parquet outputs, so a test or a scraper can check one against the other.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from string import Template
from typing import Any, Sequence

import duckdb

from pipeline import db
from pipeline.policy import FLAG_KINDS

TEMPLATE = Path(__file__).resolve().parent / "template.html"
KIND_LABELS = {
    "short": "short (少发/漏发)",
    "wrong": "wrong (错发)",
    "empty": "empty parcel (空包裹)",
    "not_received": "not received",
    "unshipped": "unshipped (未发货/缺货)",
}
KIND_COLORS = {
    "short": "#c8413b",
    "wrong": "#e08a1e",
    "empty": "#7b5ea7",
    "not_received": "#2f78b7",
    "unshipped": "#7d8591",
}
STATUS_ORDER = ("owed", "curable", "cured", "courier", "disputed", "excluded")
STATUS_COLORS = {
    "owed": "#c8413b",
    "curable": "#e08a1e",
    "cured": "#3a9a5b",
    "courier": "#2f78b7",
    "disputed": "#7b5ea7",
    "excluded": "#9aa1ac",
}
TOP_N = 10
LARGEST_N = 20
ZERO = Decimal("0.00")


def esc(value: Any) -> str:
    """HTML-escape a value from the data (None is empty)."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def money(value: Decimal | None) -> str:
    d = value if value is not None else ZERO
    return f"{d:,.2f}"


def plain_money(value: Decimal | None) -> str:
    """Money for data-* attributes: no separators, two places."""
    return str((value if value is not None else ZERO).quantize(Decimal("0.01")))


def ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


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
    payout_lines: int
    payout_yuan: Decimal
    payout_points: int
    rejects: int

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
            "payout-lines": str(self.payout_lines),
            "payout-yuan": plain_money(self.payout_yuan),
            "payout-points": str(self.payout_points),
            "rejects": str(self.rejects),
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
    (comp, points, goods, freight, total, at_risk, owed, curable) = con.execute(
        """select coalesce(sum(compensation_yuan), 0)::decimal(18, 2),
                  coalesce(sum(points), 0)::bigint,
                  coalesce(sum(goods_refund_yuan), 0)::decimal(18, 2),
                  coalesce(sum(freight_yuan), 0)::decimal(18, 2),
                  coalesce(sum(total_yuan), 0)::decimal(18, 2),
                  coalesce(sum(at_risk_yuan), 0)::decimal(18, 2),
                  count(*) filter (where status = 'owed'),
                  count(*) filter (where status = 'curable')
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
        payout_lines=lines, payout_yuan=p_yuan, payout_points=p_points, rejects=rejects,
    )


def _run_info(con, run_id: str | None) -> dict | None:
    if run_id is None:
        return None
    rows = _rows(con, "select * from runs where run_id = $run_id order by started_at desc limit 1", {"run_id": run_id})
    return rows[0] if rows else None


# --- SVG charts ---------------------------------------------------------------------------

def _nice_max(v: float) -> float:
    if v <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if v <= step:
            return step
    mag = 10 ** (len(str(int(v))) - 1)
    return ((int(v) // mag) + 1) * mag


def stacked_day_chart(days: list[dict]) -> str:
    """Flagged orders per day, one stacked bar per day, one colour per kind."""
    if not days:
        return '<p class="empty-note">No flagged orders.</p>'
    n = len(days)
    left, top, bottom, height = 40, 10, 38, 200
    bar_w = max(3, min(28, int(900 / n) - 2))
    gap = 2 if bar_w < 10 else 4
    width = left + n * (bar_w + gap) + 10
    peak = max(sum(d.get(k, 0) for k in FLAG_KINDS) for d in days)
    ymax = _nice_max(peak)
    scale = height / ymax
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="flagged orders by day and kind" '
        f'width="{width}" height="{top + height + bottom}" viewBox="0 0 {width} {top + height + bottom}">'
    ]
    for frac in (0, 0.5, 1):
        y = top + height - frac * height
        out.append(f'<line x1="{left}" x2="{width - 5}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ec"/>')
        label = ymax * frac
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#5d6778">'
            f'{esc(f"{label:g}")}</text>'
        )
    label_every = max(1, n // 12)
    for i, d in enumerate(days):
        x = left + i * (bar_w + gap)
        y = top + height
        for k in FLAG_KINDS:
            c = d.get(k, 0)
            if not c:
                continue
            h = c * scale
            y -= h
            out.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="{KIND_COLORS[k]}">'
                f'<title>{esc(d["day"])}: {esc(c)} {esc(k)}</title></rect>'
            )
        if i % label_every == 0:
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + height + 14}" font-size="10" text-anchor="middle" '
                f'fill="#5d6778">{esc(str(d["day"])[5:] if d["day"] else "no date")}</text>'
            )
    out.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{KIND_COLORS[k]}"></i>{esc(KIND_LABELS[k])}</span>' for k in FLAG_KINDS
    )
    return f'<div class="legend">{legend}</div><div class="chart">{"".join(out)}</div>'


def hbar_chart(items: Sequence[tuple[str, float, str, str]], label: str) -> str:
    """Horizontal bars: (name, value, colour, text shown at the bar's end)."""
    if not items:
        return '<p class="empty-note">Nothing to show.</p>'
    row_h, left, width = 24, 110, 640
    peak = max(v for _, v, _, _ in items) or 1
    height = row_h * len(items) + 6
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{esc(label)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    span = width - left - 220  # room for the text at the end of the longest bar
    for i, (name, v, colour, text) in enumerate(items):
        y = 4 + i * row_h
        w = max(1.0, span * v / peak) if v else 0
        out.append(f'<text x="{left - 8}" y="{y + 14}" font-size="12" text-anchor="end" fill="#1d2430">{esc(name)}</text>')
        out.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" rx="3" fill="{colour}">'
                   f'<title>{esc(name)}: {esc(text)}</title></rect>')
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="12" fill="#5d6778">{esc(text)}</text>')
    out.append("</svg>")
    return f'<div class="chart">{"".join(out)}</div>'


# --- sections -----------------------------------------------------------------------------

def _table(headers: Sequence[tuple[str, str]], rows: list[list[str]], empty: str) -> str:
    """headers: (label, css class); rows: cells already escaped."""
    if not rows:
        return f'<p class="empty-note">{esc(empty)}</p>'
    head = "".join(f'<th class="{c}">{esc(h)}</th>' for h, c in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{headers[i][1]}">{cell}</td>' for i, cell in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _totals_section(t: Totals, run_id: str | None) -> str:
    attrs = " ".join(f'data-{k}="{esc(v)}"' for k, v in t.attributes().items())
    cards = [
        ("orders", f"{t.orders:,}"),
        ("flagged orders", f"{t.flagged:,}"),
        ("penalty owed (yuan)", money(t.compensation_yuan)),
        ("penalty owed (points)", f"{t.points:,}"),
        ("goods to refund (yuan)", money(t.goods_refund_yuan)),
        ("freight borne (yuan)", money(t.freight_yuan)),
        ("total: penalty + goods + freight (yuan)", money(t.total_yuan)),
        ("avoidable by re-shipping (yuan)", money(t.at_risk_yuan)),
        ("new ledger lines this run", f"{t.payout_lines:,} ({money(t.payout_yuan)} yuan)"),
        ("rejected input rows", f"{t.rejects:,}"),
    ]
    cells = "".join(f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>' for k, v in cards)
    kinds = ", ".join(f"{esc(KIND_LABELS[k])}: {t.flagged_by_kind.get(k, 0)}" for k in FLAG_KINDS)
    return (
        f'<section id="totals" data-run-id="{esc(run_id)}" {attrs}>'
        f"<h2>Totals</h2><div class=\"cards\">{cells}</div>"
        f'<p class="meta">Flagged by kind: {kinds}. {t.owed_orders} order(s) owed, '
        f"{t.curable_orders} still curable by re-shipping.</p></section>"
    )


def _by_day_section(con) -> str:
    summary = db.model_sql("outputs/summary.sql")
    rows = _rows(
        con,
        f"""select day, {', '.join(f'sum(flagged_{k})::bigint as {k}' for k in FLAG_KINDS)}
            from ({summary}) s group by day having sum(flagged) > 0 order by day nulls last""",
    )
    return f'<section id="by-day"><h2>Flagged orders by day and kind</h2>{stacked_day_chart(rows)}</section>'


def _by_status_section(con) -> str:
    rows = _rows(
        con,
        """select status, count(*) as orders,
                  coalesce(sum(compensation_yuan), 0)::decimal(18, 2) as compensation_yuan,
                  coalesce(sum(points), 0)::bigint as points,
                  coalesce(sum(goods_refund_yuan), 0)::decimal(18, 2) as goods_refund_yuan,
                  coalesce(sum(freight_yuan), 0)::decimal(18, 2) as freight_yuan,
                  coalesce(sum(total_yuan), 0)::decimal(18, 2) as total_yuan,
                  coalesce(sum(at_risk_yuan), 0)::decimal(18, 2) as at_risk_yuan
           from liabilities group by status""",
    )
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    rows.sort(key=lambda r: (order.get(r["status"], 99), str(r["status"])))
    chart = hbar_chart(
        [(r["status"], r["orders"], STATUS_COLORS.get(r["status"], "#9aa1ac"),
          f'{r["orders"]} order(s), {money(r["total_yuan"])} yuan') for r in rows],
        "liabilities by status",
    )
    table = _table(
        [("status", ""), ("orders", "n"), ("penalty yuan", "n"), ("points", "n"), ("goods refund", "n"),
         ("freight", "n"), ("total yuan", "n"), ("at risk yuan", "n")],
        [[f'<span data-status="{esc(r["status"])}">{esc(r["status"])}</span>', esc(r["orders"]),
          esc(money(r["compensation_yuan"])), esc(f'{r["points"]:,}'), esc(money(r["goods_refund_yuan"])),
          esc(money(r["freight_yuan"])), esc(money(r["total_yuan"])), esc(money(r["at_risk_yuan"]))] for r in rows],
        "No liabilities.",
    )
    return f'<section id="by-status"><h2>Liabilities by status</h2>{chart}{table}</section>'


def _rate_table(rows: list[dict], name_label: str, empty: str) -> str:
    body = []
    for r in rows:
        pct = 100.0 * r["short_orders"] / r["orders"] if r["orders"] else 0.0
        body.append([
            esc(r["name"] if r["name"] is not None else "(none)"),
            esc(r["short_orders"]),
            esc(r["orders"]),
            esc(f"{pct:.1f} %"),
            f'<div class="bar"><span style="width:{min(pct, 100):.1f}%"></span></div>',
        ])
    return _table([(name_label, ""), ("short", "n"), ("orders", "n"), ("rate", "n"), ("", "")], body, empty)


# ranking key: the lower bound of the 95 % Wilson interval of the short rate, so that one
# short order out of one does not outrank 30 out of 200
_WILSON = """(
    (count(s.order_id) / count(*) + 1.9208 / count(*)
     - 1.96 * sqrt((count(s.order_id) / count(*)) * (1 - count(s.order_id) / count(*)) / count(*)
                   + 0.9604 / (count(*) * count(*))))
    / (1 + 3.8416 / count(*)))"""


def _rates_section(con) -> str:
    sku_rows = _rows(
        con,
        f"""with sku_orders as (select distinct sku, order_id from order_lines where sku is not null),
                short as (select distinct order_id from flags where kind = 'short')
            select sku as name, count(*) as orders, count(s.order_id) as short_orders
            from sku_orders left join short s using (order_id)
            group by sku having count(s.order_id) > 0
            order by {_WILSON} desc, count(s.order_id) desc, sku
            limit {TOP_N}""",
    )
    shop_rows = _rows(
        con,
        f"""with shop_orders as (
                    select order_id, shop from orders
                    union all
                    select order_id, shop from flags f where not exists (select 1 from orders o where o.order_id = f.order_id)
                ),
                short as (select distinct order_id from flags where kind = 'short')
            select shop as name, count(*) as orders, count(s.order_id) as short_orders
            from shop_orders left join short s using (order_id)
            group by shop having count(s.order_id) > 0
            order by {_WILSON} desc, count(s.order_id) desc, shop nulls last
            limit {TOP_N}""",
    )
    return (
        '<section id="rates"><h2>Highest short-shipment rates</h2>'
        '<p class="meta">Share of the orders holding the SKU (or of the shop\'s orders) flagged short; '
        'ranked by the lower end of the rate\'s 95 % interval, so that 1 short order out of 1 does not '
        'outrank 30 out of 200.</p>'
        '<div class="two"><div><h3>SKUs (商家编码)</h3>'
        + _rate_table(sku_rows, "SKU", "No short shipments.")
        + "</div><div><h3>Shops</h3>"
        + _rate_table(shop_rows, "shop", "No short shipments.")
        + "</div></div></section>"
    )


def _curable_section(con, as_of: datetime | None) -> str:
    rows = _rows(
        con,
        """select l.order_id, l.shop, l.kind, f.missing_qty, l.deadline, l.at_risk_yuan, f.evidence
           from liabilities l left join flags f using (order_id)
           where l.status = 'curable'
           order by l.deadline nulls last, l.order_id""",
    )
    body = []
    for r in rows:
        left = ""
        if as_of and r["deadline"]:
            hours = (r["deadline"] - as_of).total_seconds() / 3600
            left = f"{hours:.0f} h"
        body.append([
            f'<span class="mono">{esc(r["order_id"])}</span>', esc(r["shop"]), esc(r["kind"]),
            esc(r["missing_qty"]), f'<span data-deadline="{esc(r["deadline"])}">{esc(ts(r["deadline"]))}</span>',
            esc(left), esc(money(r["at_risk_yuan"])), esc(r["evidence"]),
        ])
    table = _table(
        [("order", ""), ("shop", ""), ("kind", ""), ("missing", "n"), ("re-ship before", "n"),
         ("time left", "n"), ("penalty avoided (yuan)", "n"), ("evidence", "ev")],
        body,
        "No order can still be cured.",
    )
    return (
        '<section id="curable"><h2>Re-ship now: shortages still curable</h2>'
        '<p class="meta">Re-shipping the missing units before the deadline means no penalty is owed.</p>'
        f"{table}</section>"
    )


def _largest_section(con) -> str:
    rows = _rows(
        con,
        f"""select l.order_id, l.shop, l.kind, l.responsibility, l.status, l.compensation_yuan, l.points,
                   l.goods_refund_yuan, l.freight_yuan, l.total_yuan, f.evidence, f.rules
            from liabilities l left join flags f using (order_id)
            where l.total_yuan > 0
            order by l.total_yuan desc, l.order_id
            limit {LARGEST_N}""",
    )
    body = [[
        f'<span class="mono">{esc(r["order_id"])}</span>', esc(r["shop"]), esc(r["kind"]), esc(r["responsibility"]),
        esc(r["status"]), esc(money(r["compensation_yuan"])), esc(f'{r["points"] or 0:,}'),
        esc(money(r["goods_refund_yuan"])), esc(money(r["freight_yuan"])), esc(money(r["total_yuan"])),
        esc(r["evidence"]) + (f'<br><span class="mono">{esc(", ".join(r["rules"]))}</span>' if r["rules"] else ""),
    ] for r in rows]
    table = _table(
        [("order", ""), ("shop", ""), ("kind", ""), ("responsibility", ""), ("status", ""), ("penalty", "n"),
         ("points", "n"), ("goods", "n"), ("freight", "n"), ("total", "n"), ("evidence", "ev")],
        body,
        "Nothing owed.",
    )
    return f'<section id="largest"><h2>Largest liabilities and their evidence</h2>{table}</section>'


def _reviews_section(con) -> str:
    """Buyers who claim short shipment on many orders (the flag step's buyer_reviews table)."""
    has = con.execute(
        "select count(*) from information_schema.tables where table_name = 'buyer_reviews' and table_schema = 'main'"
    ).fetchone()[0]
    if not has:
        return ""
    rows = _rows(
        con,
        f"""select buyer, claims, orders, refunded_amount, last_claim_at
            from buyer_reviews where review
            order by claims desc, refunded_amount desc nulls last, buyer
            limit {TOP_N}""",
    )
    body = [[esc(r["buyer"]), esc(r["claims"]), esc(r["orders"]), esc(money(r["refunded_amount"])),
             esc(ts(r["last_claim_at"]))] for r in rows]
    table = _table(
        [("buyer", ""), ("claims", "n"), ("orders", "n"), ("refunded (yuan)", "n"), ("last claim", "n")],
        body,
        "No buyer claims short shipment unusually often.",
    )
    return f'<section id="reviews"><h2>Buyers to review: many short-shipment claims</h2>{table}</section>'


# --- the page -----------------------------------------------------------------------------

def build_report(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> str:
    """The report page as a string. `run_id` (default: the latest run) names the run whose
    ledger lines are counted; flags and liabilities are the current tables."""
    if run_id is None:
        row = con.execute("select run_id from runs order by started_at desc, run_id desc limit 1").fetchone()
        run_id = row[0] if row else None
    run = _run_info(con, run_id)
    as_of = run["as_of"] if run else None
    t = totals(con, run_id)
    meta = (
        f"Run {esc(run_id or '(none)')} · as of {esc(ts(as_of) or 'n/a')} (China time) · "
        f"policy {esc(run['policy_id'] if run else 'n/a')}"
    )
    body = "\n".join([
        _totals_section(t, run_id),
        _by_day_section(con),
        _by_status_section(con),
        _curable_section(con, as_of),
        _largest_section(con),
        _rates_section(con),
        _reviews_section(con),
    ])
    footer = (
        "Written by shortship. Amounts in yuan (DECIMAL, exact); points are platform points. "
        "Every flag names the rules that fired; see flags.parquet for all of them."
    )
    page = Template(TEMPLATE.read_text(encoding="utf-8"))
    return page.substitute(title="shortship report", meta=meta, body=body, footer=esc(footer))


def write_report(con: duckdb.DuckDBPyConnection, path: str | Path, run_id: str | None = None) -> Path:
    """Write the page to `path` (the caller makes it atomic; see pipeline.export)."""
    path = Path(path)
    path.write_text(build_report(con, run_id), encoding="utf-8")
    return path


def report_to(con: duckdb.DuckDBPyConnection, out_dir: str | Path, run_id: str | None = None) -> Path:
    """Write `report.html` into `out_dir`, atomically (staged, then renamed)."""
    from pipeline import export

    out_dir = Path(out_dir)
    staging = export.new_staging_dir(out_dir)
    try:
        staged = write_report(con, staging / "report.html", run_id)
        return export.publish_one(staged, out_dir)
    finally:
        export.remove_staging(staging)
