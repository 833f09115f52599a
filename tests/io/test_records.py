"""The record rule (pipeline/io/records.py): where records start and end, for the transcoder,
the header reader and DuckDB alike."""
import csv
import itertools
import random
import re

import duckdb
import pytest

from pipeline.io import records as R


def split(lines, fields=None, d=","):
    s = R.RecordSplitter(d, 0, fields)
    s.feed(lines)
    return s


def emitted(s):
    """(line, record text) of what a splitter wrote."""
    out = []
    for rec in s.out:
        num, _, text = rec[:-1].partition(s.d)
        out.append((int(num), text))
    return out


def test_the_fast_path_only_takes_whole_well_formed_records():
    """Every line of up to 8 characters over a, `"` and `,`: a line the fast path takes as a
    record is one by the exact scan; what the scan calls a record has the fields Python's
    strict csv reader finds."""
    taken = 0
    for n in range(1, 9):
        for chars in itertools.product('a",', repeat=n):
            line = "".join(chars)
            exact = R.scan(line, ",")[0]
            s = split([line])
            if s.records and not s.rejects and exact != R._CLOSED:
                pytest.fail(f"{line!r} taken as a record but its quoting is broken")
            if exact == R._CLOSED:
                taken += 1
                assert R.split_fields(line, ",") == next(csv.reader([line], strict=True)), line
    assert taken > 1000


# the record grammar with bare formulas, as a regular expression: a reference to check the
# splitter against (a field is quoted, a formula ="..." or unquoted; the three cannot overlap)
_FIELD = r'(?:"(?:[^"]|"")*"|="(?:[^"]|"")*"|[^",]*)'
_RECORD = re.compile(f"{_FIELD}(?:,{_FIELD})*")


def _reference_fields(line: str) -> list[str] | None:
    """The field values of `line` by the grammar (None when it is not a record)."""
    if not _RECORD.fullmatch(line):
        return None
    out, pos = [], 0
    while True:
        m = re.compile(_FIELD).match(line, pos)
        f = m.group(0)
        if f.startswith('="'):
            f = f[1:]
        out.append(f[1:-1].replace('""', '"') if f.startswith('"') else f)
        pos = m.end()
        if pos == len(line):
            return out
        pos += 1  # the delimiter


def test_bare_formulas_every_short_line():
    """Every line of up to 7 characters over a, `"`, `,` and `=`: the splitter takes a line as
    a record exactly when the grammar does, and what it hands DuckDB (formulas written as quoted
    fields) reads, by Python's strict csv reader, as the grammar's field values."""
    formulas = 0
    for n in range(1, 8):
        for chars in itertools.product('a",=', repeat=n):
            line = "".join(chars)
            want = _reference_fields(line)
            s = split([line])
            if R.is_blank(line, ","):
                continue
            if want is None:
                assert not s.out and s.rejects, line
                continue
            assert s.records == 1 and not s.rejects, line
            (_, text), = emitted(s)
            assert next(csv.reader([text], strict=True)) == want, line
            assert R.split_fields(line, ",") == want, line
            formulas += '="' in line
    assert formulas > 500


def test_the_raw_legacy_rows():
    """Rows as the back office writes them (shared/real_raw): ids as bare formulas, an empty
    formula in the middle, a trailing comma on item rows, a phone with an apostrophe."""
    order = ('="35153131473293579","buyer1","201.12","买家已付款，等待卖家发货","","\'13800000001",'
             '"2017-07-08 00:42:32",="","否","0.00",""')
    item = '="35153131473293579","雪平锅","239.00","1","YO-PAN-20","颜色分类：20厘米锅",'
    s = split([order, item])
    assert not s.rejects
    got = [next(csv.reader([text], strict=True)) for _, text in emitted(s)]
    assert got[0][0] == "35153131473293579" and got[0][7] == "" and got[0][5] == "'13800000001"
    assert got[1][0] == "35153131473293579" and got[1][-1] == "" and len(got[1]) == 7
    # a formula whose text holds a quote, and a message with doubled quotes: the exact path
    s = split(['="1""2","a ""b"" c",=""'])
    assert [next(csv.reader([t], strict=True)) for _, t in emitted(s)] == [['1"2', 'a "b" c', '']]
    # a formula followed by text is not a formula: a stray quote, as before
    s = split(['="123"4,"a"', '="5","b"'])
    assert s.rejects == [(1, R.STRAY)] and [line for line, _ in emitted(s)] == [2]


def test_a_bare_quote_costs_its_own_line():
    s = split(["1,TV-55,1", '2,TV-55",1', "3,TV-56,1"], fields={3})
    assert [line for line, _ in emitted(s)] == [1, 3]
    assert s.rejects == [(2, R.STRAY)]


def test_a_quote_that_never_closes_is_refused_at_its_first_line_and_reading_resumes():
    lines = ['"1","交易成功","a"', '"2","交易成功,"b"', '"3","交易成功","c"', '"4","交易成功","d"']
    s = split(lines, fields={3})
    assert [line for line, _ in emitted(s)] == [1, 3, 4]
    assert s.rejects == [(2, R.UNCLOSED)]
    # the quote opens at the end of line 2 and nothing closes it: lines 3 and 4 are read again
    s = split(["1,a,x", '2,"b', "3,c,x", "4,d,x"], fields={3})
    assert [line for line, _ in emitted(s)] == [1, 3, 4] and s.rejects == [(2, R.UNCLOSED)]


