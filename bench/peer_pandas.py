"""The peer: the core job written the way an analyst would, with pandas.

Read the order, item and refund exports with pandas, flag orders by refund reason (the tmall
policy's lists), and compute the 30 % / floor / cap compensation per order. Then, with
--check-db, compare with shortship's liabilities for the same orders.

Usage: python bench/peer_pandas.py EXPORT_DIR [--check-db shortship.duckdb]
"""
from __future__ import annotations

import argparse
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.policy import load_policy, normalize_reason  # noqa: E402  (the same numbers and words)


def read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False, index_col=False)
    df.columns = [c.strip() for c in df.columns]
    for c in ("订单编号",):
        if c in df:
            df[c] = df[c].str.replace(r'[="\s]', "", regex=True)
    return df


def money(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.str.replace(r"[元¥￥,]", "", regex=True), errors="coerce")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--check-db")
    args = ap.parse_args()
    folder = Path(args.folder)
    policy = load_policy("tmall")
    files = sorted(folder.glob("*.csv"))
    orders = pd.concat([read(f) for f in files if f.name.startswith("ExportOrderList")])
    refunds = pd.concat([read(f) for f in files if f.name.startswith("ExportRefundList")])
    # newest copy wins (files are sorted by their export time in the name)
    orders = orders.drop_duplicates("订单编号", keep="last")
    refunds = refunds.drop_duplicates("退款编号", keep="last")

    reason_kind = {}
    for kind in ("short", "wrong", "empty"):
        for r in policy.reasons.get(kind, []):
            reason_kind.setdefault(normalize_reason(r), kind)
    refunds["reason_n"] = refunds["买家退款原因"].map(normalize_reason)
    refunds["kind"] = refunds["reason_n"].map(reason_kind)
    admitted = refunds[refunds["kind"].notna() & (refunds["退款状态"] == "退款成功")
                       & ~refunds["客服介入状态"].isin(policy.rulings.get("for_seller", []))].copy()
    admitted["amount"] = money(admitted["买家退款金额"])

    # base: what the buyer got refunded for the missing / wrong / empty goods, per order
    admitted = admitted[admitted["订单编号"].isin(orders["订单编号"])]
    base = admitted.groupby("订单编号")["amount"].sum()

    def compensation(b: float) -> Decimal:
        y = (Decimal(str(b)) * policy.penalty.rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return min(max(y, policy.penalty.floor_yuan), policy.penalty.cap_yuan)

    comp = base.map(compensation)
    points = comp.map(lambda y: int(y * policy.penalty.points_per_yuan))
    result = pd.DataFrame({"compensation_yuan": comp, "points": points})
    print(f"peer: {len(orders)} orders, {len(refunds)} refunds, {len(result)} orders owed")

    if args.check_db:
        import duckdb

        con = duckdb.connect(args.check_db, read_only=True)
        ours = dict(con.execute(
            "select order_id, compensation_yuan from liabilities where status = 'owed'").fetchall())  # Decimal
        mine = dict(zip(result.index, result["compensation_yuan"]))
        common = mine.keys() & ours.keys()
        same = sum(1 for o in common if ours[o] == mine[o])
        print(f"peer check: {len(common)} orders owed by both, {same} with the same compensation, "
              f"{len(mine.keys() - ours.keys())} only in peer, {len(ours.keys() - mine.keys())} only in shortship "
              "(flagged from the shipments file, words, amounts or order status, which the peer does not read)")


if __name__ == "__main__":
    main()
