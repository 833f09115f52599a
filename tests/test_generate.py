"""`shortship generate`: synthetic exports with ground truth (issue 3).

Small runs only (a few hundred orders); timing is measured with the CLI, never here.
"""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline import db
from pipeline.cli import cli
from pipeline.errors import ShortshipError
from pipeline.generate import CASE_NAMES, CASES, generate
from pipeline.load import load_paths
from pipeline.policy import load_policy

N = 400
RATES = {"all": 0.01}  # 4 orders of each case in 400


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def _load(tmp: Path, out: Path):
    con = db.connect(tmp / "x.duckdb")
    return con, load_paths(con, [out])


def _truth(out: Path) -> list[dict]:
    return pq.read_table(out / "truth.parquet").to_pylist()


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    out = tmp_path_factory.mktemp("legacy")
    s = generate(out, N, 7, rates=RATES, workers=1)
    con, results = _load(tmp_path_factory.mktemp("db"), out)
    yield out, s, con, results
    con.close()


# ---------------------------------------------------------------- determinism


def test_one_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    a = generate(tmp_path / "a", 300, 42, rates=RATES, chunk_size=100, workers=1)
    b = generate(tmp_path / "b", 300, 42, rates=RATES, chunk_size=100, workers=2)  # chunks in 2 processes
    generate(tmp_path / "c", 300, 43, rates=RATES, chunk_size=100, workers=1)
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert set(fa) == {f["name"] for f in a.files} | {"truth.parquet", "truth_columns.md"}
    assert fa == fb
    assert set(fa) == set(fc)  # names come from --start/--days only, never the clock
    for name in fa:
        if name.startswith("Export") or name.startswith("shipments") or name == "truth.parquet":
            assert fa[name] != fc[name], name
    assert a.truth_rows == b.truth_rows and a.orders == 300


# What each configuration writes, as a digest over every file's name and content (truth.parquet
# by its schema, metadata and rows, not its bytes, which carry the pyarrow version). They were
# produced by the generator after the cases of issue 14 (make-ups for an earlier order, and the
# phrases and refunds that are no shortage) were added, and again after issue 20 (the legacy ids
# written as bare Excel formulas as the platform writes them, resaved_ids for the quoted variant,
# no refund above what its line paid; the truth_columns.md note on ids), and again after issue 22
# (the memo cases makeup_packing, makeup_several, makeup_split, reship_undecided and
# substitution_note: every seed's draws moved; the split_daily configuration now writes 37 files,
# one day without a refund export): one seed gives the same files. A change to one of
# them is a change of the generated data (every seed, and data/sample, which is the first
# configuration): make it on purpose, regenerate data/sample and say so in the commit.
_ALL_QUIRKS = ("excel_ids", "trailing_comma", "header_spaces", "bom", "excel_dates", "sci_ids", "split_daily",
               "resaved_ids")
_EXPECTED = [
    # data/sample: shortship generate --orders 300 --seed 20170501 --rates all=0.01
    (dict(orders=300, seed=20170501, rates=RATES, workers=1), 6,
     "1be9e7f7842c2345fb679e47ca03f89864cad3d5db653da11acc55d65a696fd0"),
    (dict(orders=300, seed=11, days=2, shops=2, rates={"all": 0.02}, chunk_size=100, workers=1,
          quirks=tuple(q for q in _ALL_QUIRKS if q != "bom")), 37,
     "6ffb017fe42d82445df86f225cad54973d7be99ba134d97fa4c79a3bd000d8f8"),
    (dict(orders=400, seed=12, fmt="current", days=3, shops=13, rates={"all": 0.02}, chunk_size=150, workers=2,
          quirks=_ALL_QUIRKS), 42,
     "e1d968792105599f6125994eb085ab745987276c32f942265ed1ca5dda58a428"),
    (dict(orders=200, seed=13, fmt="current", encoding="gbk", rates={"all": 0.02}, chunk_size=120, workers=2), 6,
     "0fbed786afca8cff28cbca33ef4331ffee90fcbc02870c35ab7b978fbfa1b1c4"),
]


def _digest(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.iterdir()):
        if p.suffix == ".parquet":
            t = pq.read_table(p)
            content = repr((t.schema.names, sorted(t.schema.metadata.items()), t.to_pylist())).encode()
        else:
            content = p.read_bytes()
        h.update(p.name.encode() + b"\0" + hashlib.sha256(content).digest())
    return h.hexdigest()


