"""The report's charts: Vega-Lite specifications rendered offline to inline SVG by vl-convert.

vl-convert-python bundles Vega-Lite and a JavaScript runtime in one wheel: no browser, no
network (`allowed_base_urls=[]`), no script in the page; the SVG it returns goes straight into
the HTML. The specifications are plain dicts (Vega-Lite's own JSON), not built with altair:
altair would add its import time (about a second here) and three dependencies to make the
same dicts.

The runtime starts on its first conversion (1-2 s on the benchmark machine); `prewarm()` starts
it in a thread (vl-convert releases the GIL) while the other outputs are written (the SQL of
reship.csv and courier_claims.csv), so the report seldom waits for it.
The data of a chart are the labelled values only (already localized by the caller); text in an
SVG is escaped by Vega.
"""
from __future__ import annotations

import re
import threading
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
FONT = 'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif'
CONFIG = {
    "font": FONT,
    "background": "#ffffff",
    "view": {"stroke": None},
    "axis": {"labelColor": "#5d6778", "titleColor": "#5d6778", "gridColor": "#e3e6ec", "domainColor": "#c9ced8",
             "tickColor": "#c9ced8", "labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": "normal"},
    "legend": {"labelColor": "#1d2430", "labelFontSize": 12, "symbolType": "square", "orient": "top",
               "title": None, "labelLimit": 260},
}

_warm: threading.Thread | None = None
_lock = threading.Lock()


def _convert(spec: dict[str, Any]) -> str:
    import vl_convert

    return vl_convert.vegalite_to_svg(spec, config=CONFIG, allowed_base_urls=[])


def prewarm() -> None:
    """Start the chart runtime in the background (idempotent)."""
    global _warm
    with _lock:
        if _warm is None:
            spec = {"data": {"values": [{"x": 1}]}, "mark": "point", "encoding": {"x": {"field": "x", "type": "quantitative"}}}
            _warm = threading.Thread(target=_convert, args=(spec,), name="chart-runtime", daemon=True)
            _warm.start()


def wait_warm() -> None:
    """Wait until a started runtime is up."""
    w = _warm
    if w is not None:
        w.join()


_XLINK = re.compile(r'\s+xmlns:xlink="[^"]*"')
_IDS = re.compile(r'(id="|url\(#|href="#)([A-Za-z][\w.-]*)')


def svg(spec: dict[str, Any], name: str) -> str:
    """The chart as an <svg> element: no XML declaration, no unused xlink namespace, and its
    element ids (Vega's clip paths) prefixed with `name`, so that several charts in one page
    do not share an id."""
    wait_warm()
    out = _convert({"$schema": "https://vega.github.io/schema/vega-lite/v5.json", **spec}).strip()
    if "xlink:" not in out:
        out = _XLINK.sub("", out, count=1)
    return _IDS.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", out)


def stacked_days(rows: list[dict], kinds: list[tuple[str, str]], day_label: str, count_label: str) -> str:
    """Flagged orders per day, one stacked bar per day, one colour per kind.
    rows: {day: 'YYYY-MM-DD', kind: code, n: int}; kinds: (code, label) in stacking order."""
    labels = dict(kinds)
    values = [{"day": r["day"], "kind": labels.get(r["kind"], r["kind"]), "n": r["n"],
               "o": [k for k, _ in kinds].index(r["kind"]) if r["kind"] in labels else 99} for r in rows]
    return svg(name="days", spec={
        "data": {"values": values},
        "width": max(360, min(900, 26 * len({r["day"] for r in rows}))),
        "height": 200,
        "mark": "bar",
        "encoding": {
            "x": {"field": "day", "type": "ordinal", "title": None,
                  "axis": {"labelAngle": -60, "labelExpr": "substring(datum.value, 5)"}},
            "y": {"aggregate": "sum", "field": "n", "type": "quantitative", "title": count_label},
            "color": {"field": "kind", "type": "nominal",
                      "scale": {"domain": [lab for _, lab in kinds], "range": [KIND_COLORS.get(k, "#999") for k, _ in kinds]}},
            "order": {"field": "o", "type": "quantitative"},
        },
    })


def status_bars(rows: list[dict], count_label: str) -> str:
    """Liabilities by status: one horizontal bar per status (rows: code, label, n, text)."""
    return svg(name="status", spec={
        "data": {"values": [{"status": r["label"], "n": r["n"], "text": r["text"]} for r in rows]},
        "width": 420,
        "height": {"step": 24},
        "padding": {"left": 5, "top": 5, "bottom": 5, "right": 150},  # room for the text past the longest bar
        "encoding": {
            "y": {"field": "status", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "n", "type": "quantitative", "title": count_label,
                  "axis": {"tickCount": 5, "labelOverlap": True, "format": "~s"}},
        },
        "layer": [
            {"mark": {"type": "bar", "cornerRadiusEnd": 3},
             "encoding": {"color": {"field": "status", "type": "nominal", "legend": None,
                                    "scale": {"domain": [r["label"] for r in rows],
                                              "range": [STATUS_COLORS.get(r["code"], "#9aa1ac") for r in rows]}}}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "color": "#5d6778"},
             "encoding": {"text": {"field": "text"}}},
        ],
    })


def weekly_trend(rows: list[dict], week_label: str, rate_label: str) -> str:
    """The short-shipment rate by week (rows: week 'YYYY-MM-DD' (Monday), rate)."""
    values = [{"week": r["week"], "rate": r["rate"]} for r in rows]
    return svg(name="trend", spec={
        "data": {"values": values},
        "width": max(320, min(900, 70 * len(values))),
        "height": 180,
        "encoding": {"x": {"field": "week", "type": "ordinal", "title": week_label, "axis": {"labelAngle": 0}}},
        "layer": [
            {"mark": {"type": "line", "point": True, "color": "#c8413b"},
             "encoding": {
                 "y": {"field": "rate", "type": "quantitative", "title": rate_label, "axis": {"format": ".1%"}}}},
            {"mark": {"type": "text", "dy": -10, "color": "#5d6778", "fontSize": 10},
             "encoding": {"y": {"field": "rate", "type": "quantitative"},
                          "text": {"field": "rate", "type": "quantitative", "format": ".1%"}}},
        ],
    })
