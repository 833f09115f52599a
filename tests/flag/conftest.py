from datetime import datetime

import pytest

from pipeline import db
from pipeline.flag import flag_orders
from pipeline.policy import load_policy

AS_OF = datetime(2017, 6, 20, 0, 0, 0)


def flag_rows(con, as_of=AS_OF, policy=None, run_id="test-run"):
    """Run detection and return {order_id: row as dict}."""
    flag_orders(con, as_of, policy or load_policy("tmall"), run_id)
    cur = con.execute("select * from flags order by order_id")
    cols = [d[0] for d in cur.description]
    return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}


@pytest.fixture
def con(tmp_path):
    c = db.connect(tmp_path / "flag.duckdb")
    yield c
    c.close()