@pytest.mark.parametrize("kwargs,n_files,expected", _EXPECTED,
                         ids=["legacy-gbk-sample", "legacy-gbk-quirks", "current-utf8-all-quirks", "current-gbk"])
def test_a_seed_writes_the_same_files_as_before(tmp_path, kwargs, n_files, expected):
    generate(tmp_path, **kwargs)
    assert len(list(tmp_path.iterdir())) == n_files
    assert _digest(tmp_path) == expected


@pytest.mark.parametrize("seed,kinds", [(12, {"orders", "items"}), (85, {"orders", "items", "refunds"})])
def test_a_chunk_in_which_nothing_shipped(tmp_path, seed, kinds):
    """One order, never paid (seed 12) or cancelled before shipping (seed 85): the chunk has no
    parcel at all (this used to end in an IndexError, e.g. for a last chunk of one order)."""
    out = tmp_path / "out"
    s = generate(out, 1, seed, workers=1)
    assert {f["kind"] for f in s.files} == kinds  # the premise: no shipments file
    con, results = _load(tmp_path, out)
    assert all(r.rejected == 0 for r in results) and len(results) == len(kinds)
    assert con.execute("select count(*), count(nullif(tracking_no, '')) from orders").fetchone() == (1, 0)
    con.close()


def test_refuses_to_mix_with_an_earlier_run_unless_overwrite(tmp_path):
    generate(tmp_path, 20, 1, workers=1)
    with pytest.raises(ShortshipError, match="--overwrite"):
        generate(tmp_path, 20, 2, workers=1, start=__import__("datetime").date(2018, 1, 1))
    generate(tmp_path, 20, 2, workers=1, start=__import__("datetime").date(2018, 1, 1), overwrite=True)
    assert not [p for p in tmp_path.iterdir() if "2017" in p.name]


# ---------------------------------------------------------------- the loader takes them as they are


def test_legacy_files_load_with_zero_rejects(legacy):
    out, s, con, results = legacy
    assert len(results) == 4
    assert {r.kind for r in results} == {"orders", "items", "refunds", "shipments"}
    for r in results:
        assert r.rejected == 0 and r.replaced == 0 and r.rows_in == r.loaded, r.line()
    rows = {f["kind"]: f["rows"] for f in s.files}
    assert rows == {r.kind: r.rows_in for r in results}
    assert con.execute("select count(*) from rejects").fetchone()[0] == 0
    assert con.execute("select count(*) from orders").fetchone()[0] == N
    assert con.execute("select count(*) from order_lines").fetchone()[0] == s.lines
    # the legacy layout as exported (shared/real_raw/): GBK, 46 quoted columns but the ids, which
    # are bare Excel formulas (="2017…", not quoted), the empty formula ="" as 特权订金订单id; items
    # with a trailing comma
    orders = next(out.glob("ExportOrderList*.csv")).read_bytes().decode("gbk").splitlines()
    assert orders[0].count('","') == 45 and orders[0].startswith('"订单编号"')
    assert all(re.match(r'="\d{17}","', row) or re.match(r'"\d\.\d+E\+\d\d","', row) for row in orders[1:])
    assert all(row.split(",")[33] == '=""' for row in orders[1:])
    assert '"=' not in "\n".join(orders)  # never the quoted variant of a re-saved copy
    items = next(out.glob("ExportOrderDetailList*.csv")).read_bytes().decode("gbk").splitlines()
    assert not items[0].endswith(",") and all(line.endswith(",") for line in items[1:])
    assert all(line.startswith('="') for line in items[1:])
    refunds = next(out.glob("ExportRefundList*.csv")).read_bytes().decode("gbk").splitlines()
    assert all(re.match(r'="\d{17}",="\d{17}",="\d{28}","', row) for row in refunds[1:])
    assert con.execute("select count(*) from orders where not regexp_full_match(order_id, '[0-9]{17}')").fetchone() == (0,)
    assert con.execute("select bool_and(paid_is_net) from load_manifest where kind = 'orders'").fetchone()[0]


