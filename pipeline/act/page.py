"""The HTML of one evidence page (evidence/NN/<order_id>.html) from its facts (pipeline/act/facts.py).

A page is plain Python string building, not a template: the pages are rendered by the ten
thousand, and a Jinja2 template with autoescaping cost about a millisecond a page (an escape
filter and a Markup object per value, some 190 values a page). Here every value from the data
is escaped exactly once (`esc`), every text of the catalogue is translated and escaped once
per set (`PageTexts`), and the page's frame (head, CSS, footer) is the report's own base.html
rendered once per set with markers where the page goes.

The page holds the order's facts and the clock at which they last changed (`facts_as_of`),
never the run's id or the run's clock, so that a page changes only when its facts do.

Sections, in order: finding (flag and why the page), amounts and the rule applied, timeline,
the order and its lines, the make-up on the buyer's later order (or, on that order's page, the
earlier orders it makes up), parcels (shipments file), refunds, review decisions, source rows.
Every fact row carries `data-fact`, `data-id`, `data-file`, `data-line` (its source); the later
order's rows are `later_order`, `later_line` and `later_shipment`, each with `data-order`, and
its events in the timeline (`later_paid`, `later_shipped`, `later_parcel`) name it too. The
pages of the two orders link to each other when both are in the set.
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from pipeline.act.facts import PageFacts
from pipeline.locale import Messages, mask_phones, messages
from pipeline.policy import Policy
from pipeline.setdata import page_href_from_page

_FAR = datetime.max


try:  # markupsafe's C escaper (the same five escapes), about 3 x the str.replace chain below
    from markupsafe._speedups import _escape_inner as _c_escape
except ImportError:  # no compiled speedups on this platform: the chain below
    _c_escape = None


def esc(value) -> str:
    """A value as HTML text or attribute (the escapes of markupsafe): & < > " '."""
    if value.__class__ is str and _c_escape is not None:
        return _c_escape(value)
    s = value if isinstance(value, str) else str(value)
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))



def _texts_dl(t, row) -> str:
    """The buyer's message and the seller's memo of an order row as <dt>/<dd> pairs (phones masked)."""
    out = ""
    if row.buyer_message:
        out += f'    <dt>{t["buyer_message"]}</dt><dd class="quote">{esc(mask_phones(row.buyer_message))}</dd>\n'
    if row.seller_memo:
        out += f'    <dt>{t["seller_memo"]}</dt><dd class="quote">{esc(mask_phones(row.seller_memo))}</dd>\n'
    return out

def _money(v) -> str:
    if v is None:
        return ""
    return format(v if v.__class__ is Decimal else Decimal(v), ",.2f")


def _plain_money(v) -> str:
    return str((Decimal(v) if v is not None else Decimal("0.00")).quantize(Decimal("0.01")))


def _ts(v) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="minutes")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _ts_full(v) -> str:
    if isinstance(v, datetime):
        return v.isoformat(" ", "seconds")
    return _ts(v)


def _kg(v) -> str:
    if v is None:
        return ""
    return format(v if v.__class__ is Decimal else Decimal(v), ".3f")


def _rate(v) -> str:
    if v is None:
        return ""
    return f"{(Decimal(v) * 100).normalize():f} %"


def _opt(v) -> str:
    if v is None:
        return ""
    if v.__class__ is int:  # line numbers, quantities: nothing to escape
        return str(v)
    return esc(v)


def _frame_template():
    """base.html (the pages' head, CSS and footer, shared with the report) with markers where a
    page goes; read as a file of the package (pipeline.resources), not through the report's code."""
    import jinja2

    from pipeline import resources

    base = resources.package().joinpath("report", "templates", "base.html").read_text(encoding="utf-8")
    env = jinja2.Environment(loader=jinja2.DictLoader({"base.html": base}), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True)
    return env.from_string('{% extends "base.html" %}{% block title %}@@TITLE@@{% endblock %}'
                           '{% block header %}@@HEADER@@{% endblock %}{% block content %}@@CONTENT@@{% endblock %}'
                           '{% block footer %}@@FOOTER@@{% endblock %}')


