"""Explanations in the reader's language (issue 22): the evidence is kept as facts and said from
the catalogue, Chinese by default and English with --lang en. One run of the sample shop in
each language (module fixtures); every Chinese file for people is scanned for English words."""
from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline import explain
from pipeline.cli import cli
from pipeline.locale import messages

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
AS_OF = "2017-07-01 00:00:00"

# an ASCII word: a run of letters not inside a token with digits, '-', '_' or '.' (ids, SKU
# codes like TQ0366-0184, rule ids like text_words, file names like ExportOrderList2017.csv)
WORD = re.compile(r"(?<![A-Za-z0-9_.\-/])[A-Za-z]{2,}(?![A-Za-z0-9_.\-/])")
# the rest allowed in a Chinese file: names written so in Chinese too (the product, ERP), and the
# codes a reader types into a file, quoted beside their Chinese (判定 merchant 商家 …; the
# shipments file's optional columns packer, warehouse)
ALLOWED = {"shortship", "ERP", "merchant", "courier", "buyer", "packer", "warehouse",
           "kg", "PDF", "tmall"}  # units and names Chinese writes so; the policy's platform


def _data_words() -> set[str]:
    """Words the exports themselves hold (a size XL in 商品属性): quoted data, not our English."""
    words = set()
    for path in SAMPLE.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            for enc in ("utf-8-sig", "gb18030"):
                try:
                    text = raw.decode(enc)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                continue
            # values only: the header line holds column names
            words |= set(WORD.findall(text.split("\n", 1)[-1]))
    return words


def _run(tmp: Path, lang: str) -> Path:
    out = tmp / f"out_{lang}"
    r = CliRunner().invoke(cli, ["run", str(SAMPLE), "--db", str(tmp / f"{lang}.duckdb"), "--create",
                                 "--out", str(out), "--as-of", AS_OF, "--lang", lang, "--xlsx"])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("language")
    return {"zh": _run(tmp, "zh"), "en": _run(tmp, "en")}


def _english_words(text: str, data: frozenset = frozenset()) -> set[str]:
    return {w for w in WORD.findall(text) if w not in ALLOWED and w not in data}