@pytest.mark.parametrize("fmt,quirks,encoding", [
    ("current", (), None),
    ("current", ("excel_ids", "header_spaces", "trailing_comma", "excel_dates"), None),
    ("legacy", ("excel_ids", "header_spaces", "bom", "excel_dates"), "utf-8"),
    ("legacy", ("resaved_ids",), "gbk"),
    ("current", ("resaved_ids", "excel_dates"), None),
])
def test_other_layouts_and_quirks_load_with_zero_rejects(tmp_path, fmt, quirks, encoding):
    out = tmp_path / "out"
    generate(out, 200, 3, fmt=fmt, quirks=quirks, encoding=encoding, rates=RATES, workers=1)
    con, results = _load(tmp_path, out)
    for r in results:
        assert r.rejected == 0 and r.rows_in == r.loaded, r.line()
    assert con.execute("select count(*) from orders").fetchone()[0] == 200
    # every truth order is there, with its lines
    missing = con.execute(
        f"select count(*) from read_parquet('{out / 'truth.parquet'}') t "
        "where not exists (select 1 from order_lines l where l.order_id = t.order_id)").fetchone()[0]
    assert missing == 0
    raw = next(out.glob("ExportOrderList*.csv")).read_bytes()
    text = raw.decode("utf-8-sig" if (encoding or "utf-8") == "utf-8" else "gbk")
    if "bom" in quirks:
        assert raw.startswith(b"\xef\xbb\xbf")
    if "resaved_ids" in quirks:  # every id a formula quoted as a re-saved copy has it: "=""2017…"""
        assert re.search(r'(^|,)"=""\d+"""(,|$)', text, re.M) and not re.search(r'(^|,)="\d', text, re.M)
    elif "excel_ids" in quirks or fmt == "legacy":  # bare formulas: ="2017…"
        assert re.search(r'(^|,)="\d+"(,|$)', text, re.M) and '"=' not in text
    else:
        assert "=" not in text
    if "excel_dates" in quirks:
        assert re.search(r"20\d\d/\d{1,2}/\d{1,2} \d{1,2}:\d\d[,\"]", text)
        assert not re.search(r"\d\d:\d\d:\d\d", text)
    if "header_spaces" in quirks:
        assert "\u3000" in text.splitlines()[0]
    if fmt == "current":
        head = text.splitlines()[0]
        assert "买家实付金额" in head and "商品标题" in head and "商家备注" in head and "发货时间" in head
        items_head = next(out.glob("ExportOrderDetailList*.csv")).read_text("utf-8").splitlines()[0]
        assert len(items_head.split(",")) == 27 and items_head.startswith("子订单编号")
    con.close()


def test_sci_ids_rows_are_exactly_the_rejected_ones(tmp_path):
    out = tmp_path / "out"
    s = generate(out, 3000, 5, quirks=("sci_ids",), workers=1)
    assert s.sci_rejected_rows > 0
    con, results = _load(tmp_path, out)
    rejected = {(Path(f).name, line) for f, line in con.execute("select source_file, line from rejects").fetchall()}
    expected = {(name, line) for name, lines in s.sci_rejects.items() for line in lines}
    assert rejected == expected
    assert sum(r.rejected for r in results) == s.sci_rejected_rows
    reasons = {r for (r,) in con.execute("select distinct reason from rejects").fetchall()}
    assert all("scientific" in r for r in reasons)
    truth_ids = {t["order_id"] for t in _truth(out)}
    assert con.execute("select count(*) from orders").fetchone()[0] == 3000 - len(
        s.sci_rejects.get(next(out.glob("ExportOrderList*.csv")).name, []))
    loaded = {r for (r,) in con.execute("select order_id from orders").fetchall()}
    assert truth_ids <= loaded  # never a case order
    con.close()


