"""SetTable.iter_rows: every row once, in the model's order, a batch at a time, whatever the
table's rowids (from 0, from near 2**55 inside a transaction, with gaps)."""
from __future__ import annotations

import duckdb
import pytest

from pipeline.setdata import SetTable


def _table(con: duckdb.DuckDBPyConnection, n: int) -> SetTable:
    # the model's order is the rowid order: the rows inserted shuffled, so that it is not the value order
    con.execute("create or replace temp table _t as select i, 'row ' || i as label "
                "from range(?) r(i) order by hash(i)", [n])
    st = SetTable.__new__(SetTable)
    st.con, st.name = con, "_t"
    return st


def _expected(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return [{"i": i, "label": label} for i, label in con.execute("select i, label from _t order by rowid").fetchall()]


@pytest.mark.parametrize("in_transaction", [False, True])
@pytest.mark.parametrize("n,batch", [(0, 7), (1, 7), (7, 7), (50, 7), (1000, 64)])
def test_iter_rows_gives_every_row_in_order(n, batch, in_transaction):
    con = duckdb.connect()
    if in_transaction:
        con.execute("begin")
    st = _table(con, n)
    assert list(st.iter_rows(batch=batch)) == _expected(con)
    if in_transaction:
        assert n == 0 or con.execute("select min(rowid) from _t").fetchone()[0] > 2**40


def test_iter_rows_crosses_gaps_in_the_rowids():
    con = duckdb.connect()
    st = _table(con, 500)
    # whole batches' worth of rowids missing, and single rows
    con.execute("delete from _t where rowid between 20 and 200 or rowid in (3, 250, 499)")
    rows = list(st.iter_rows(batch=10))
    assert rows == _expected(con)
    assert len(rows) == 500 - 181 - 3


def test_iter_rows_lets_the_connection_run_other_queries_between_batches():
    con = duckdb.connect()
    st = _table(con, 100)
    seen = []
    for row in st.iter_rows(batch=10):
        seen.append(row)
        con.execute("select 1").fetchall()
    assert seen == _expected(con)