def _visible(page: str) -> str:
    """The text a reader sees on a page: no style, no tags (attributes hold codes for tools)."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _explanations(out: Path) -> dict[str, str]:
    """name -> the texts a shop owner reads as explanations in each file of the set."""
    texts = {}
    flags = pq.read_table(out / "flags.parquet")
    texts["flags.parquet evidence"] = "\n".join(flags.column("evidence").to_pylist())
    with open(out / "review.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    # the evidence and the lines (证据, 商品明细 / evidence, lines): the columns of words
    cols = [i for i, h in enumerate(head) if h in ("证据", "商品明细", "evidence", "lines")]
    texts["review.csv"] = "\n".join(r[i] for r in rows[1:] for i in cols)
    texts["report.html"] = _visible((out / "report.html").read_text(encoding="utf-8"))
    pages = sorted((out / "evidence").rglob("*.html"))
    assert pages
    texts["evidence pages"] = "\n".join(_visible(p.read_text(encoding="utf-8")) for p in pages)
    from openpyxl import load_workbook
    wb = load_workbook(out / "liabilities.xlsx", read_only=True)
    sheet = wb[messages("zh" if "zh" in out.name else "en").pgettext("sheet", "review")]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(c) for c in rows[0]]
    cols = [i for i, h in enumerate(header) if h in ("证据", "商品明细", "evidence", "lines")]
    assert cols, header
    texts["liabilities.xlsx review sheet"] = "\n".join(str(r[i] or "") for r in rows[2:] for i in cols)
    return texts


def test_no_english_word_in_a_chinese_explanation(runs):
    texts = _explanations(runs["zh"])
    data = frozenset(_data_words())
    for name, text in texts.items():
        assert text.strip(), name
        words = _english_words(text, data)
        assert not words, f"{name}: English words {sorted(words)[:10]}"
    assert "买家尚未投诉" in texts["flags.parquet evidence"]
    assert "责任未定（仅有买家或商家的陈述）" in texts["review.csv"]
    assert "买家后续订单" in texts["flags.parquet evidence"] and "实付" in texts["review.csv"]


def test_english_run_says_the_same_facts_in_english(runs):
    zh, en = pq.read_table(runs["zh"] / "flags.parquet"), pq.read_table(runs["en"] / "flags.parquet")
    assert zh.column("evidence_facts").to_pylist() == en.column("evidence_facts").to_pylist()
    texts = _explanations(runs["en"])
    ev = texts["flags.parquet evidence"]
    assert "No complaint from the buyer yet" in ev and "make-up on the buyer's later order" in ev
    assert "Responsibility undetermined (nothing beyond the buyer's or the seller's words)" in ev
    assert "实付" not in texts["review.csv"] and ", paid " in texts["review.csv"]
    for name, text in texts.items():
        assert "责任未定" not in text and "买家尚未投诉" not in text, name


def test_every_fact_the_run_gives_has_a_sentence_in_both_catalogues(runs):
    zh, en = explain.templates("zh"), explain.templates("en")
    facts = [f for fs in pq.read_table(runs["zh"] / "flags.parquet").column("evidence_facts").to_pylist()
             for f in fs]
    codes = {f["code"] for f in facts}
    assert len(codes) >= 20  # the sample gives many kinds of evidence
    assert not codes - set(explain.TEMPLATES)
    for f in facts:  # every argument a template names is given, and nothing is left unsaid
        names = set(re.findall(r"\{(\w+)\}", en[f["code"]]))
        assert names <= {k for k, _ in f["args"]}, f
    for text in pq.read_table(runs["zh"] / "flags.parquet").column("evidence").to_pylist():
        assert not re.search(r"\{\w+\}", text)


def test_every_fact_code_has_a_translated_template_with_the_same_placeholders():
    zh, en = explain.templates("zh"), explain.templates("en")
    for code, (context, message) in {**explain.SEPARATORS, **explain.TEMPLATES}.items():
        assert en[code] == message, code                      # English: the message id itself
        assert zh[code].strip() or message.strip() == "", code
        assert sorted(re.findall(r"\{(\w+)\}", zh[code])) == sorted(re.findall(r"\{(\w+)\}", message)), code
        assert not _english_words(re.sub(r"\{\w+\}", "", zh[code])), (code, zh[code])


def test_every_fact_code_the_sql_builds_has_a_template():
    """The literal codes given to fl_fact / fl_fact0 in sql/, and the families built from a
    value (responsibility.<responsibility>, resp.the_data.<...>, ...)."""
    literal = re.compile(r"fl_fact0?\(\s*'\w+'\s*,\s*'([\w.]+)'")
    codes = set()
    for path in (ROOT / "sql").rglob("*.sql"):
        codes |= set(literal.findall(path.read_text(encoding="utf-8")))
        codes |= set(re.findall(r"then '((?:problem|resp|refund|refund_amount|shipments|makeup|words|unshipped|"
                                r"parcel_weight|lines|line)\.[\w.]*\w)'", path.read_text(encoding="utf-8")))
    assert len(codes) > 40
    missing = sorted(c for c in codes if c not in explain.TEMPLATES and not c.endswith(".")
                     and not c.startswith("makeup.quote"))
    assert not missing
    for family, values in {"responsibility.": ("merchant", "courier", "buyer", "undetermined", "no_fault"),
                           "resp.the_data.": ("merchant", "courier", "buyer", "undetermined"),
                           "resp.data_alone.": ("merchant", "courier", "buyer"),
                           "makeup.quote": ("", ".packing", ".one_act"),
                           "refund_amount.explained_by.": ("closed_line", "damage"),
                           "awaiting.": ("order_not_loaded", "lines_not_loaded")}.items():
        for v in values:
            assert family + v in explain.TEMPLATES, family + v
