from contextlib import contextmanager
from datetime import datetime

import pytest

from pipeline import db, flag
from pipeline.flag import flag_orders
from pipeline.policy import load_policy

AS_OF = datetime(2017, 6, 20, 0, 0, 0)


def flag_rows(con, as_of=AS_OF, policy=None, run_id="test-run"):
    """Run detection and return {order_id: row as dict}."""
    flag_orders(con, as_of, policy or load_policy("tmall"), run_id)
    cur = con.execute("select * from flags order by order_id")
    cols = [d[0] for d in cur.description]
    return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}


@contextmanager
def signals_built(shop, folder, as_of=AS_OF, run_id="test-run"):
    """A database in `folder` holding `shop`'s exports, with the signals and the detection's
    scratch tables built in an open transaction (rolled back at the end): yields the connection
    and the parameters of the models, to run a model of sql/flags on that scratch."""
    con = db.connect(folder / "signals.duckdb")
    try:
        shop.load(con, folder / "exports")
        policy = load_policy("tmall")
        con.execute("BEGIN")
        flag.build_signals(con, as_of, policy, run_id)
        yield con, {**flag._params(as_of, policy, run_id), **flag.pattern_params(con)}
        con.execute("ROLLBACK")
    finally:
        con.close()


@pytest.fixture
def con(tmp_path):
    c = db.connect(tmp_path / "flag.duckdb")
    yield c
    c.close()