class PageTexts:
    """Every text of a page in one language, translated and escaped once (per set)."""

    def __init__(self, lang: str):
        m: Messages = messages(lang)
        self.m = m
        self.lang = lang
        _ = m.gettext
        t = {
            "shop": _("Shop"), "buyer_id": _("Buyer id"), "policy": _("Policy"), "finding": _("Finding"),
            "status": _("Status"), "kind": _("Kind"), "responsibility": _("Responsibility"),
            "confidence": _("Confidence"), "units": _("Units concerned"), "not_determined": _("not determined"),
            "paid_value": _("Paid value of the goods concerned"), "yuan": _("yuan"),
            "rules_fired": _("Rules that fired"), "detection": _("Detection's evidence"),
            "not_flagged": _("This order is not flagged in this run."), "why": _("Why this page"),
            "decided_reason": _("a review decision was loaded"), "on_request": _("Page written on request"),
            "amounts": _("Amounts and the rule applied"),
            "base": _("Base: paid for the goods concerned, postage excluded"), "penalty_rule": _("Penalty rule"),
            "owed_yuan": _("Penalty owed now (yuan)"), "floor_applied": _("floor applied"),
            "cap_applied": _("cap applied"), "owed_points": _("Penalty owed now (points)"),
            "goods_refund": _("Goods still to refund (yuan)"), "freight": _("Freight the shop bears (yuan)"),
            "total": _("Total (yuan)"),
            "avoided": _("Penalty avoided by re-shipping before the deadline (yuan)"),
            "claimable": _("Claimable from the courier: goods value (yuan)"),
            "claim_rule": _("Courier claim rule (see courier_claims.csv)"),
            "deadline": _("Ship-by deadline (re-ship before it to cure)"), "cures": _("cures"),
            "no_cure": _("does not cure"), "timeline": _("Timeline"), "time": _("Time"), "event": _("Event"),
            "details": _("Details"), "source": _("Source"), "created": _("Order created"), "paid": _("Paid"),
            "shipped": _("Shipped (order export)"), "confirmed": _("Receipt confirmed"),
            "ship_by": _("Ship-by deadline"), "reshipment": _("Re-shipment (补发) parcel"), "parcel": _("Parcel"),
            "no_tracking": _("(no tracking number)"), "light": _("light"), "as_expected": _("as expected"),
            "no_learnt": _("no expected weight learnt for these SKUs"), "no_weight": _("no weight"),
            "refund_requested": _("Refund requested"), "refund_finished": _("Refund finished"),
            "decision": _("Review decision"), "facts_as_of": _("Facts as of this time"), "the_order": _("The order"),
            "order_status": _("Order status"), "amounts_order": _("Goods, postage, paid (yuan)"),
            "carrier": _("Carrier, tracking number"), "buyer_message": _("Buyer message"),
            "seller_memo": _("Seller memo"), "order_lines": _("Order lines"), "sku": _("SKU code"),
            "title": _("Title"), "attributes": _("Attributes"), "price": _("Price"), "qty": _("Qty"),
            "line_paid": _("Paid for the line"), "no_lines": _("No item export rows for this order."),
            "parcels": _("Parcels (shipments file)"), "shipped_h": _("Shipped"), "tracking": _("Tracking number"),
            "weight": _("Weight (kg)"), "reship_h": _("Re-shipment"), "yes": _("yes"), "no": _("no"),
            "no_parcels": _("The shipments file holds no parcel of this order."),
            "refunds": _("Refunds and after-sales"), "reason": _("Reason"), "description": _("Description"),
            "goods_status": _("Goods status"), "aftersale": _("After-sales type"), "return": _("Return needed"),
            "cs": _("Customer service (客服介入)"), "responsible": _("Responsible party (责任方)"),
            "goods": _("Goods"), "times": _("Applied, finished, timeout"), "no_refund": _("No refund of this order."),
            "decisions": _("Review decisions"), "decided": _("Decided"), "decision_h": _("Decision"),
            "units_missing": _("Units missing"), "by": _("By"), "note": _("Note"), "sources": _("Source rows"),
        }
        # a make-up traced between this order and the buyer's other order (the notes)
        t.update({
            "makeups": _("Make-up on the buyer's later order"),
            "makeups_note": _("A text of the buyer's later order was read as a make-up (补发) of goods of this "
                              "order: that order's payment, the text, its parcel and the rows they were read from."),
            "later_order": _("The buyer's later order"),
            "made_up": _("Make-up for the buyer's earlier order"),
            "made_up_note": _("A text of this order was read as a make-up (补发) of goods of the buyer's earlier "
                              "order:"),
            "earlier_order": _("The buyer's earlier order"),
            "no_page": _("no evidence page in this set"),
            "later_paid": _("Paid (the buyer's later order)"),
            "later_shipped": _("Shipped (order export, the buyer's later order)"),
            "later_parcel": _("Parcel (the buyer's later order)"),
            "later_reship": _("Re-shipment (补发) parcel (the buyer's later order)"),
            "later_rows": _("the buyer's later order"),
            "no_ship_time": _("after its payment; the export gives no ship time"),
        })
        self.t = {k: esc(v) for k, v in t.items()}
        # texts with placeholders: the translation, filled then escaped
        self.title = _("Evidence: order %(id)s")
        self.facts_as_of = _("Facts as of %(t)s (China time)")
        self.rule_text = _("%(rate)s × base, at least %(floor)s yuan, at most %(cap)s yuan (%(scope)s)")
        self.policy_note = _("Policy %(id)s (%(platform)s, effective %(date)s): ship window %(hours)s h; a timely "
                             "re-shipment %(cures)s; freight %(freight)s yuan per parcel, borne by the shop when at "
                             "fault; paid as %(form)s, %(ppy)s per yuan.")
        self.paid_text = _("%(amount)s yuan, postage %(postage)s")
        self.ship_by_text = _("paid time + %(h)s h")
        self.weighed = _("weighed %(w)s kg")
        self.expected = _("expected %(e)s ± %(s)s kg")
        self.refunded = _("refunded %(r)s")
        self.hold_text = _("nothing moves in the ledger until it clears: %(hold)s")
        self.weights_note = _("Expected weights are learnt from this shop's own parcels of the same SKUs shipped "
                              "alone (the median, and its usual scatter); a parcel is light when it weighs less than "
                              "expected by more than %(k)s times that scatter.")
        self.line_label = m.gettext("line %(n)s")
        self.lines_label = m.gettext("lines %(n)s")
        footer = esc(_("Written by shortship from the exports listed above; each fact names the file and line it "
                       "was read from. Phone numbers in quoted text are masked. Print this page to PDF from the "
                       "browser for 举证."))
        # the frame: base.html (the report's head and CSS) rendered once, cut where the page goes
        marks = ("@@TITLE@@", "@@HEADER@@", "@@CONTENT@@")
        frame = _frame_template().render(html_lang="zh-CN" if lang == "zh" else "en")
        a, rest = frame.split(marks[0], 1)
        b, rest = rest.split(marks[1], 1)
        c, rest = rest.split(marks[2], 1)
        d, e = rest.split("@@FOOTER@@", 1)
        self.frame = (a, b, c, d + footer + e)
        # what renders the pages (the code, the frame, the catalogue: pipeline.resources'
        # fingerprint of the package) and in what language: pages rendered by another version or
        # in another language are rendered again
        from pipeline import resources

        self.key = hashlib.sha256(f"{resources.fingerprint()}|{lang}|{''.join(self.frame)}".encode()).hexdigest()[:32]
        self._codes: dict[tuple[str, object], str] = {}
        self._sources: dict[str, str] = {}
        # " · line N" escaped around N, when the label holds N once (else `source` fills it)
        mark = "\x00"
        try:
            one = self.line_label % {"n": mark}
        except (KeyError, TypeError, ValueError):  # a label that does not take N as text
            one = ""
        self._line_parts = ((esc(" · " + one.split(mark)[0]), esc(one.split(mark)[1]))
                            if one.count(mark) == 1 and mark not in self.line_label else None)
        self._paths: dict[str, str] = {}

    def code(self, field: str, value) -> str:
        """The label of a code value, escaped (memoized: a handful of values per field)."""
        key = (field, value)
        got = self._codes.get(key)
        if got is None:
            got = self._codes[key] = esc(self.m.code(field, value))
        return got

    def path(self, file) -> str:
        """A source file's path, escaped (once a file)."""
        if file is None:
            return ""
        got = self._paths.get(file)
        if got is None:
            got = self._paths[file] = esc(file)
        return got

    def source(self, file, line=None) -> str:
        """The source of a fact: its file's name (the full path on hover) and line(s)."""
        if file is None:
            return ""
        if line.__class__ is int and self._line_parts is not None:
            # the common case, one line: the label escaped once around the number (escaping
            # goes character by character, and a number has nothing to escape)
            head = self._sources.get(file) if file.__class__ is str else None
            if head is not None:
                pre, post = self._line_parts
                return f"{head}{pre}{line}{post}</span>"
        if isinstance(line, (list, tuple)):
            where = self.lines_label % {"n": ", ".join(str(x) for x in line)}
        elif line is not None:
            where = self.line_label % {"n": line}
        else:
            where = ""
        file = str(file)
        head = self._sources.get(file)
        if head is None:  # a handful of files: escaped once each
            head = self._sources[file] = f'<span class="src" title="{esc(file)}">{esc(os.path.basename(file))}'
        return f'{head}{esc(" · " + where) if where else ""}</span>'


