"""The staging macros' fast paths and the items line numbering give what the plain forms gave.

The cleaning macros (sql/schema/00_macros.sql; ss_clean, all three in one step) test a value's
first and last character before trimming or unwrapping it and keep IN lists short (DuckDB turns a long IN list into a join);
line_no is numbered by the merge over (order_id, line) alone. The reference macros below are
the earlier, plain forms: every value of awkward input must come out the same either way.
"""
from pipeline.load import load_paths

# the plain forms the staging macros had before their fast paths
REFERENCE_MACROS = r"""
create or replace temp macro ref_trim(x) as
    case
        when ascii(x) in (32, 9, 10, 13, 160, 12288, 65279)
          or ascii(right(x, 1)) in (32, 9, 10, 13, 160, 12288)
            then trim(x, ' ' || chr(9) || chr(10) || chr(13) || chr(12288) || chr(65279) || chr(160))
        else x
    end;
create or replace temp macro ref_unwrap(s) as
    case
        when starts_with(s, '="') and ends_with(s, '"') then trim(s[3:-2])
        when starts_with(s, '''') then s[2:]
        else s
    end;
create or replace temp macro ref_null(s) as
    case when s in ('', 'null', 'NULL', '=""', '订单未关闭', '无退款申请', '没有申请退款', '-') then null else s end;
create or replace temp macro ref_tracking(t) as
    nullif(regexp_replace(t, '^No[:：]\s*', ''), '');
create or replace temp macro ref_bool(t) as
    case
        when lower(t) in ('true', 't', '1', 'yes', 'y', '是', '需要') then true
        when lower(t) in ('false', 'f', '0', 'no', 'n', '否', '不需要') then false
    end;
"""

AWKWARD = [
    "¥1,200.50", " 12 ", "1.2E+17", '="123"', '= "123"', '="123', "'0012", " '0012", "\u3000订单未关闭\u3000",
    "订单未关闭", "无退款申请", "没有申请退款", "-", " - ", "null", "NULL", '=""', ' ="" ', "", " ", "\t",
    "\ufeff2017-05-01 10:00:00", "2017-05-01 10:00:00\ufeff", "abc\u00a0", "\u00a0abc", "a\u3000", "a\r", "\na",
    "交易成功", "颜色分类：红色 ", "20028696589650728", "2.14073E+16", "'", "=", '"', '""', "a b", "是", "否",
    "需要", "不需要", "TRUE", "Y", "n", "0", "1", "yes", "No", "x\u3000\u3000", "  =\"  45 \"  ",
    # the edges of ss_clean's test on the first character
    "<a", ">a", "=a", "/", "0 ", "\u009fa", "\u00a1a", "\u2fffa", "\u3000", "\u3001a", "\u4dffa", "\u4e00 ",
    "\u4e00", "\ufefea", "\ufeff", "\ufeffa", "a\ufeff", "\uff01a", "【a】", "null ", " null", "订单未关闭 ",
    "'订单未关闭", '="null"', "'-", "--", "nullx", "订单未关闭了", "\t订单未关闭",
    # tracking numbers
    "No:YT123", "No：YT1", "No: ", "No:", "No", "Nox", "no:1", "ANo:1", "No:\tA", "NoNo:1",
]


def test_cleaning_macros_match_the_plain_forms(con):
    for stmt in REFERENCE_MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)
    con.execute("create temp table v (x varchar)")
    con.executemany("insert into v values (?)", [[a] for a in AWKWARD] + [[None]])
    rows = con.execute(
        """select x,
                  ref_null(ref_unwrap(ref_trim(x))) as ref_clean,
                  ss_null(ss_unwrap(ss_trim(x)))    as new_clean,
                  ss_clean(x)                       as one_step,
                  ref_bool(x) as ref_b, ss_bool(x) as new_b,
                  ref_tracking(x) as ref_t, ss_tracking(x) as new_t
           from v"""
    ).fetchall()
    for x, ref_clean, new_clean, one_step, ref_b, new_b, ref_t, new_t in rows:
        assert new_t == ref_t, repr(x)
        assert new_clean == ref_clean, repr(x)
        assert one_step == ref_clean, repr(x)
        assert new_b == ref_b, repr(x)


