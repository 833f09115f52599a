"""The message catalogue: every text shortship shows people, in Chinese (default) or English.

One gettext domain, `shortship`, with English message ids (the gettext convention), translated
in `pipeline/locale/<lang>/LC_MESSAGES/shortship.po` and compiled to the `.mo` files beside
them, which are committed (a fresh clone needs no build step; `tests/act/test_locale.py`
checks that they are compiled from the `.po` files as they stand and that every message the
code and the templates use is in them). To change a text: edit the code or template, then
`make locale` (extract, update the `.po` files, compile; needs Babel, a test dependency), fill
the new `msgstr`s and run it again.

Code values (status `owed`, kind `short`, ...) stay canonical in Parquet and SQL; people see
their labels, looked up with a context naming the field: `pgettext("status", "owed")` (see
`codes.py`, which lists them so that extraction finds them). The pages (report, evidence) show
labels in both languages; the tabular files (CSV, workbook) show Chinese labels, or with
`--lang en` the codes themselves (`Messages.cell`). Column headings of the files for
people are the context `column`: `pgettext("column", "order_id")` -> 订单编号; the English
catalogue leaves them canonical, so `--lang en` gives the names a tool maps.

Nothing here imports Babel: reading a `.mo` file is the standard library's `gettext`.
"""
from __future__ import annotations

import gettext as _gettext
import re
from functools import lru_cache
from pathlib import Path

from pipeline import resources
from pipeline.errors import ShortshipError

DOMAIN = "shortship"
LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
# the language whose tabular files (CSV, workbook) keep the canonical column names and codes
CANONICAL_LANG = "en"


def mo_path(lang: str):
    """The compiled catalogue of `lang` (found by pipeline.resources, installed or in the checkout)."""
    return resources.catalogue(lang)


def po_path(lang: str) -> Path:
    """The catalogue's source in the checkout (written by `make locale`)."""
    return resources.source_dir() / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


class Messages:
    """The texts of one language: gettext, ngettext, pgettext, and labels of code values."""

    def __init__(self, lang: str, translations: _gettext.NullTranslations):
        self.lang = lang
        self._t = translations

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._t.pgettext(context, message)

    def code(self, field: str, value: object) -> str:
        """The label of a canonical value (`code("status", "owed")`); unknown values as they are."""
        if value is None:
            return ""
        return self._t.pgettext(field, str(value))

    def cell(self, field: str, value: object) -> str:
        """A code value in a tabular file for people: labelled (zh), or the code itself in the
        canonical language (en), so that an import maps the same values as in the Parquet files."""
        if value is None:
            return ""
        return str(value) if self.lang == CANONICAL_LANG else self._t.pgettext(field, str(value))

    def heading(self, column: str) -> str:
        """The heading of a column in the files for people (zh: 订单编号; en: order_id)."""
        return self._t.pgettext("column", column)


@lru_cache(maxsize=None)
def messages(lang: str | None = None) -> Messages:
    """The catalogue of `lang` (zh, the default, or en)."""
    lang = lang or DEFAULT_LANG
    if lang not in LANGS:
        raise ShortshipError(f"--lang {lang!r}: expected one of {', '.join(LANGS)}")
    path = mo_path(lang)
    try:
        with path.open("rb") as f:
            t = _gettext.GNUTranslations(f)
    except OSError as e:
        raise ShortshipError(f"{path}: cannot read the message catalogue ({e.strerror})") from None
    return Messages(lang, t)


# --- personal data in quoted text (SPEC section 6) ----------------------------------------

# a mainland mobile number (11 digits from 13x-19x), also written 136-1234-5678 or 136 1234 5678,
# not inside a longer run of digits (order ids are 16-19 digits)
# (each pattern starts with its literal digit and looks behind it, `1(?<![0-9]1)` = no digit
# before the 1: the same matches as a look-behind first, found 5 times faster, since the regex
# engine then skips to each 1 (or 0) instead of trying every position of the text)
_MOBILE = re.compile(r"(1(?<![0-9]1)[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
# a fixed line with its area code: 010-12345678, 0571-8765432
_LANDLINE = re.compile(r"(0(?<![0-9]0)[1-9][0-9]{1,2})-([0-9]{3,4})([0-9]{4})(?![0-9])")


def mask_phones(text: object) -> str:
    """Phone numbers in quoted free text masked: 13607942067 -> 136****2067."""
    if text is None:
        return ""
    s = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", str(text))
    return _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", s)