def test_split_daily_files_overlap_and_the_newest_copy_is_the_final_state(tmp_path):
    single, split = tmp_path / "single", tmp_path / "split"
    generate(single, 300, 9, days=4, rates=RATES, workers=1)
    s = generate(split, 300, 9, days=4, rates=RATES, quirks=("split_daily",), workers=1)
    names = sorted(p.name for p in split.glob("ExportOrderList*.csv"))
    assert len(names) == 4 + 7 and 3 * 11 <= len(s.files) <= 4 * 11
    con_a, _ = _load(tmp_path / "a", single)
    con_b, results = _load(tmp_path / "b", split)
    assert sum(r.replaced for r in results) + con_b.execute(
        "select sum(replaced) from load_manifest").fetchone()[0] > 0
    for r in results:
        assert r.rows_in == r.loaded + r.rejected + r.replaced
    for table, key in (("orders", "order_id"), ("order_lines", "order_id, line_no"), ("refunds", "refund_id"),
                       ("shipments", "order_id, shipped_at, sku")):
        cols = [c for (c, *_) in con_a.execute(f"describe {table}").fetchall() if c not in ("load_id", "source_file", "line")]
        q = f"select {', '.join(cols)} from {table} order by {key}"
        assert con_a.execute(q).fetchall() == con_b.execute(q).fetchall(), table
    # early files show earlier states of the same orders
    early = (split / names[1]).read_bytes().decode("gbk")
    assert "买家已付款，等待卖家发货" in early or "卖家已发货，等待买家确认" in early
    con_a.close()
    con_b.close()


# ---------------------------------------------------------------- the truth


def test_truth_invariants(legacy):
    out, s, con, _ = legacy
    pol = load_policy("tmall")
    rule = pol.rule_for("short")
    truth = _truth(out)
    assert len(truth) == s.truth_rows
    # one row per case order; a makeup_split case also lists the second earlier order (B) its
    # make-up is split over, whose line went missing whole, under the same buyer as its A
    per_case = {name: sum(t["case"] == name for t in truth) for name in CASE_NAMES}
    assert {k: v for k, v in per_case.items() if k != "makeup_split"} == {
        k: v for k, v in s.cases.items() if k != "makeup_split"}
    split = [t for t in truth if t["case"] == "makeup_split"]
    whole = [t for t in split if t["missing_qty"] == t["ordered_qty"]]
    assert len(split) == s.cases["makeup_split"] + len(whole) and len(whole) <= s.cases["makeup_split"]
    assert all(sum(t["buyer"] == b["buyer"] for t in split) == 2 for b in whole)
    assert {t["case"] for t in truth} == set(CASE_NAMES)  # rates all=0.01: every case is there
    md = pq.read_schema(out / "truth.parquet").metadata
    as_of = truth[0]["as_of"]
    assert md[b"shortship.as_of"].decode() == str(as_of)
    assert as_of == truth[0]["export_time"].replace(hour=0, minute=0) + timedelta(days=23)
    doc = (out / "truth_columns.md").read_text("utf-8")
    assert all(f"\n| {name} |" in doc for name in pq.read_schema(out / "truth.parquet").names + list(CASE_NAMES))
    ship = {}
    for oid, sku, qty, at, reship in con.execute(
            "select order_id, sku, quantity, shipped_at, reship from shipments").fetchall():
        ship.setdefault(oid, []).append((sku, qty, at, reship))
    for t in truth:
        kind, resp, evidence, status, _ = CASES[t["case"]]
        assert (t["kind"], t["responsibility"], t["evidence"], t["expected_status"]) == (kind, resp, evidence, status)
        assert re.fullmatch(r"[0-9]{16,19}", t["order_id"])
        assert all(re.fullmatch(r"[0-9]{16,19}", r) for r in t["refund_ids"])
        assert t["ship_by"] == t["paid_at"] + timedelta(hours=pol.window_hours)
        comp = t["expected_compensation_yuan"]
        assert isinstance(comp, Decimal) and comp == comp.quantize(Decimal("0.01"))
        assert t["expected_points"] == comp * rule.points_per_yuan
        if status == "owed":
            assert rule.floor_yuan <= comp <= rule.cap_yuan
            raw = (rule.rate * t["affected_amount"]).quantize(Decimal("0.01"), "ROUND_HALF_UP")
            assert comp == min(max(raw, rule.floor_yuan), rule.cap_yuan)
        else:
            assert comp == 0 and t["expected_points"] == 0
        assert t["missing_qty"] == sum(d["missing_qty"] for d in t["detail"])
        assert t["affected_amount"] == sum(d["affected_amount"] for d in t["detail"])
        if kind == "short" and t not in whole:
            assert all(0 < d["missing_qty"] < d["ordered_qty"] for d in t["detail"])
        if kind in ("empty", "not_received", "unshipped"):
            assert all(d["missing_qty"] == d["ordered_qty"] and d["affected_amount"] == d["line_paid"]
                       for d in t["detail"])
        rows = ship.get(t["order_id"], [])
        if t["case"] == "cured_reship":
            assert any(r[3] and r[2] < t["ship_by"] for r in rows) and t["reshipped_at"] < t["ship_by"]
        elif t["case"] == "late_reship":
            assert any(r[3] and r[2] > t["ship_by"] for r in rows) and t["reshipped_at"] > t["ship_by"]
        else:
            assert t["reshipped_at"] is None and not any(r[3] for r in rows)
        if t["case"] in ("unshipped", "out_of_stock"):
            assert rows == []


