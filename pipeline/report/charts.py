"""The report's charts, drawn as inline SVG by this module: three simple charts need no runtime.

They were Vega-Lite specifications rendered by vl-convert (a JavaScript runtime in a wheel),
whose start cost 1.6-2.2 s a run, most of a run's fixed cost on small inputs. These charts are
bars, stacked bars and a line: here each is a function of its rows that returns an `<svg>`
element (no script, no external resource, no font file: the page's own font stack), with
axes, ticks, a legend and the values written on the marks. Every text from the data is
escaped; element ids are not used at all (nothing for two charts of one page to share).

- `status_bars`: liabilities by status, one horizontal bar per status, its count and yuan beside it;
- `stacked_days`: flagged orders per day, one bar per day stacked by kind, a legend above;
- `weekly_trend`: the short-shipment rate by week, a line with its points and their values.

Widths of texts are estimated (a CJK character is one em, other characters about 0.6 em):
enough to leave room for labels without measuring fonts.
"""
from __future__ import annotations

import math
from typing import Any

KIND_COLORS = {
    "short": "#c8413b",
    "wrong": "#e08a1e",
    "empty": "#7b5ea7",
    "not_received": "#2f78b7",
    "unshipped": "#7d8591",
}
STATUS_COLORS = {
    "owed": "#c8413b",
    "curable": "#e08a1e",
    "cured": "#3a9a5b",
    "courier": "#2f78b7",
    "disputed": "#7b5ea7",
    "excluded": "#9aa1ac",
    "awaiting_data": "#c9b84a",
}
FONT = 'system-ui, -apple-system, &quot;Segoe UI&quot;, &quot;PingFang SC&quot;, &quot;Microsoft YaHei&quot;, ' \
       '&quot;Noto Sans CJK SC&quot;, sans-serif'
LABEL = "#5d6778"
GRID = "#e3e6ec"
DOMAIN = "#c9ced8"
INK = "#1d2430"
SMALL = 11


def _esc(value: Any) -> str:
    s = str(value)
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def text_width(s: str, size: float = SMALL) -> float:
    """Estimated width of `s` in pixels at font size `size`."""
    return sum(size if ord(c) > 0x2E80 else size * 0.6 for c in str(s))


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2 or 5 × 10^k)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _num(v: float) -> str:
    """A tick label: 1,200 / 1.5k / 2M style for counts."""
    if v >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if v >= 10_000:
        return f"{v / 1_000:g}k"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"


def _pct(v: float, places: int = 1) -> str:
    return f"{100 * v:.{places}f}%"


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if not float(v).is_integer() else str(int(v))


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" role="img" width="{_f(width)}" '
            f'height="{_f(height)}" viewBox="0 0 {_f(width)} {_f(height)}" font-family="{FONT}" font-size="{SMALL}">'
            f'<title>{_esc(title)}</title><rect class="background" width="100%" height="100%" fill="#ffffff"/>'
            + "".join(body) + "</svg>")


def status_bars(rows: list[dict], count_label: str) -> str:
    """Liabilities by status: one horizontal bar per status (rows: code, label, n, text)."""
    step, bar_w = 24, 420
    left = 10 + max((text_width(r["label"]) for r in rows), default=0) + 8
    right = 10 + max((text_width(r["text"]) for r in rows), default=0) + 8
    top = 8
    ticks = nice_ticks(max((r["n"] for r in rows), default=0))
    scale = bar_w / ticks[-1]
    height = top + step * len(rows)
    body = []
    for t in ticks:  # grid and x axis
        x = left + t * scale
        body.append(f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{height}" stroke="{GRID}"/>'
                    f'<text x="{_f(x)}" y="{height + 14}" text-anchor="middle" fill="{LABEL}">{_num(t)}</text>')
    body.append(f'<line x1="{_f(left)}" y1="{height}" x2="{_f(left + bar_w)}" y2="{height}" stroke="{DOMAIN}"/>'
                f'<text x="{_f(left + bar_w / 2)}" y="{height + 30}" text-anchor="middle" fill="{LABEL}">'
                f'{_esc(count_label)}</text>')
    for i, r in enumerate(rows):
        y = top + i * step
        w = r["n"] * scale
        color = STATUS_COLORS.get(r["code"], "#9aa1ac")
        body.append(f'<g class="mark" data-status="{_esc(r["code"])}">'
                    f'<text x="{_f(left - 6)}" y="{y + step / 2 + 4}" text-anchor="end" fill="{LABEL}">{_esc(r["label"])}</text>'
                    f'<rect x="{_f(left)}" y="{y + 3}" width="{_f(max(w, 0.5))}" height="{step - 6}" rx="3" fill="{color}">'
                    f'<title>{_esc(r["label"])}: {_esc(r["text"])}</title></rect>'
                    f'<text x="{_f(left + w + 4)}" y="{y + step / 2 + 4}" fill="{LABEL}">{_esc(r["text"])}</text></g>')
    return _svg(left + bar_w + right, height + 38, count_label, body)