def test_two_stray_quotes_do_not_make_one_record_of_the_lines_between():
    # line 2 opens a quote, line 5 closes it: read by quotes alone, lines 2 to 5 would be one
    # record of five fields; but lines 3 and 4 hold as many delimiters as a record: they are
    # records, so line 2 alone is refused, and line 5 has a stray quote
    lines = ["1,a,x,y,z", '2,"b,x,y,z', "3,c,x,y,z", "4,d,x,y,z", '5,e",x,y,z', "6,f,x,y,z"]
    s = split(lines, fields={5})
    assert [line for line, _ in emitted(s)] == [1, 3, 4, 6]
    assert s.rejects == [(2, R.UNCLOSED), (5, R.STRAY)]
    # a message line with a comma or two is message text
    s = split(['1,"第一行,还有', '第二行,是的",x,y,z', "2,b,x,y,z"], fields={5})
    assert [line for line, _ in emitted(s)] == [1, 3] and not s.rejects


def test_a_quoted_field_may_span_lines_up_to_the_cap(monkeypatch):
    s = split(['1,"a', "b", 'c",x', "2,d,x"], fields={3})
    assert emitted(s) == [(1, '1,"a\nb\nc",x'), (4, "2,d,x")] and not s.rejects
    monkeypatch.setattr(R, "MAX_RECORD_LINES", 2)
    s = split(['1,"a', "b", 'c",x', "2,d,x"], fields={3})
    assert [line for line, _ in emitted(s)] == [2, 4]  # "b" is a record of its own (of 1 field)
    assert s.rejects == [(1, R.UNCLOSED), (3, R.STRAY)]


def test_the_cap_in_characters(monkeypatch):
    monkeypatch.setattr(R, "MAX_RECORD_CHARS", 10)
    s = split(['1,"abcdef', 'ghijkl",x', "2,b,x"], fields={3})
    assert s.rejects[0] == (1, R.UNCLOSED) and (3, "2,b,x") in emitted(s)


def test_blank_lines_are_not_records():
    s = split(["1,a", "", "   ", ",,,", " , ,", "2,b"])
    assert [line for line, _ in emitted(s)] == [1, 6] and not s.rejects


def test_marked_lines_are_refused_with_their_reason():
    s = split(["1,a", R.MARK + "2,\x00b", "3,c"])
    assert s.rejects == [(2, R.NUL)] and [line for line, _ in emitted(s)] == [1, 3]


def test_tab_delimited():
    s = split(['"1"\t"a"', '2\t"b\tc"', '3\tx"y'], d="\t")
    assert [line for line, _ in emitted(s)] == [1, 2] and s.rejects == [(3, R.STRAY)]


def _random_lines(rng, n_fields, n):
    lines = []
    for _ in range(n):
        if rng.random() < 0.6:
            fields = [rng.choice(['a', '"a"', '"a,b"', '"x""y"', '', '""', '"p\nq"', '"""q"""', 'a b', '"=""1"""',
                                  '="1"', '=""', '="a,b"', '="p\nq"', '=a', '="x""y"'])
                      for _ in range(n_fields)]
            lines.extend(",".join(fields).split("\n"))
        else:
            lines.append("".join(rng.choice('ab",=\n') for _ in range(rng.randint(0, 9))))
    return R.physical_lines("\n".join(lines))


def test_duckdb_splits_the_numbered_copy_exactly_where_the_rule_did(tmp_path):
    """DuckDB's CSV reader on the splitter's output: one row or one reject per record written,
    each with its line number, and the fields the rule reads."""
    rng = random.Random(13)
    con = duckdb.connect()
    nf = 3
    cols = {f"c{i}": "VARCHAR" for i in range(nf + 1)}
    for trial in range(60):
        s = split(_random_lines(rng, nf, 40), fields={nf})
        recs = emitted(s)
        p = tmp_path / f"t{trial}.csv"
        p.write_text(s.take_output(), encoding="utf-8")
        rows = con.execute(
            "select * from read_csv($p, auto_detect=false, header=false, all_varchar=true, delim=',', quote='\"',"
            " escape='\"', columns=$cols, store_rejects=true)", {"p": str(p), "cols": cols}).fetchall()
        bad = con.execute("select distinct try_cast(regexp_extract(csv_line, '^([0-9]+)', 1) as bigint) "
                          "from reject_errors").fetchall()
        con.execute("delete from reject_errors")
        con.execute("delete from reject_scans")
        assert all(b[0] is not None for b in bad)
        assert len(rows) + len(bad) == len(recs) == s.records
        want = {}
        for line, text in recs:
            f = R.split_fields(text, ",")
            while len(f) > nf and f[-1] == "":  # DuckDB lets empty trailing fields go
                f.pop()
            if len(f) == nf:
                want[str(line)] = [str(line)] + f
        got = {r[0]: [x or "" for x in r] for r in rows}
        assert got == want
