"""The message catalogue: compiled files up to date, every message of the code and templates
translated, every code value the pipeline produces labelled, phone numbers masked."""
from __future__ import annotations

import pytest

from pipeline.errors import ShortshipError
from pipeline.locale import LANGS, mask_phones, messages, mo_path

babel = pytest.importorskip("babel")


def test_compiled_catalogues_are_those_of_the_po_files():
    """The committed .mo files are what the .po files compile to (run `make locale` after
    editing a .po file)."""
    from pipeline.locale.catalog import compiled

    for lang in LANGS:
        assert mo_path(lang).read_bytes() == compiled(lang), f"{lang}: run `make locale`"


def test_every_message_of_the_code_and_templates_is_in_each_catalogue():
    from pipeline.locale.catalog import extract, read_po

    used = {(m.context, m.id) for m in extract() if m.id}
    assert len(used) > 200
    for lang in LANGS:
        have = {(m.context, m.id) for m in read_po(lang) if m.id}
        assert not used - have, f"{lang}: not in the catalogue (run `make locale`): {sorted(used - have)[:5]}"
        assert not have - used, f"{lang}: no longer used: {sorted(have - used)[:5]}"


def test_chinese_translates_everything_with_the_same_placeholders():
    from pipeline.locale.catalog import read_po

    for lang in LANGS:
        catalog = read_po(lang)
        assert not [m.id for m in catalog if m.fuzzy and m.id], f"{lang}: fuzzy entries"
        errors = [(m.id, str(e)) for m, errs in catalog.check() for e in errs]
        assert not errors, errors[:3]
    zh = read_po("zh")
    untranslated = [(m.context, m.id) for m in zh if m.id and not m.string]
    assert not untranslated, untranslated[:5]


def test_every_code_value_the_pipeline_produces_has_a_label():
    from pipeline.flag import DATA_PROBLEMS, RESPONSIBILITIES, RULES
    from pipeline.liabilities import HOLDS, STATUSES
    from pipeline.policy import CAP_SCOPES, COURIER_CLAIMS, FLAG_KINDS, PAYOUT_FORMS

    zh = messages("zh")
    fields = {
        "kind": FLAG_KINDS, "responsibility": RESPONSIBILITIES, "payout_form": PAYOUT_FORMS,
        "cap_scope": CAP_SCOPES, "claim_rule": COURIER_CLAIMS, "rule": tuple(RULES),
        "status": STATUSES, "hold": HOLDS, "problem": DATA_PROBLEMS,
        "payout_reason": ("new", "top_up", "reversal"),
        "decision": ("merchant", "courier", "buyer", "no_fault"),
    }
    for field, values in fields.items():
        for v in values:
            label = zh.code(field, v)
            assert label != v and label.strip(), f"{field}={v} has no Chinese label"
    assert zh.code("status", "owed") == "应赔付" and zh.code("kind", "short") == "少发/漏发"
    assert zh.code("status", "a-new-value") == "a-new-value"  # unknown values show as they are


def test_english_keeps_the_canonical_names_in_tabular_files():
    en, zh = messages("en"), messages("zh")
    assert en.heading("order_id") == "order_id" and zh.heading("order_id") == "订单编号"
    assert en.cell("status", "not_received") == "not_received"       # files: the code
    assert en.code("kind", "not_received") == "not received"         # pages: a label
    assert zh.cell("kind", "not_received") == "未收到货"
    assert zh.pgettext("sheet", "reship") == "待补发" and en.pgettext("sheet", "reship") == "reship"


def test_unknown_language_is_a_one_line_error():
    with pytest.raises(ShortshipError, match="--lang 'fr'"):
        messages("fr")


@pytest.mark.parametrize("text, want", [
    ("王美琴13607942067", "王美琴136****2067"),
    ("电话 136-0794-2067，谢谢", "电话 136****2067，谢谢"),
    ("call 136 0794 2067", "call 136****2067"),
    ("座机0571-87654321", "座机0571-****4321"),
    ("订单 20931074802310438 少发", "订单 20931074802310438 少发"),   # an order id is not a phone
    ("退款 12.00 元 2个", "退款 12.00 元 2个"),
    (None, ""),
])
def test_phone_numbers_are_masked(text, want):
    assert mask_phones(text) == want