def stacked_days(rows: list[dict], kinds: list[tuple[str, str]], day_label: str, count_label: str) -> str:
    """Flagged orders per day, one stacked bar per day, one colour per kind.
    rows: {day: 'YYYY-MM-DD', kind: code, n: int}; kinds: (code, label) in stacking order."""
    days = sorted({r["day"] for r in rows})
    order = [k for k, _ in kinds]
    labels = dict(kinds)
    per: dict[str, dict[str, int]] = {d: {} for d in days}
    for r in rows:
        per[r["day"]][r["kind"]] = per[r["day"]].get(r["kind"], 0) + r["n"]
    plot_w = max(360, min(900, 26 * len(days)))
    plot_h = 200
    ticks = nice_ticks(max((sum(v.values()) for v in per.values()), default=0))
    left = 14 + max(text_width(_num(t)) for t in ticks) + 14
    legend_h = 22
    top = legend_h + 8
    band = plot_w / max(len(days), 1)
    scale = plot_h / ticks[-1]
    body = []
    x = left
    for code, label in kinds:  # the legend, above the plot
        body.append(f'<rect x="{_f(x)}" y="6" width="10" height="10" fill="{KIND_COLORS.get(code, "#999")}"/>'
                    f'<text x="{_f(x + 14)}" y="15" font-size="12" fill="{INK}">{_esc(label)}</text>')
        x += 14 + text_width(label, 12) + 16
    for t in ticks:
        y = top + plot_h - t * scale
        body.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" stroke="{GRID}"/>'
                    f'<text x="{_f(left - 5)}" y="{_f(y + 4)}" text-anchor="end" fill="{LABEL}">{_num(t)}</text>')
    body.append(f'<text transform="translate({_f(12)},{_f(top + plot_h / 2)}) rotate(-90)" text-anchor="middle" '
                f'fill="{LABEL}">{_esc(count_label)}</text>')
    for i, d in enumerate(days):
        x0 = left + i * band
        bw = max(band * 0.8, 1)
        y = top + plot_h
        codes = sorted(per[d], key=lambda k: (order.index(k) if k in labels else 99, k))
        for code in codes:
            n = per[d][code]
            h = n * scale
            y -= h
            body.append(f'<rect class="mark" x="{_f(x0 + (band - bw) / 2)}" y="{_f(y)}" width="{_f(bw)}" '
                        f'height="{_f(h)}" fill="{KIND_COLORS.get(code, "#999")}" data-day="{_esc(d)}" '
                        f'data-kind="{_esc(code)}"><title>{_esc(d)} {_esc(labels.get(code, code))}: {n}</title></rect>')
        lx, ly = x0 + band / 2, top + plot_h + 8
        body.append(f'<text transform="translate({_f(lx + 3)},{_f(ly)}) rotate(-60)" text-anchor="end" '
                    f'fill="{LABEL}">{_esc(d[5:])}</text>')
    body.append(f'<line x1="{_f(left)}" y1="{top + plot_h}" x2="{_f(left + plot_w)}" y2="{top + plot_h}" '
                f'stroke="{DOMAIN}"/>')
    return _svg(left + plot_w + 10, top + plot_h + 50, f"{count_label} / {day_label}", body)