def test_truth_agrees_with_the_loaded_exports(legacy):
    out, s, con, _ = legacy
    truth = _truth(out)
    lines = {}
    for oid, sku, price, qty in con.execute("select order_id, sku, price, quantity from order_lines order by order_id, line_no").fetchall():
        lines.setdefault(oid, []).append((sku, price, qty))
    orders = {r[0]: r[1:] for r in con.execute(
        "select order_id, status, paid_gross, postage, goods_amount, total_amount, paid_amount, refund_amount, "
        "paid_at is not null from orders").fetchall()}
    refunds = {}
    for oid, amount, reason, status, ret, goods in con.execute(
            "select order_id, refund_amount, reason, status, return_required, goods_status from refunds").fetchall():
        refunds.setdefault(oid, []).append((amount, reason.replace(".", "/"), status, ret, goods))
    shipped = {}
    for oid, sku, qty, reship in con.execute("select order_id, sku, quantity, reship from shipments").fetchall():
        shipped[(oid, sku, reship)] = shipped.get((oid, sku, reship), 0) + qty
    pol = load_policy("tmall")
    short_reasons = set(pol.reasons["short"])
    for oid, (status, gross, postage, goods, total, paid, refunded, was_paid) in orders.items():
        if was_paid:
            assert gross - postage == goods and total == paid + refunded  # 实付 is net of refunds
        else:
            assert status in ("unpaid", "closed") and paid == 0
    for t in truth:
        oid = t["order_id"]
        assert oid in orders and oid in lines
        split = _spec_split(orders[oid][1] - orders[oid][2], lines[oid])
        for d in t["detail"]:
            sku_lines = [i for i, (sku, _, _) in enumerate(lines[oid]) if sku == d["sku"]]
            assert len(sku_lines) == 1
            i = sku_lines[0]
            assert lines[oid][i][2] == d["ordered_qty"] and lines[oid][i][1] == d["price"]
            assert split[i] == d["line_paid"]  # SPEC 2: the paid split over lines
            k, q = d["missing_qty"], d["ordered_qty"]
            assert d["affected_amount"] == (d["line_paid"] * k / q).quantize(Decimal("0.01"), "ROUND_HALF_UP")
        rs = refunds.get(oid, [])
        if t["case"] in ("short_reason", "short_multi_line"):
            ok = [r for r in rs if r[1] in short_reasons and r[2] == "success"]
            assert sorted(r[0] for r in ok) == sorted(d["affected_amount"] for d in t["detail"])
            assert t["refunded_amount"] == t["affected_amount"]
        if t["case"] == "amount_only":
            assert orders[oid][0] == "completed"
            (r,) = rs
            assert r[0] == t["affected_amount"] and r[2] == "success" and not r[3]
            assert r[1] not in short_reasons and r[1] not in pol.detection_terms.get("explained_reasons", ())
        if t["case"] == "refused_cs_for_shop":
            assert all(r[2] in ("refused", "closed") for r in rs)
        if t["case"] == "unshipped":
            assert orders[oid][0] == "paid" and not rs
        if t["case"] in ("ship_only_no_complaint", "cured_reship", "late_reship"):
            d = t["detail"][0]
            assert shipped[(oid, d["sku"], False)] == d["ordered_qty"] - d["missing_qty"]
            assert shipped.get((oid, d["sku"], True), 0) == (0 if t["case"] == "ship_only_no_complaint" else d["missing_qty"])
    # no order without a case is unshipped at the export or carries a fault reason
    cases = {t["order_id"] for t in truth}
    assert not [o for o, v in orders.items() if v[0] == "paid" and o not in cases]
    fault = set().union(*(set(v) for k, v in pol.reasons.items()))
    assert not [o for o, rs in refunds.items() if o not in cases and any(r[1] in fault for r in rs)]