# --- the page -------------------------------------------------------------------------------

def _events(f: PageFacts, facts_as_of: datetime | None) -> list[tuple]:
    """The order's events in time order (undated ones last): (at, what, source, payload)."""
    o, flag, liab = f.order, f.flag, f.liability
    ev: list[tuple] = []
    src = (o.source_file, o.line) if o else None
    if o:
        ev.append((o.created_at, "created", src, None))
        ev.append((o.paid_at, "paid", src, o))
        if o.shipped_at:
            ev.append((o.shipped_at, "shipped", src, o))
        if o.confirmed_at:
            ev.append((o.confirmed_at, "confirmed", src, None))
    ship_by = (flag.ship_by if flag else None) or (liab.deadline if liab else None)
    if ship_by:
        ev.append((ship_by, "ship_by", None, None))
    for p in f.parcels:
        ev.append((p.shipped_at, "reshipped" if p.reship else "parcel",
                   (p.source_files[0], p.lines) if p.source_files else None, p))
    for r in f.refunds:
        ev.append((r.applied_at, "refund_applied", (r.source_file, r.line), r))
        if r.finished_at:
            ev.append((r.finished_at, "refund_finished", (r.source_file, r.line), r))
    for d in f.decisions:
        ev.append((d.decided_at, "decided", (d.source_file, d.line), d))
    # the buyer's later order whose text makes up goods of this one: its payment (with the
    # text), its shipping in the order export and its parcels in the shipments file
    for m in f.makeups:
        src = (m.source_file, m.line)
        ev.append((m.paid_at, "later_paid", src, m))
        if m.shipped_at:
            ev.append((m.shipped_at, "later_shipped", src, m))
        elif m.tracking_no:  # shipped at a time the export does not give: after its payment
            ev.append((m.paid_at, "later_shipped", src, m))
    for p in f.makeup_parcels:
        ev.append((p.shipped_at, "later_parcel", (p.source_files[0], p.lines) if p.source_files else None, p))
    if facts_as_of is not None:
        ev.append((facts_as_of, "facts_as_of", None, None))
    return sorted(ev, key=lambda e: (e[0] or _FAR, 1 if e[1] == "facts_as_of" else 0))