def weekly_trend(rows: list[dict], week_label: str, rate_label: str) -> str:
    """The short-shipment rate by week (rows: week 'YYYY-MM-DD' (Monday), rate)."""
    values = [(str(r["week"]), float(r["rate"] or 0)) for r in rows]
    plot_w = max(320, min(900, 70 * len(values)))
    plot_h = 180
    ticks = nice_ticks(max((v for _, v in values), default=0))
    left = 14 + max(text_width(_pct(t)) for t in ticks) + 14
    top = 16
    band = plot_w / max(len(values), 1)
    scale = plot_h / ticks[-1]
    body = []
    for t in ticks:
        y = top + plot_h - t * scale
        body.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" stroke="{GRID}"/>'
                    f'<text x="{_f(left - 5)}" y="{_f(y + 4)}" text-anchor="end" fill="{LABEL}">{_pct(t)}</text>')
    body.append(f'<text transform="translate({_f(12)},{_f(top + plot_h / 2)}) rotate(-90)" text-anchor="middle" '
                f'fill="{LABEL}">{_esc(rate_label)}</text>')
    points = [(left + (i + 0.5) * band, top + plot_h - v * scale) for i, (_, v) in enumerate(values)]
    if points:
        body.append(f'<polyline class="mark" fill="none" stroke="#c8413b" stroke-width="2" '
                    f'points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in points)}"/>')
    for (week, v), (x, y) in zip(values, points):
        body.append(f'<circle class="mark" cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="#c8413b" data-week="{_esc(week)}">'
                    f'<title>{_esc(week)}: {_pct(v)}</title></circle>'
                    f'<text x="{_f(x)}" y="{_f(y - 8)}" text-anchor="middle" font-size="10" fill="{LABEL}">{_pct(v)}</text>'
                    f'<text x="{_f(x)}" y="{top + plot_h + 16}" text-anchor="middle" fill="{LABEL}">{_esc(week)}</text>')
    body.append(f'<line x1="{_f(left)}" y1="{top + plot_h}" x2="{_f(left + plot_w)}" y2="{top + plot_h}" '
                f'stroke="{DOMAIN}"/>'
                f'<text x="{_f(left + plot_w / 2)}" y="{top + plot_h + 34}" text-anchor="middle" fill="{LABEL}">'
                f'{_esc(week_label)}</text>')
    return _svg(left + plot_w + 10, top + plot_h + 42, rate_label, body)


def sparkline(rows: list[dict], rate_label: str, width: float = 96, height: float = 24) -> str:
    """A shop's short-shipment rate by week in a table cell (rows: week, short_rate; oldest
    first): a small line, its last point marked, each point's week and rate on hover."""
    values = [(str(r["week"]), float(r["short_rate"] or 0)) for r in rows]
    top = max((v for _, v in values), default=0) or 1.0
    step = (width - 8) / max(len(values) - 1, 1)
    points = [(4 + i * step if len(values) > 1 else width / 2, height - 4 - v / top * (height - 8))
              for i, (_, v) in enumerate(values)]
    body = [f'<line x1="2" y1="{_f(height - 3)}" x2="{_f(width - 2)}" y2="{_f(height - 3)}" stroke="{GRID}"/>']
    if len(points) > 1:
        body.append(f'<polyline class="mark" fill="none" stroke="#c8413b" stroke-width="1.5" '
                    f'points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in points)}"/>')
    for i, ((week, v), (x, y)) in enumerate(zip(values, points)):
        last = i == len(values) - 1
        body.append(f'<circle class="mark" cx="{_f(x)}" cy="{_f(y)}" r="{2.5 if last else 1.5}" fill="#c8413b" '
                    f'data-week="{_esc(week)}" data-rate="{v:.6f}"><title>{_esc(week)}: {_pct(v)}</title></circle>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
            f'viewBox="0 0 {_f(width)} {_f(height)}" role="img" aria-label="{_esc(rate_label)}">'
            f'<title>{_esc(rate_label)}</title>{"".join(body)}</svg>')