def _spec_split(goods: Decimal, lines: list[tuple]) -> list[Decimal]:
    """SPEC 2: goods paid split in proportion to price x quantity, cents to the largest lines."""
    cents = int(goods * 100)
    w = [int(p * 100) * q for _, p, q in lines]
    share = [cents * x // sum(w) for x in w]
    rest = cents - sum(share)
    for i in sorted(range(len(w)), key=lambda i: (-w[i], i))[:rest]:
        share[i] += 1
    return [Decimal(x) / 100 for x in share]


def test_serial_claimers_claim_many_orders(tmp_path):
    generate(tmp_path, 2000, 4, rates={"serial_claimer": 0.01}, workers=1)
    truth = [t for t in _truth(tmp_path) if t["case"] == "serial_claimer"]
    per_buyer = {}
    for t in truth:
        per_buyer[t["buyer"]] = per_buyer.get(t["buyer"], 0) + 1
    assert len(truth) == 20 and min(per_buyer.values()) >= 5


# ---------------------------------------------------------------- refunds never exceed what was paid


class _OneOrderDraft:
    """What ordinary._partial_or_withdrawn reads of a Draft: one order of one line."""

    def __init__(self, seed: int, line_paid: int, postage: int, qty: int = 1):
        import numpy as np

        self.rng = np.random.default_rng(seed)
        self.line_start, self.n_lines = np.array([0]), np.array([1])
        self.l_paid, self.l_qty = np.array([line_paid]), np.array([qty])
        self.l_price = np.array([round(line_paid / qty)])
        self.goods, self.postage, self.deliver = np.array([line_paid]), np.array([postage]), np.array([0])
        self.refunds = []

    def pick(self, options):
        return "退运费" if "退运费" in options else options[0]

    def uniform(self, lo, hi):
        return int(lo)

    def add_refund(self, o, li, amount, *args, **kw):
        self.refunds.append((li, amount))


def test_a_postage_refund_never_exceeds_what_its_line_paid():
    """At 1M orders the legacy 买家实际支付金额 (net of refunds) came out negative on about a
    hundred orders: a 退运费 refund on an order without postage drew 3, 5, 8 or 10 yuan whatever the
    line had paid (a 3.00 line refunded 8.00). The platform never refunds more than was paid."""
    from pipeline.generate.ordinary import _partial_or_withdrawn

    amounts = set()
    for seed in range(40):
        d = _OneOrderDraft(seed, line_paid=300, postage=0)
        _partial_or_withdrawn(d, 0, partial=True)
        (li, amount), = d.refunds
        assert 0 < amount <= 300, (seed, amount)
        amounts.add(amount)
        d = _OneOrderDraft(seed, line_paid=5000, postage=0, qty=4)  # room for 3-10 yuan: drawn as before
        _partial_or_withdrawn(d, 0, partial=True)
        amounts.add(d.refunds[0][1] // 100)
    assert {3, 5, 8, 10} <= amounts  # the draw still happens
    d = _OneOrderDraft(0, line_paid=350, postage=600)  # with postage: the postage itself (it was paid)
    _partial_or_withdrawn(d, 0, partial=True)
    assert d.refunds == [(0, 350)]  # ... but never more than the line paid


def test_money_text_of_cents():
    """-101 cents was written -2.99 (floor division on a negative): why the 1M run's negative
    amounts looked like -2.99 when they were -1.01."""
    from pipeline.generate.values import money

    assert money([-101, 0, 5, 1234, 10000]).to_pylist() == ["-1.01", "0.00", "0.05", "12.34", "100.00"]


def test_free_amount_stays_within_the_cap_and_off_the_unit_amounts():
    from pipeline.generate.ordinary import free_amount

    assert free_amount(500, 1000, set()) == 500
    assert free_amount(1000, 300, set()) == 300
    assert free_amount(500, 1000, {500, 507}) == 514  # up by 7 cents while free
    assert free_amount(1000, 1000, {999, 1000, 1001}) == 993  # at the cap: down instead
    assert free_amount(1000, 300, {299, 300, 301}) == 293


# ---------------------------------------------------------------- bare and quoted formula ids


def _run_tables(folder: Path, db_path: Path, out: Path) -> dict:
    import duckdb

    r = CliRunner().invoke(cli, ["run", str(folder), "--db", str(db_path), "--create", "--out", str(out),
                                 "--as-of", "2017-06-30 00:00:00", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return {
            "rows": con.execute("select kind, sum(rows_in), sum(loaded), sum(rejected) from load_manifest "
                                "group by kind order by kind").fetchall(),
            "flags": con.execute("select * exclude (run_id) from flags order by order_id").fetchall(),
            "liabilities": con.execute("select * exclude (run_id) from liabilities order by order_id").fetchall(),
            "ledger": con.execute("select order_id, points, yuan, reason, policy, payout_form from payouts "
                                  "order by order_id, payout_id").fetchall(),
        }
    finally:
        con.close()


def test_bare_and_quoted_formula_ids_give_the_same_run(legacy, tmp_path):
    """The same generated legacy set written as the platform writes it (bare ="…" ids) and as a
    re-saved copy (the formulas quoted as text, the resaved_ids quirk): a whole run of each gives the same
    flags, liabilities and ledger, to the cent."""
    bare = legacy[0]
    quoted = tmp_path / "quoted"
    generate(quoted, N, 7, rates=RATES, workers=1, quirks=("resaved_ids",))
    for name in ("ExportOrderList", "ExportOrderDetailList", "ExportRefundList"):  # only the formulas' quoting differs
        b_bytes = next(bare.glob(f"{name}*.csv")).read_bytes()
        q_bytes = next(quoted.glob(f"{name}*.csv")).read_bytes()
        assert b_bytes != q_bytes and re.sub(rb'"=""([0-9]*)"""', rb'="\1"', q_bytes) == b_bytes, name
    a = _run_tables(bare, tmp_path / "bare.duckdb", tmp_path / "out_bare")
    b = _run_tables(quoted, tmp_path / "quoted.duckdb", tmp_path / "out_quoted")
    assert a["rows"] == b["rows"] and all(rejected == 0 for *_, rejected in a["rows"])
    assert a["flags"] and a["liabilities"] and a["ledger"]  # there is something to compare
    assert a == b


# ---------------------------------------------------------------- vocabulary and the command


def test_vocabulary_is_gbk_and_ordinary_text_names_no_fault():
    from pipeline.generate import vocab as g

    pol = load_policy("tmall")
    words = [w for ws in pol.words.values() for w in ws]
    benign = g.BENIGN_MESSAGES + g.BENIGN_MEMOS + g.DESC_ORDINARY + g.CLOSE_UNPAID
    for text in benign:
        assert not [w for w in words if w in text], text
    everything = benign + g.SHOPS.__str__().split() + [x for c in g.CATEGORIES.values() for x in c[0] + c[4]]
    for text in everything + g.PLACES + g.STREETS + g.TITLE_PRE + g.TITLE_MID + g.TITLE_SUF:
        text.encode("gbk")
    fault = set().union(*(set(v) for v in pol.reasons.values()))
    for r in g.R_RETURN + g.R_PARTIAL + g.R_CLAIM_OTHER + g.R_CANCEL["legacy"] + g.R_CANCEL["current"]:
        assert r not in fault


def test_cli_generate(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["generate", "--orders", "50", "--seed", "1", "--out", str(tmp_path / "o"),
                              "--format", "current", "--shops", "2", "--start", "2024-02-01", "--days", "3",
                              "--quirks", "excel_ids", "--split-daily"])
    assert res.exit_code == 0, res.output
    assert "rows/s" in res.output and "orders/s" in res.output
    assert (tmp_path / "o" / "truth.parquet").is_file()
    assert (tmp_path / "o" / "ExportOrderList202402020930.csv").is_file()  # export times from --start
    for args, msg in (
        (["--quirks", "nope"], "unknown quirk"),
        (["--quirks", "bom"], "bom"),
        (["--start", "2024-13-01"], "--start"),
        (["--rates", "nope=0.1"], "unknown case"),
    ):
        res = runner.invoke(cli, ["generate", "--orders", "5", "--seed", "1", "--out", str(tmp_path / "e")] + args)
        assert res.exit_code == 1 and msg in res.output, res.output
        assert res.output.startswith("Error:") and len(res.output.strip().splitlines()) == 1