def _sources(f: PageFacts) -> list[tuple[str, list[int]]]:
    found: dict[str, set[int]] = defaultdict(set)
    if f.order:
        found[f.order.source_file].add(f.order.line)
    for rows in (f.lines, f.refunds, f.decisions, f.shipment_rows):
        for r in rows:
            if r.source_file is not None and r.line is not None:
                found[r.source_file].add(r.line)
    return sorted((path, sorted(lines)) for path, lines in found.items())


def _later_sources(f: PageFacts) -> list[tuple[str, str, list[int]]]:
    """The rows of the buyer's later orders (make-ups): (later order, file, lines)."""
    found: dict[tuple[str, str], set[int]] = defaultdict(set)
    for rows in (f.makeups, f.makeup_lines, f.makeup_shipment_rows):
        for r in rows:
            if r.source_file is not None and r.line is not None:
                found[(r.later_id, r.source_file)].add(r.line)
    return sorted((oid, path, sorted(lines)) for (oid, path), lines in found.items())


def _ref(order_id: str, has_page: bool) -> str:
    """An order id, linked to its page when it has one beside this page."""
    if has_page:
        return f'<a class="mono" href="{esc(page_href_from_page(order_id))}">{esc(order_id)}</a>'
    return f'<span class="mono">{esc(order_id)}</span>'


def _parcel_text(p, t: dict, tx: "PageTexts") -> str:
    """A parcel's tracking number, contents and weight against the expected weight."""
    out = [f'<span class="mono">{esc(p.tracking_no) if p.tracking_no else t["no_tracking"]}</span>: '
           f'{_opt(p.contents)}; ']
    if p.weight_kg is not None:
        out.append(esc(tx.weighed % {"w": _kg(p.weight_kg)}))
        if p.expected_kg is not None:
            out.append(", " + esc(tx.expected % {"e": _kg(p.expected_kg), "s": _kg(p.sigma_kg)}))
            if p.light:
                out.append(f' <span class="tag light">{t["light"]}</span>')
            elif p.weight_ok:
                out.append(f' <span class="tag ok">{t["as_expected"]}</span>')
        else:
            out.append(f' ({t["no_learnt"]})')
    else:
        out.append(t["no_weight"])
    return "".join(out)


def _texts(m, t: dict) -> str:
    """The later order's text(s) read as the make-up, quoted, with the export column they are from."""
    parts = []
    if m.buyer_message:
        parts.append(f'{t["buyer_message"]} “{esc(mask_phones(m.buyer_message))}”')
    if m.seller_memo:
        parts.append(f'{t["seller_memo"]} “{esc(mask_phones(m.seller_memo))}”')
    return "; ".join(parts)


