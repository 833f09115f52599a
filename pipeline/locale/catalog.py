"""Build the message catalogue with Babel: extract, update the .po files, compile the .mo files.

    python -m pipeline.locale.catalog          # extract + update + compile (`make locale`)
    python -m pipeline.locale.catalog compile  # the .mo files from the .po files only

Babel is a test / development dependency: the pipeline itself reads the compiled `.mo` files
with the standard library (pipeline/locale/__init__.py) and never imports this module.

Messages are extracted from the Python files that speak to people (SOURCES) and from every
Jinja2 template under pipeline/ (`{{ _("...") }}`, `{% trans %}`, `pgettext`).
"""
from __future__ import annotations

import io
import sys

from pipeline import resources
from pipeline.locale import DOMAIN, LANGS, po_path

PACKAGE_DIR = resources.source_dir()  # the checkout's pipeline/: this tool writes into it
POT = PACKAGE_DIR / "locale" / f"{DOMAIN}.pot"
# the Python modules whose gettext calls are messages (relative to pipeline/)
SOURCES = ("locale/codes.py", "report/*.py", "act/*.py", "export_xlsx.py", "run.py")
TEMPLATES = ("report/templates/*.html",)
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}


def extract():
    """Every message the code and the templates use, as a Babel Catalog."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    catalog = Catalog(project="shortship", version="1", charset="utf-8")
    jobs = [(p, "python") for pat in SOURCES for p in sorted(PACKAGE_DIR.glob(pat))]
    jobs += [(p, "jinja2.ext:babel_extract") for pat in TEMPLATES for p in sorted(PACKAGE_DIR.glob(pat))]
    for path, method in jobs:
        options = {"trimmed": "true"} if method.startswith("jinja2") else {}
        for lineno, message, comments, context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            catalog.add(message, None, [(path.relative_to(PACKAGE_DIR).as_posix(), lineno)],
                        auto_comments=comments, context=context)
    return catalog


def read_po(lang: str):
    from babel.messages.pofile import read_po as _read

    with open(po_path(lang), "rb") as f:
        return _read(f, locale=lang, domain=DOMAIN)


def compiled(lang: str) -> bytes:
    """The .mo file the .po file of `lang` compiles to (fuzzy entries left out)."""
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, read_po(lang), use_fuzzy=False)
    return buf.getvalue()


def update() -> None:
    """Write the template (.pot) and merge it into each language's .po (new messages empty,
    obsolete ones dropped)."""
    from babel.messages.pofile import write_po

    template = extract()
    with open(POT, "wb") as f:
        write_po(f, template, width=100, omit_header=False, sort_output=False, no_location=False)
    for lang in LANGS:
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            catalog = read_po(lang)
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
        else:
            from babel.messages.catalog import Catalog

            catalog = Catalog(locale=lang, domain=DOMAIN, project="shortship", version="1", charset="utf-8")
            catalog.update(template, no_fuzzy_matching=True)
        with open(path, "wb") as f:
            write_po(f, catalog, width=100, sort_output=False, include_previous=False)


def compile_all() -> None:
    for lang in LANGS:
        po_path(lang).with_suffix(".mo").write_bytes(compiled(lang))  # beside its .po file


def main(argv: list[str]) -> int:
    if argv[:1] != ["compile"]:
        update()
    compile_all()
    for lang in LANGS:
        c = read_po(lang)
        empty = [m.id for m in c if m.id and not m.string and lang != "en"]
        print(f"{lang}: {len(c)} messages" + (f", {len(empty)} without a translation" if empty else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
