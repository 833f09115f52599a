"""The order of a flag's evidence (sql/flags/flags.sql `summed`): primary first, then the most
confident, then by rule; rows alike in those keys by their text, and rows alike in the text too
by their facts. The text is rendered only for rows alike in the keys, the facts carried only
for rows alike in the text: the order must be the same as if both were carried for every row."""
from __future__ import annotations

from pipeline import db
from tests.flag.conftest import signals_built
from tests.flag.test_refund_signals import SHORT_LEGACY, build


def test_rows_alike_are_ordered_by_text_then_facts(tmp_path):
    with signals_built(build(), tmp_path) as (con, params):
        kind = con.execute("select kind from fl_kinds where order_id = ?", [SHORT_LEGACY]).fetchone()[0]
        # the order's evidence replaced by four rows alike in the keys (primary, confidence,
        # rule), inserted out of order: two alike in their text too, the larger facts first
        con.execute("""create temp table _base as select * from fl_evidence
                       where order_id = ? and kind = ? and rule <> 'data_problem' limit 1""", [SHORT_LEGACY, kind])
        con.execute("delete from fl_evidence where order_id = ?", [SHORT_LEGACY])
        # (a code the catalogue does not know is said as itself; `x` is in no template, so it
        # changes the facts and not the text)
        for code, x in (("zz_b", "1"), ("zz_c", "2"), ("zz_a", "1"), ("zz_c", "1")):
            con.execute("""insert into fl_evidence by name
                           select * replace ([struct_pack(sep := 'none', code := $code,
                                                          args := map(['x'], [$x]))] as facts)
                           from _base""", {"code": code, "x": x})
        sql = db.model_sql("flags/flags.sql")
        con.execute(f"create temp table _flags as {sql}", db.bound(sql, params))
        facts, text = con.execute("select evidence_facts, evidence from _flags where order_id = ?",
                                  [SHORT_LEGACY]).fetchone()
        got = [(f["code"], dict(f["args"])["x"]) for f in facts if f["code"].startswith("zz_")]
        assert got == [("zz_a", "1"), ("zz_b", "1"), ("zz_c", "1"), ("zz_c", "2")]
        assert text.index("zz_a") < text.index("zz_b") < text.index("zz_c")