def render(f: PageFacts, tx: PageTexts, policy: Policy, facts_as_of: datetime | None) -> str:
    """The page of `f` (see the module doc); `facts_as_of`: the clock at which its facts last
    changed (the set's clock when they changed in this set)."""
    t = tx.t
    o, fl, li = f.order, f.flag, f.liability
    code, source = tx.code, tx.source
    title = esc(tx.title % {"id": f.order_id})
    out: list[str] = [tx.frame[0], title, tx.frame[1]]
    w = out.append

    # header
    w(f"\n  <h1>{title}</h1>\n  <p class=\"meta\">")
    if o:
        w(f"{t['shop']}: {_opt(o.shop)} · {t['buyer_id']}: {_opt(o.buyer)} · ")
    if facts_as_of is not None:
        w(esc(tx.facts_as_of % {"t": _ts(facts_as_of)}) + " · ")
    w(f"{t['policy']}: {esc(policy.id)}</p>\n")
    out.append(tx.frame[2])

    # finding
    w(f'<section id="finding">\n  <h2>{t["finding"]}</h2>\n')
    if fl:
        w('  <dl class="facts">\n')
        if li:
            hold = ""
            if li.hold:  # no money moves for it yet (awaiting data, a data problem)
                hold = (f' <span data-hold="{esc(li.hold)}">'
                        f'{esc(tx.hold_text % {"hold": tx.m.code("hold", li.hold)})}</span>')
            w(f'    <dt>{t["status"]}</dt><dd><span class="tag {esc(li.status)}" data-status="{esc(li.status)}">'
              f'{code("status", li.status)}</span>{hold}</dd>\n')
        else:
            w(f'    <dt>{t["status"]}</dt><dd></dd>\n')
        mq = fl.missing_qty
        w(f'    <dt>{t["kind"]}</dt><dd data-kind="{esc(fl.kind)}">{code("kind", fl.kind)}</dd>\n'
          f'    <dt>{t["responsibility"]}</dt><dd data-responsibility="{esc(fl.responsibility)}">'
          f'{code("responsibility", fl.responsibility)}</dd>\n'
          f'    <dt>{t["confidence"]}</dt><dd>{"%.2f" % fl.confidence if fl.confidence is not None else ""}</dd>\n'
          f'    <dt>{t["units"]}</dt><dd data-missing-qty="{"" if mq is None else mq}">'
          f'{t["not_determined"] if mq is None else mq}</dd>\n'
          f'    <dt>{t["paid_value"]}</dt><dd>{_money(fl.affected_amount)} {t["yuan"]}</dd>\n'
          f'    <dt>{t["rules_fired"]}</dt>\n    <dd>')
        for r in fl.rules or ():
            w(f'<span class="tag" title="{esc(r)}">{code("rule", r)}</span> ')
        w(f'</dd>\n    <dt>{t["detection"]}</dt><dd class="quote">{esc(mask_phones(fl.evidence))}</dd>\n  </dl>\n')
    else:
        w(f'  <p class="empty-note">{t["not_flagged"]}</p>\n')
    w('  <p class="note">')
    if f.reasons:
        w(t["why"] + ": " + ", ".join(t["decided_reason"] if r == "decided" else code("status", r) for r in f.reasons))
    else:
        w(t["on_request"])
    w(".</p>\n</section>\n")

    # amounts
    if li:
        rule = policy.rule_for(fl.kind) if fl else policy.penalty
        rule_text = tx.rule_text % {"rate": _rate(rule.rate), "floor": rule.floor_yuan, "cap": rule.cap_yuan,
                                    "scope": tx.m.code("cap_scope", rule.cap_scope)}
        w(f'\n<section id="amounts">\n  <h2>{t["amounts"]}</h2>\n  <table>\n    <tbody>\n'
          f'      <tr><td>{t["base"]}</td><td class="n">{_money(li.base_amount)}</td></tr>\n'
          f'      <tr><td>{t["penalty_rule"]}</td><td class="n">{esc(rule_text)}</td></tr>\n'
          f'      <tr><td>{t["owed_yuan"]}</td><td class="n" data-compensation-yuan="{_plain_money(li.compensation_yuan)}">'
          f'{_money(li.compensation_yuan)}{" (" + t["floor_applied"] + ")" if li.floor_applied else ""}'
          f'{" (" + t["cap_applied"] + ")" if li.cap_applied else ""}</td></tr>\n'
          f'      <tr><td>{t["owed_points"]}</td><td class="n">{"" if li.points is None else f"{li.points:,}"}</td></tr>\n'
          f'      <tr><td>{t["goods_refund"]}</td><td class="n">{_money(li.goods_refund_yuan)}</td></tr>\n'
          f'      <tr><td>{t["freight"]}</td><td class="n">{_money(li.freight_yuan)}</td></tr>\n'
          f'      <tr class="total"><td>{t["total"]}</td><td class="n" data-total-yuan="{_plain_money(li.total_yuan)}">'
          f'{_money(li.total_yuan)}</td></tr>\n')
        if li.status == "curable":
            w(f'      <tr><td>{t["avoided"]}</td><td class="n">{_money(li.at_risk_yuan)}</td></tr>\n')
        if li.status == "courier":
            mult = f" (× {esc(policy.courier_postage_multiple)})" if policy.courier_claim == "postage_multiple" else ""
            w(f'      <tr><td>{t["claimable"]}</td><td class="n">{_money(li.recoverable_yuan)}</td></tr>\n'
              f'      <tr><td>{t["claim_rule"]}</td><td class="n">{code("claim_rule", policy.courier_claim)}{mult}</td></tr>\n')
        note = tx.policy_note % {
            "id": policy.id, "platform": policy.platform, "date": policy.effective_date, "hours": policy.window_hours,
            "cures": tx.m.gettext("cures") if policy.reship_cures else tx.m.gettext("does not cure"),
            "freight": policy.freight_per_parcel, "form": tx.m.code("payout_form", rule.payout_form),
            "ppy": rule.points_per_yuan}
        w(f'      <tr><td>{t["deadline"]}</td><td class="n">{_ts(li.deadline)}</td></tr>\n    </tbody>\n  </table>\n'
          f'  <p class="note">{esc(note)}</p>\n</section>\n')

    # timeline
    w(f'\n<section id="timeline">\n  <h2>{t["timeline"]}</h2>\n  <table>\n'
      f'    <thead><tr><th>{t["time"]}</th><th>{t["event"]}</th><th>{t["details"]}</th><th>{t["source"]}</th></tr></thead>\n'
      '    <tbody>\n')
    for at, what, src, x in _events(f, facts_as_of):
        later = f' data-order="{esc(x.later_id)}"' if what.startswith("later_") else ""
        shown = x.shipped_at if what == "later_shipped" else at
        w(f'      <tr data-event="{what}"{later}><td class="n">{_ts_full(shown)}</td>')
        if what == "created":
            w(f'<td class="nw">{t["created"]}</td><td></td>')
        elif what == "paid":
            w(f'<td class="nw">{t["paid"]}</td><td>'
              f'{esc(tx.paid_text % {"amount": _money(x.paid_gross or x.paid_amount), "postage": _money(x.postage)})}</td>')
        elif what == "shipped":
            w(f'<td class="nw">{t["shipped"]}</td><td>{_opt(x.carrier)} <span class="mono">{_opt(x.tracking_no)}</span></td>')
        elif what == "confirmed":
            w(f'<td class="nw">{t["confirmed"]}</td><td></td>')
        elif what == "ship_by":
            w(f'<td class="nw">{t["ship_by"]}</td><td>{esc(tx.ship_by_text % {"h": policy.window_hours})}</td>')
        elif what in ("parcel", "reshipped"):
            w(f'<td class="nw">{t["reshipment"] if what == "reshipped" else t["parcel"]}</td>'
              f'<td>{_parcel_text(x, t, tx)}</td>')
        elif what == "later_paid":
            text = _texts(x, t)
            w(f'<td class="nw">{t["later_paid"]}</td><td>{_ref(x.later_id, x.has_page)}: '
              f'{esc(tx.paid_text % {"amount": _money(x.paid_gross or x.paid_amount), "postage": _money(x.postage)})}'
              f'{"; " + text if text else ""}</td>')
        elif what == "later_shipped":
            w(f'<td class="nw">{t["later_shipped"]}</td><td>{_ref(x.later_id, x.has_page)}: {_opt(x.carrier)} '
              f'<span class="mono">{_opt(x.tracking_no)}</span>'
              f'{"" if x.shipped_at else " (" + t["no_ship_time"] + ")"}</td>')
        elif what == "later_parcel":
            w(f'<td class="nw">{t["later_reship"] if x.reship else t["later_parcel"]}</td>'
              f'<td>{_ref(x.later_id, _has_page(f, x.later_id))}: {_parcel_text(x, t, tx)}</td>')
        elif what == "refund_applied":
            r = x
            st = f" → {code('refund_status', r.status)}" if r.status else ""
            w(f'<td class="nw">{t["refund_requested"]}</td><td><span class="mono">{esc(r.refund_id)}</span>: '
              f'{_money(r.refund_amount)} {t["yuan"]}, {_opt(r.reason)}{st}</td>')
        elif what == "refund_finished":
            r = x
            w(f'<td class="nw">{t["refund_finished"]}</td><td><span class="mono">{esc(r.refund_id)}</span>: '
              f'{_opt(r.status_raw)}</td>')
        elif what == "decided":
            d = x
            by = f" ({esc(d.decided_by)})" if d.decided_by else ""
            note = f": {esc(mask_phones(d.note))}" if d.note else ""
            w(f'<td class="nw">{t["decision"]}</td><td>{code("decision", d.decision)}{by}{note}</td>')
        elif what == "facts_as_of":
            w(f'<td class="nw">{t["facts_as_of"]}</td><td></td>')
        w(f'<td>{source(src[0], src[1]) if src else ""}</td></tr>\n')
    w("    </tbody>\n  </table>\n</section>\n")

    # the order
    if o:
        w(f'\n<section id="order">\n  <h2>{t["the_order"]}</h2>\n'
          f'  <dl class="facts" data-fact="order" data-id="{esc(o.order_id)}" data-file="{tx.path(o.source_file)}" '
          f'data-line="{_opt(o.line)}">\n'
          f'    <dt>{t["order_status"]}</dt><dd>{_opt(o.status_raw)}'
          f'{" (" + esc(o.close_reason) + ")" if o.close_reason else ""}</dd>\n'
          f'    <dt>{t["amounts_order"]}</dt><dd>{_money(o.goods_amount)}, {_money(o.postage)}, {_money(o.paid_amount)}'
          f'{" (" + esc(tx.refunded % {"r": _money(o.refund_amount)}) + ")" if o.refund_amount else ""}</dd>\n'
          f'    <dt>{t["carrier"]}</dt><dd>{_opt(o.carrier)} <span class="mono">{_opt(o.tracking_no)}</span></dd>\n')
        w(_texts_dl(t, o))
        w(f'    <dt>{t["source"]}</dt><dd>{source(o.source_file, o.line)}</dd>\n  </dl>\n'
          f'  <h3>{t["order_lines"]}</h3>\n  <table>\n'
          f'    <thead><tr><th>#</th><th>{t["sku"]}</th><th>{t["title"]}</th><th>{t["attributes"]}</th>'
          f'<th class="n">{t["price"]}</th><th class="n">{t["qty"]}</th><th class="n">{t["line_paid"]}</th>'
          f'<th>{t["status"]}</th><th>{t["source"]}</th></tr></thead>\n    <tbody>\n')
        for ln in f.lines:
            rs = f" · {esc(ln.refund_status)}" if ln.refund_status else ""
            w(f'      <tr data-fact="line" data-id="{_opt(ln.sku)}" data-qty="{_opt(ln.quantity)}" '
              f'data-file="{tx.path(ln.source_file)}" data-line="{_opt(ln.line)}"><td class="n">{_opt(ln.line_no)}</td>'
              f'<td class="mono">{_opt(ln.sku)}</td><td>{_opt(ln.title)}</td><td>{_opt(ln.attributes)}</td>'
              f'<td class="n">{_money(ln.price)}</td><td class="n">{_opt(ln.quantity)}</td>'
              f'<td class="n">{_money(ln.line_paid)}</td><td>{_opt(ln.status_raw)}{rs}</td>'
              f'<td>{source(ln.source_file, ln.line)}</td></tr>\n')
        if not f.lines:
            w(f'      <tr><td colspan="9" class="empty-note">{t["no_lines"]}</td></tr>\n')
        w("    </tbody>\n  </table>\n</section>\n")

    if f.makeups:
        _makeups(f, tx, w)
    if f.made_up:
        _made_up(f, tx, w)

    # parcels
    w(f'\n<section id="parcels">\n  <h2>{t["parcels"]}</h2>\n')
    if f.shipment_rows:
        w(f'  <table>\n    <thead><tr><th>{t["shipped_h"]}</th><th>{t["tracking"]}</th><th>{t["sku"]}</th>'
          f'<th class="n">{t["qty"]}</th><th class="n">{t["weight"]}</th><th>{t["reship_h"]}</th>'
          f'<th>{t["source"]}</th></tr></thead>\n    <tbody>\n')
        for s in f.shipment_rows:
            w(f'      <tr data-fact="shipment" data-id="{_opt(s.tracking_no)}" data-file="{tx.path(s.source_file)}" '
              f'data-line="{_opt(s.line)}"><td class="n">{_ts_full(s.shipped_at)}</td>'
              f'<td class="mono">{_opt(s.tracking_no)}</td><td class="mono">{_opt(s.sku)}</td>'
              f'<td class="n">{_opt(s.quantity)}</td><td class="n">{_kg(s.weight_kg)}</td>'
              f'<td>{t["yes"] if s.reship else ""}</td><td>{source(s.source_file, s.line)}</td></tr>\n')
        w(f'    </tbody>\n  </table>\n  <p class="note">{esc(tx.weights_note % {"k": policy.weight_noise})}</p>\n')
    else:
        w(f'  <p class="empty-note">{t["no_parcels"]}</p>\n')
    w("</section>\n")

    # refunds
    w(f'\n<section id="refunds">\n  <h2>{t["refunds"]}</h2>\n')
    for r in f.refunds:
        w(f'  <div data-fact="refund" data-id="{esc(r.refund_id)}" data-file="{tx.path(r.source_file)}" '
          f'data-line="{_opt(r.line)}">\n'
          f'  <h3><span class="mono">{esc(r.refund_id)}</span> · {_money(r.refund_amount)} {t["yuan"]} · '
          f'{_opt(r.status_raw)}</h3>\n  <dl class="facts">\n'
          f'    <dt>{t["reason"]}</dt><dd>{_opt(r.reason)}</dd>\n')
        if r.description:
            w(f'    <dt>{t["description"]}</dt><dd class="quote">{esc(mask_phones(r.description))}</dd>\n')
        w(f'    <dt>{t["goods_status"]}</dt><dd>{_opt(r.goods_status)}</dd>\n')
        if r.aftersale_type:
            w(f'    <dt>{t["aftersale"]}</dt><dd>{esc(r.aftersale_type)}</dd>\n')
        if r.return_required is not None:
            w(f'    <dt>{t["return"]}</dt><dd>{t["yes"] if r.return_required else t["no"]}</dd>\n')
        if r.cs_status:
            w(f'    <dt>{t["cs"]}</dt><dd>{esc(r.cs_status)}</dd>\n')
        if r.responsible_party:
            w(f'    <dt>{t["responsible"]}</dt><dd>{esc(r.responsible_party)}</dd>\n')
        if r.sku or r.title:
            w(f'    <dt>{t["goods"]}</dt><dd><span class="mono">{_opt(r.sku)}</span> {_opt(r.title)}</dd>\n')
        w(f'    <dt>{t["times"]}</dt><dd>{_ts_full(r.applied_at)} · {_ts_full(r.finished_at)} · '
          f'{_ts_full(r.timeout_at)}</dd>\n')
        if r.seller_memo:
            w(f'    <dt>{t["seller_memo"]}</dt><dd class="quote">{esc(mask_phones(r.seller_memo))}</dd>\n')
        w(f'    <dt>{t["source"]}</dt><dd>{source(r.source_file, r.line)}</dd>\n  </dl>\n  </div>\n')
    if not f.refunds:
        w(f'  <p class="empty-note">{t["no_refund"]}</p>\n')
    w("</section>\n")

    # decisions
    if f.decisions:
        w(f'\n<section id="decisions">\n  <h2>{t["decisions"]}</h2>\n  <table>\n'
          f'    <thead><tr><th>{t["decided"]}</th><th>{t["decision_h"]}</th><th class="n">{t["units_missing"]}</th>'
          f'<th>{t["by"]}</th><th>{t["note"]}</th><th>{t["source"]}</th></tr></thead>\n    <tbody>\n')
        for d in f.decisions:
            w(f'      <tr data-fact="decision" data-id="{esc(d.decision)}" data-file="{tx.path(d.source_file)}" '
              f'data-line="{_opt(d.line)}"><td class="n">{_ts_full(d.decided_at)}</td>'
              f'<td data-decision="{esc(d.decision)}">{code("decision", d.decision)}</td>'
              f'<td class="n">{_opt(d.missing_qty)}</td><td>{_opt(d.decided_by)}</td>'
              f'<td>{esc(mask_phones(d.note or ""))}</td><td>{source(d.source_file, d.line)}</td></tr>\n')
        w("    </tbody>\n  </table>\n</section>\n")

    # sources
    w(f'\n<section id="sources">\n  <h2>{t["sources"]}</h2>\n  <ul>\n')
    for path, lines in _sources(f):
        w(f'    <li><span class="mono">{esc(path)}</span>: {esc(tx.lines_label % {"n": ", ".join(map(str, lines))})}</li>\n')
    for oid, path, lines in _later_sources(f):
        w(f'    <li data-order="{esc(oid)}"><span class="mono">{esc(path)}</span>: '
          f'{esc(tx.lines_label % {"n": ", ".join(map(str, lines))})} ({t["later_rows"]} '
          f'{_ref(oid, _has_page(f, oid))})</li>\n')
    w("  </ul>\n</section>\n")
    out.append(tx.frame[3])
    return "".join(out)