# values of the typed columns: plain forms, and each with what cleaning removes around it
TYPED_AWKWARD = [
    "12", "12.5", "12.50", "12.500", "1,200", "1,200.50", "¥12", "12元", "0012", "12.0", "99999999.99",
    "100000000", "12345678901", "1.2345", "2017-05-01 10:00:00", "2017-05-01 10:00", "2017/5/1 8:00",
    "2017-05-01", "20170501100000", "2017-05-01T10:00:00", "2017-05-01 10:00:00.123", "1999-12-31 23:59:59",
    "2100-01-01 00:00:00", "42000", "42000.5", "2017-13-45 10:00:00",
]
PADS = [("", ""), (" ", ""), ("", " "), ("\t", "\r\n"), ("", "\u3000"), ("\u00a0", ""), ("", "\ufeff"),
        ("\ufeff", ""), ("", "\v"), ("\v", ""), ('="', '"'), ("'", ""), (" '", " "), ("", " \v"), ("", "\v ")]


def test_typed_columns_skip_cleaning_in_their_plain_form_and_match_the_cleaned_forms(con):
    """A typed column's plain-form test (ss_*_plain, ss_ts_fast) lets a value skip ss_clean: its
    cleaned text (ss_clean_unless, ss_ts_text where a check reads it) and typed value
    (ss_*_typed) are what ss_clean and the type's macro give."""
    values = AWKWARD + [f"{a}{v}{b}" for v in TYPED_AWKWARD for a, b in PADS]
    con.execute("create temp table tv (x varchar)")
    con.executemany("insert into tv values (?)", [[v] for v in values] + [[None]])
    rows = con.execute(
        """select x, ss_clean(x) as c,
                  ss_clean_unless(x, ss_money_plain(x)) is not distinct from ss_clean(x),
                  ss_clean_unless(x, ss_int_plain(x)) is not distinct from ss_clean(x),
                  ss_clean_unless(x, ss_weight_plain(x)) is not distinct from ss_clean(x),
                  ss_clean_unless(x, ss_id_plain(x)) is not distinct from ss_clean(x),
                  ss_money_typed(ss_clean_unless(x, ss_money_plain(x)), ss_money_plain(x))
                      is not distinct from ss_money(ss_clean(x)),
                  ss_int_typed(ss_clean_unless(x, ss_int_plain(x)), ss_int_plain(x))
                      is not distinct from ss_int(ss_clean(x)),
                  ss_weight_typed(ss_clean_unless(x, ss_weight_plain(x)), ss_weight_plain(x))
                      is not distinct from ss_weight(ss_clean(x)),
                  ss_ts_typed(ss_ts_text(x, ss_ts_fast(x)), ss_ts_fast(x)) is not distinct from ss_ts(ss_clean(x)),
                  ss_id_problem_raw(ss_clean(x), ss_id_plain(x)) is not distinct from ss_id_problem(ss_clean(x)),
                  ss_ts_text(x, ss_ts_fast(x)), ss_ts(ss_clean(x))
           from tv"""
    ).fetchall()
    for x, c, *same, ts_text, t in rows:
        assert all(same), (repr(x), same)
        if t is None or not (2000 <= t.year < 2100):  # a check quotes the date's text
            assert ts_text == c, repr(x)
    # the padded plain forms really type (both the plain path and the cleaned one ran)
    assert con.execute("select count(*) from tv where ss_money(ss_clean(x)) is not null").fetchone()[0] > 40
    assert con.execute("select count(*) from tv where ss_ts_fast(x) is not null").fetchone()[0] > 60


def test_line_no_numbers_each_orders_lines_in_export_order(con, tmp_path):
    # the lines of an order are not next to each other, and one of them is rejected
    header = "主订单编号,标题,价格,购买数量,商家编码,订单状态"
    rows = [
        "111,A,1.00,1,SA,交易成功",
        "222,B,2.00,1,SB,交易成功",
        "111,C,3.00,x,SC,交易成功",  # bad quantity: rejected, still counted in the numbering
        "333,D,4.00,1,SD,交易成功",
        "222,E,5.00,2,SE,交易成功",
        "111,F,6.00,1,SF,交易成功",
    ]
    f = tmp_path / "ExportOrderDetailList201705311200.csv"
    f.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    (r,) = load_paths(con, [f])
    assert (r.rows_in, r.loaded, r.rejected) == (6, 5, 1)
    got = con.execute("select order_id, line_no, sku, line from order_lines order by order_id, line_no").fetchall()
    assert got == [
        ("111", 1, "SA", 2), ("111", 3, "SF", 7),
        ("222", 1, "SB", 3), ("222", 2, "SE", 6),
        ("333", 1, "SD", 5),
    ]


