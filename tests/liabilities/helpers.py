"""Helpers for the liabilities tests: orders, lines and flags inserted directly (no detection)."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pipeline.liabilities import append_ledger, compute_liabilities

PAID = datetime(2024, 3, 8, 8, 0, 0)  # the SPEC's example: paid 3-8 08:00, 72-hour promise
WINDOW = timedelta(hours=72)
D = Decimal


def hours(h: float) -> datetime:
    return PAID + timedelta(hours=h)


def add_order(con, order_id, lines, postage="0.00", paid_at=PAID, buyer="buyer1", shop="shop1", paid=None):
    """An order and its lines (replacing the bare order row `add_flag` may have written).
    lines: [(price, quantity, line paid or None)]."""
    goods = sum(D(p) * q for p, q, _ in lines)
    paid = D(paid) if paid is not None else goods + D(postage)
    con.execute("delete from orders where order_id = ?", [order_id])
    con.execute(
        """insert into orders (order_id, shop, buyer, status, paid_amount, paid_gross, postage, paid_at,
                               load_id, source_file, line)
           values (?, ?, ?, 'completed', ?, ?, ?, ?, 0, 'test', 1)""",
        [order_id, shop, buyer, paid, paid, D(postage), paid_at],
    )
    for i, (price, qty, line_paid) in enumerate(lines, start=1):
        con.execute(
            """insert into order_lines (order_id, line_no, price, quantity, sku, paid_amount, load_id, source_file, line)
               values (?, ?, ?, ?, ?, ?, 0, 'test', ?)""",
            [order_id, i, D(price), qty, f"SKU{i}", None if line_paid is None else D(line_paid), i],
        )


def add_flag(
    con, order_id, *, kind="short", responsibility="merchant", missing_qty=1, affected="99.00",
    paid_at=PAID, ship_by="default", reshipped_at=None, refunded="0.00", buyer="buyer1", shop="shop1",
    order=True,
):
    """A flags row as detection would write it (ship_by defaults to paid_at + 72 h). Detection
    flags an order whose row is loaded (an order not loaded is awaiting data and owes nothing),
    so unless `order` is False the order's row is written too when it is not there: paid the
    goods concerned (99.00 without them), no postage, no lines."""
    if ship_by == "default":
        ship_by = paid_at + WINDOW if paid_at else None
    if order and not con.execute("select count(*) from orders where order_id = ?", [order_id]).fetchone()[0]:
        paid = D(affected) if affected is not None else D("99.00")
        con.execute(
            """insert into orders (order_id, shop, buyer, status, paid_amount, paid_gross, postage, paid_at,
                                   load_id, source_file, line)
               values (?, ?, ?, 'completed', ?, ?, 0.00, ?, 0, 'test', 1)""",
            [order_id, shop, buyer, paid, paid, paid_at],
        )
    con.execute(
        """insert into flags (order_id, shop, buyer, kind, responsibility, confidence, rules, evidence,
                              missing_qty, affected_amount, paid_at, ship_by, reshipped_at,
                              refunded_amount, as_of, run_id)
           values (?, ?, ?, ?, ?, 0.9, ['test'], 'test flag', ?, ?, ?, ?, ?, ?, ?, 'flag-run')""",
        [order_id, shop, buyer, kind, responsibility, missing_qty, None if affected is None else D(affected),
         paid_at, ship_by, reshipped_at, None if refunded is None else D(refunded), hours(100)],
    )


def set_flag(con, order_id, **cols):
    """What a later detection run would write: the flags table is rebuilt each run."""
    aliases = {"affected": "affected_amount", "refunded": "refunded_amount"}
    cols = {aliases.get(k, k): v for k, v in cols.items()}
    sets = ", ".join(f"{k} = ?" for k in cols)
    con.execute(f"update flags set {sets} where order_id = ?", [*cols.values(), order_id])


def run(con, policy, as_of=None, run_id="run1"):
    """compute_liabilities then append_ledger; returns (summary, new payout lines)."""
    as_of = as_of or hours(100)
    summary = compute_liabilities(con, as_of, policy, run_id)
    lines = append_ledger(con, run_id, policy)
    return summary, lines


def liability(con, order_id) -> dict:
    cur = con.execute("select * from liabilities where order_id = ?", [order_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None, f"no liability row for {order_id}"
    return dict(zip(names, row))


def ledger(con, order_id=None) -> list[dict]:
    q = "select * from payouts" + (" where order_id = ?" if order_id else "") + " order by payout_id"
    cur = con.execute(q, [order_id] if order_id else [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def affected_from_view(con, order_id, line_no, units) -> Decimal:
    """Goods concerned for `units` of a line, as detection computes it from `line_amounts`."""
    return con.execute(
        "select round(line_paid * ? / quantity, 2)::decimal(18, 2) from line_amounts where order_id = ? and line_no = ?",
        [units, order_id, line_no],
    ).fetchone()[0]


def policy_file(tmp_path, text: str, name: str = "policy.toml"):
    """A user's policy TOML file, for load_policy(path)."""
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def tmall_text(**replace) -> str:
    """The tmall preset's text with some `key = value` lines replaced (key -> new line or None)."""
    from pipeline.policy import PRESET_DIR

    lines = []
    for line in (PRESET_DIR / "tmall.toml").read_text(encoding="utf-8").splitlines():
        key = line.split("=")[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in replace:
            if replace[key] is not None:
                lines.append(replace[key])
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"
