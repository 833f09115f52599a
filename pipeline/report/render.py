"""The Jinja2 environment of report.html (and of the frame of the evidence pages: base.html).

Autoescaping is on for every template: a value from the data can never become markup. The
texts come from the message catalogue (`pipeline.locale`) through the i18n extension
(`{{ _("...") }}`, `{% trans %}`, `pgettext`); values are formatted by the filters below.
Templates live beside the code that fills them: pipeline/report/templates (base.html, the
report). The evidence pages are built in Python (pipeline/act/page.py) inside base.html.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

import os

import jinja2
import jinja2.ext
from jinja2.lexer import Token
from markupsafe import Markup, escape

from pipeline import resources, tmpspace
from pipeline.locale import Messages, mask_phones, messages

ZERO = Decimal("0.00")


def money(value) -> str:
    """1,234.56 (yuan, two places); empty for NULL."""
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}"


def plain_money(value) -> str:
    """Money for data-* attributes and CSV cells: no separators, two places."""
    return str((Decimal(value) if value is not None else ZERO).quantize(Decimal("0.01")))


def ts(value) -> str:
    """YYYY-MM-DD HH:MM (China time, as exported); a date as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def ts_full(value) -> str:
    """YYYY-MM-DD HH:MM:SS."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return ts(value)


def number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def kg(value) -> str:
    return "" if value is None else f"{Decimal(value):.3f}"


def pct(value, places: int = 1) -> str:
    return "" if value is None else f"{100 * float(value):.{places}f} %"


def rate(value) -> str:
    """A policy rate as a percentage without trailing zeros: 0.30 -> 30 %, 0.125 -> 12.5 %."""
    if value is None:
        return ""
    d = (Decimal(value) * 100).normalize()
    return f"{d:f} %"


class ConstantGettext(jinja2.ext.Extension):
    """`_("text")` without arguments becomes the translated string when a template is
    compiled (one environment per language): evidence pages are rendered by the thousand, and
    a gettext call through the template runtime costs more than the rest of a table row.
    Calls with arguments (`_("%(n)s orders", n=x)`) stay calls of the i18n extension."""

    def filter_stream(self, stream):
        translate = self.environment.globals["_constant_gettext"]
        buf: list[Token] = []
        for tok in stream:
            buf.append(tok)
            if (len(buf) >= 4 and buf[-1].type == "rparen" and buf[-2].type == "string" and buf[-3].type == "lparen"
                    and buf[-4].type == "name" and buf[-4].value == "_"
                    and not (len(buf) >= 5 and buf[-5].type == "dot")):
                s = buf[-2]
                del buf[-4:]
                buf.append(Token(s.lineno, "string", translate(s.value)))
            while len(buf) > 5:
                yield buf.pop(0)
        yield from buf


def _source_filter(m: Messages):
    line_label = m.gettext("line %(n)s")
    lines_label = m.gettext("lines %(n)s")

    def source(file, line=None) -> Markup:
        """The source of a fact: its file's name (the full path on hover) and line(s)."""
        if file is None:
            return Markup("")
        if isinstance(line, (list, tuple)):
            where = lines_label % {"n": ", ".join(str(x) for x in line)}
        elif line is not None:
            where = line_label % {"n": line}
        else:
            where = ""
        file = str(file)
        return Markup(f'<span class="src" title="{escape(file)}">{escape(os.path.basename(file))}'
                      f'{escape(" · " + where) if where else ""}</span>')

    return source


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """The compiled templates kept between processes (in pipeline.tmpspace.cache_dir(), the
    private per-user folder that also keeps the empty database of the schema), so that a run does not compile report.html
    again each time (about 0.1 s of a small run). A template's code depends on more than its
    source: ConstantGettext puts the language's translations into it, and the code of this
    package and of Jinja2 shape it; so the key names the language and the checksum covers the
    package's code and catalogues (pipeline.resources.fingerprint) and the Jinja2 version. A
    cache that cannot be read or written is no cache: the template is compiled as before."""

    def __init__(self, lang: str, directory: str):
        super().__init__(directory)
        self.lang = lang
        self.salt = f"{lang}\0{resources.fingerprint()}\0{jinja2.__version__}\0"

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(f"shortship\0{self.lang}\0{name}", filename)

    def get_source_checksum(self, source: str) -> str:
        return super().get_source_checksum(self.salt + source)

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache(lang: str) -> jinja2.BytecodeCache | None:
    cache = tmpspace.cache_dir()  # None: SHORTSHIP_CACHE=0, or no private folder of ours
    if cache is None:
        return None
    try:
        (cache / "templates").mkdir(exist_ok=True)
        return _TemplateCache(lang, str(cache / "templates"))
    except OSError:
        return None


@lru_cache(maxsize=None)
def environment(lang: str) -> jinja2.Environment:
    """One environment per language (templates compiled once per process, and kept compiled
    between processes: _TemplateCache)."""
    m = messages(lang)
    env = jinja2.Environment(
        loader=resources.template_loader(),
        bytecode_cache=_template_cache(lang),
        autoescape=True,
        extensions=["jinja2.ext.i18n", ConstantGettext],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["_constant_gettext"] = m.gettext  # before any template is compiled (ConstantGettext)
    env.install_gettext_callables(m.gettext, m.ngettext, newstyle=True, pgettext=m.pgettext)
    env.filters.update(
        money=money, plain_money=plain_money, ts=ts, ts_full=ts_full, number=number, kg=kg, pct=pct, rate=rate,
        mask=mask_phones, code=lambda value, field: m.code(field, value), source=_source_filter(m),
    )
    env.globals.update(lang=lang, html_lang="zh-CN" if lang == "zh" else "en")
    return env


def render(template: str, lang: str, **context) -> str:
    return environment(lang).get_template(template).render(**context)