# one small export per kind, each with a row that does not type, a broken quote and (where the
# kind has a key) a key twice; and an unrelated older export of the kind, loaded first so that
# the same file then takes the merge path instead of the first load's direct insert
FIRST_VS_MERGE = {
    "orders": ("订单编号,买家会员名,买家实际支付金额,订单状态",
               ['="111",a,10.00,交易成功', '="222",b,1,2,交易成功', '="333",c,x,交易成功', '="111",d,12.00,交易成功',
                '444,"e,5.00,交易成功'],
               ['="999",z,1.00,交易成功']),
    "items": ("主订单编号,标题,价格,购买数量,商家编码,订单状态",
              ["111,A,1.00,1,SA,交易成功", "222,B,2.00,1,SB,交易成功", "111,C,3.00,x,SC,交易成功",
               '111,"D,4.00,1,SD,交易成功', "222,E,5.00,2,SE,交易成功", "111,F,6.00,1,SF,交易成功"],
              ["999,Z,1.00,1,SZ,交易成功"]),
    "refunds": ("订单编号,退款编号,买家退款金额,退款状态",
                ["111,501,10.00,退款成功", "222,502,x,退款成功", "111,501,15.00,退款成功", '333,"503,1.00,退款成功'],
                ["999,509,1.00,退款成功"]),
    "shipments": ("order_id,sku,quantity,shipped_at,tracking_no,weight_kg,reship",
                  ["111,SA,1,2017-05-31 10:00:00,T1,0.5,false", "111,SA,1,2017-05-31 10:00:00,T1,0.5,false",
                   "222,SB,1,not a date,T2,0.5,false", '333,"SC,1,2017-05-31 10:00:00,T3,0.5,false'],
                  ["999,SZ,1,2017-05-30 10:00:00,T9,0.5,false"]),
}
TABLES = {"orders": "orders", "items": "order_lines", "refunds": "refunds", "shipments": "shipments"}


def test_a_first_load_gives_what_the_merge_gives(tmp_path):
    from pipeline import db

    def load(folder: str, older: bool) -> dict:
        con = db.connect(tmp_path / f"{folder}.duckdb")
        got = {}
        for kind, (header, rows, other) in FIRST_VS_MERGE.items():
            d = tmp_path / folder / kind
            d.mkdir(parents=True)
            if older:
                (d / "old_201705010000.csv").write_text("\n".join([header, *other]) + "\n", encoding="utf-8")
                load_paths(con, [d / "old_201705010000.csv"], kind=kind)
            f = d / "new_201706010000.csv"
            f.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
            (r,) = load_paths(con, [f], kind=kind)
            table = TABLES[kind]
            got[kind] = (
                (r.rows_in, r.loaded, r.rejected, r.replaced),
                con.execute(f"select * exclude (load_id, source_file) from {table} where load_id = ? order by all",
                            [con.execute("select max(load_id) from load_manifest").fetchone()[0]]).fetchall(),
                con.execute("select line, reason from rejects where source_file = ? order by line", [str(f)]).fetchall(),
            )
        con.close()
        return got

    first, merged = load("first", older=False), load("merged", older=True)
    for kind in FIRST_VS_MERGE:
        assert first[kind] == merged[kind], kind
        counts, rows, rejects = first[kind]
        assert counts[2] >= 2 and rows and rejects, kind  # the rejects and the rows are really there
    assert first["orders"][0][3] == 1 and first["refunds"][0][3] == 1  # a key twice: the earlier line replaced
    # the rejected line 4 counts in order 111's numbering; the refused line 5 never reached the parser
    assert [r[:2] for r in first["items"][1]] == [("111", 1), ("111", 3), ("222", 1), ("222", 2)]


def test_a_first_load_writes_unordered_and_sets_the_order_back(tmp_path, monkeypatch):
    """A first load's insert runs with preserve_insertion_order off (db.unordered) and leaves it
    on, also when the block fails; the rows are the file's, numbered by their `line`."""
    import pytest

    from pipeline import db

    con = db.connect(tmp_path / "u.duckdb")
    setting = "select current_setting('preserve_insertion_order')"
    seen = []
    real = db.unordered

    def spy(c):
        seen.append(c.execute(setting).fetchone()[0])
        return real(c)

    monkeypatch.setattr(db, "unordered", spy)
    header, rows, _ = FIRST_VS_MERGE["items"]
    f = tmp_path / "items_201706010000.csv"
    f.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    load_paths(con, [f], kind="items")
    monkeypatch.undo()
    assert seen == [True]  # the first load went through it
    assert con.execute(setting).fetchone()[0] is True
    assert con.execute("select list(line order by line) from order_lines").fetchone()[0] == [2, 3, 6, 7]
    with pytest.raises(ZeroDivisionError):
        with db.unordered(con):
            assert con.execute(setting).fetchone()[0] is False
            1 / 0
    assert con.execute(setting).fetchone()[0] is True
    con.close()