def _has_page(f: PageFacts, later_id: str) -> bool:
    return any(m.has_page for m in f.makeups if m.later_id == later_id)


def _makeups(f: PageFacts, tx: PageTexts, w) -> None:
    """The buyer's later order(s) whose text makes up goods of this order: the order row, the
    text, its lines and its rows in the shipments file, each with its source."""
    t, source = tx.t, tx.source
    w(f'\n<section id="makeups">\n  <h2>{t["makeups"]}</h2>\n  <p class="note">{t["makeups_note"]}</p>\n')
    for m in f.makeups:
        oid = esc(m.later_id)
        w(f'  <div data-later-order="{oid}">\n  <h3>{t["later_order"]} {_ref(m.later_id, m.has_page)}'
          f'{"" if m.has_page else " (" + t["no_page"] + ")"}</h3>\n'
          f'  <dl class="facts" data-fact="later_order" data-id="{oid}" data-order="{oid}" '
          f'data-file="{tx.path(m.source_file)}" data-line="{_opt(m.line)}">\n'
          f'    <dt>{t["order_status"]}</dt><dd>{_opt(m.status_raw)}</dd>\n'
          f'    <dt>{t["paid"]}</dt><dd>{_ts_full(m.paid_at)} · '
          f'{esc(tx.paid_text % {"amount": _money(m.paid_gross or m.paid_amount), "postage": _money(m.postage)})}</dd>\n')
        w(_texts_dl(t, m))
        w(f'    <dt>{t["carrier"]}</dt><dd>{_opt(m.carrier)} <span class="mono">{_opt(m.tracking_no)}</span>'
          f'{" · " + _ts_full(m.shipped_at) if m.shipped_at else ""}</dd>\n'
          f'    <dt>{t["source"]}</dt><dd>{source(m.source_file, m.line)}</dd>\n  </dl>\n')
        lines = [ln for ln in f.makeup_lines if ln.later_id == m.later_id]
        if lines:
            w(f'  <table>\n    <thead><tr><th>#</th><th>{t["sku"]}</th><th>{t["title"]}</th><th>{t["attributes"]}</th>'
              f'<th class="n">{t["price"]}</th><th class="n">{t["qty"]}</th><th>{t["status"]}</th>'
              f'<th>{t["source"]}</th></tr></thead>\n    <tbody>\n')
            for ln in lines:
                w(f'      <tr data-fact="later_line" data-id="{_opt(ln.sku)}" data-order="{oid}" '
                  f'data-qty="{_opt(ln.quantity)}" data-file="{tx.path(ln.source_file)}" data-line="{_opt(ln.line)}">'
                  f'<td class="n">{_opt(ln.line_no)}</td><td class="mono">{_opt(ln.sku)}</td><td>{_opt(ln.title)}</td>'
                  f'<td>{_opt(ln.attributes)}</td><td class="n">{_money(ln.price)}</td>'
                  f'<td class="n">{_opt(ln.quantity)}</td><td>{_opt(ln.status_raw)}</td>'
                  f'<td>{source(ln.source_file, ln.line)}</td></tr>\n')
            w("    </tbody>\n  </table>\n")
        rows = [s for s in f.makeup_shipment_rows if s.later_id == m.later_id]
        if rows:
            w(f'  <table>\n    <thead><tr><th>{t["shipped_h"]}</th><th>{t["tracking"]}</th><th>{t["sku"]}</th>'
              f'<th class="n">{t["qty"]}</th><th class="n">{t["weight"]}</th><th>{t["reship_h"]}</th>'
              f'<th>{t["source"]}</th></tr></thead>\n    <tbody>\n')
            for s in rows:
                w(f'      <tr data-fact="later_shipment" data-id="{_opt(s.tracking_no)}" data-order="{oid}" '
                  f'data-file="{tx.path(s.source_file)}" data-line="{_opt(s.line)}"><td class="n">{_ts_full(s.shipped_at)}</td>'
                  f'<td class="mono">{_opt(s.tracking_no)}</td><td class="mono">{_opt(s.sku)}</td>'
                  f'<td class="n">{_opt(s.quantity)}</td><td class="n">{_kg(s.weight_kg)}</td>'
                  f'<td>{t["yes"] if s.reship else ""}</td><td>{source(s.source_file, s.line)}</td></tr>\n')
            w("    </tbody>\n  </table>\n")
        w("  </div>\n")
    w("</section>\n")


def _made_up(f: PageFacts, tx: PageTexts, w) -> None:
    """On the later order's page: the buyer's earlier orders its text makes up goods of."""
    t = tx.t
    o = f.order
    w(f'\n<section id="made-up">\n  <h2>{t["made_up"]}</h2>\n  <p class="note">{t["made_up_note"]}</p>\n  <ul>\n')
    for e in f.made_up:
        said = []
        if o is not None:
            if "买家留言" in (e.sources or ()) and o.buyer_message:
                said.append(f'{t["buyer_message"]} “{esc(mask_phones(o.buyer_message))}”')
            if "订单备注" in (e.sources or ()) and o.seller_memo:
                said.append(f'{t["seller_memo"]} “{esc(mask_phones(o.seller_memo))}”')
        paid = f' ({t["paid"]} {_ts_full(e.earlier_paid_at)})' if e.earlier_paid_at else ""
        w(f'    <li data-earlier-order="{esc(e.earlier_id)}">{t["earlier_order"]} {_ref(e.earlier_id, e.has_page)}'
          f'{paid}{"" if e.has_page else " (" + t["no_page"] + ")"}{": " + "; ".join(said) if said else ""}</li>\n')
    w("  </ul>\n</section>\n")
