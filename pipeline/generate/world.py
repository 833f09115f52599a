"""The world shared by every chunk of a run: the period and its clock, the shops, their SKUs
(titles, prices, weights) and the number of buyers, the id bijections, and the penalty the
truth is priced with. Built once from (seed, 11); chunks only read it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa

from pipeline.generate.units import DAY, HOUR, MINUTE, mix, sec
from pipeline.generate.vocab import CARRIERS, CATEGORIES, R_AMOUNT_ONLY, SHOPS, TITLE_MID, TITLE_PRE, TITLE_SUF

EXPORT_DELAY = timedelta(days=7, hours=9, minutes=30)  # export time after the period's end
AS_OF_DELAY = timedelta(days=30)  # truth's as-of after the period's end


@dataclass
class Penalty:
    policy_id: str
    rate: Decimal
    floor: Decimal
    cap: Decimal
    points_per_yuan: int
    window_hours: int

    def compensation(self, affected: Decimal) -> Decimal:
        y = (self.rate * affected).quantize(Decimal("0.01"), ROUND_HALF_UP)
        y = max(y, self.floor)
        return min(y, self.cap).quantize(Decimal("0.01"))


@dataclass
class World:
    seed: int
    fmt: str
    encoding: str
    n_orders: int
    n_chunks: int
    chunk_size: int
    start_s: int
    days: int
    end_s: int
    export_s: int
    as_of_s: int
    quirks: frozenset
    rates: dict
    penalty: Penalty
    shop_names: list
    shop_ids: np.ndarray
    shop_codes: list
    shop_weights: np.ndarray
    shop_carrier: np.ndarray  # (K, 2) carrier indexes
    shop_qty_a: np.ndarray
    shop_prod_off: np.ndarray  # (K + 1)
    prod_title: pa.Array
    prod_sku: pa.Array
    prod_attr: pa.Array
    prod_price: np.ndarray
    prod_weight: np.ndarray
    prod_item_id: np.ndarray
    prod_title_list: list
    prod_sku_list: list
    n_buyers: int
    claimers: np.ndarray  # buyers of the serial_claimer case, set by the plan
    id_mul: np.ndarray  # odd multipliers for the id bijections
    id_add: np.ndarray
    daily_times: list  # split_daily export times (seconds), else [export_s]
    amount_only_reasons: list = field(default_factory=lambda: list(R_AMOUNT_ONLY))

    @property
    def legacy(self) -> bool:
        return self.fmt == "legacy"

    @property
    def fmtk(self) -> str:
        """The key of per-format word lists (R_SHORT[...], GOODS[...])."""
        return "legacy" if self.legacy else "current"


@dataclass
class _Catalogue:
    """Every shop's SKUs, concatenated; shop k owns [offsets[k], offsets[k + 1])."""
    titles: list = field(default_factory=list)
    skus: list = field(default_factory=list)
    attrs: list = field(default_factory=list)
    prices: list = field(default_factory=list)
    weights: list = field(default_factory=list)
    qty_a: list = field(default_factory=list)
    offsets: list = field(default_factory=lambda: [0])


def build_world(*, orders, seed, fmt, encoding, shops, start, days, rates, quirks, chunk_size, penalty) -> World:
    rng = np.random.default_rng([seed, 11])
    start_s = sec(datetime(start.year, start.month, start.day))
    end_s = start_s + days * DAY
    export_s = end_s + int(EXPORT_DELAY.total_seconds())
    names, codes, cats = _shops(shops)
    w = 1.0 / np.arange(1, shops + 1) ** 0.7
    shop_ids = 100000000 + rng.integers(0, 900000000, shops)
    shop_carrier = np.stack([rng.choice(len(CARRIERS), 2, replace=False) for _ in range(shops)])
    cat = _Catalogue()
    for k in range(shops):
        _add_shop_products(rng, cat, codes[k], cats[k])
    mul = (rng.integers(1 << 20, 1 << 40, 8) * 2 + 1).astype(np.uint64)
    add = rng.integers(0, 1 << 49, 8).astype(np.uint64)
    if "split_daily" in quirks:
        daily = [start_s + j * DAY + 9 * HOUR + 30 * MINUTE for j in range(1, days + 8)]
    else:
        daily = [export_s]
    return World(
        amount_only_reasons=_amount_only_reasons(),
        seed=seed, fmt=fmt, encoding=encoding, n_orders=orders, n_chunks=max(1, math.ceil(orders / chunk_size)),
        chunk_size=chunk_size, start_s=start_s, days=days, end_s=end_s, export_s=export_s,
        as_of_s=end_s + int(AS_OF_DELAY.total_seconds()), quirks=frozenset(quirks),
        rates=rates, penalty=penalty, shop_names=names, shop_ids=shop_ids, shop_codes=codes,
        shop_weights=w / w.sum(), shop_carrier=shop_carrier, shop_qty_a=np.array(cat.qty_a),
        shop_prod_off=np.array(cat.offsets, dtype=np.int64), prod_title=pa.array(cat.titles, pa.string()),
        prod_sku=pa.array(cat.skus, pa.string()), prod_attr=pa.array(cat.attrs, pa.string()),
        prod_price=np.concatenate(cat.prices), prod_weight=np.concatenate(cat.weights),
        prod_item_id=(520000000000 + mix(np.arange(cat.offsets[-1]), mul[7], add[7], 36)).astype(np.int64),
        prod_title_list=cat.titles, prod_sku_list=cat.skus, n_buyers=max(5, int(orders * 0.45)),
        claimers=np.zeros(0, np.int64), id_mul=mul, id_add=add, daily_times=daily,
    )


def _shops(shops: int) -> tuple[list, list, list]:
    """Names, SKU prefixes and categories; past the 12 named shops, numbered branches (…2号店)."""
    names, codes, cats = [], [], []
    for k in range(shops):
        name, code, cat = SHOPS[k % len(SHOPS)]
        if k >= len(SHOPS):
            name, code = f"{name}{k // len(SHOPS) + 1}号店", f"{code}{k // len(SHOPS) + 1}"
        names.append(name)
        codes.append(code)
        cats.append(cat)
    return names, codes, cats


def _add_shop_products(rng, cat: _Catalogue, code: str, category: str) -> None:
    """300-900 SKUs of one shop: titles, 商家编码, attributes, prices and weights."""
    nouns, median_price, median_w, qa, attr_opts = CATEGORIES[category]
    cat.qty_a.append(qa)
    n_prod = int(rng.integers(300, 900))
    pre1 = rng.integers(0, len(TITLE_PRE), n_prod)
    pre2 = rng.integers(0, len(TITLE_MID), n_prod)
    noun = rng.integers(0, len(nouns), n_prod)
    suf = rng.integers(0, len(TITLE_SUF), n_prod)
    series = rng.integers(1, 100, n_prod)
    for i in range(n_prod):
        cat.titles.append(f"{TITLE_PRE[pre1[i]]}{TITLE_MID[pre2[i]]}{nouns[noun[i]]} {series[i]}号{TITLE_SUF[suf[i]]}")
        cat.skus.append(f"{code}{noun[i]:02d}{series[i]:02d}-{i:04d}")
        cat.attrs.append(attr_opts[i % len(attr_opts)] if rng.random() < 0.8 else "")
    cat.prices.append(_prices(rng, n_prod, median_price))
    cat.weights.append(np.clip(np.exp(rng.normal(math.log(median_w), 0.7, n_prod)), 5, 30_000).astype(np.int64))
    cat.offsets.append(cat.offsets[-1] + n_prod)


def _prices(rng, n_prod: int, median_price: int) -> np.ndarray:
    """Unit prices in cents: log-normal around the category's median, many ending in .00 / .90."""
    p = np.exp(rng.normal(math.log(median_price), 1.1, n_prod))
    p = np.clip(np.round(p), 9, 500_000).astype(np.int64)
    nice = rng.random(n_prod) < 0.6  # many prices end in .00 / .90
    p = np.where(nice & (p > 200), (p // 100) * 100 + rng.choice([0, 90, 80, 99], n_prod), p)
    p = np.clip(p, 9, 500_000)
    tail = rng.random(n_prod) < 0.02  # a long tail over the whole range
    p = np.where(tail, np.exp(rng.uniform(math.log(9), math.log(500_000), n_prod)).astype(np.int64), p)
    p[-1], p[-2] = 9, 500_000  # the least popular products: a 0.09 accessory, a 5,000.00 item
    return p


def _amount_only_reasons() -> list[str]:
    """The amount_only case's refund reasons: ordinary ones the policy does not explain away."""
    explained = set()
    try:
        from pipeline.policy import load_policy, normalize_reason

        pol = load_policy("tmall")
        explained = {normalize_reason(x) for x in getattr(pol, "detection_terms", {}).get("explained_reasons", ())}
    except Exception:  # pragma: no cover - the policy is validated in generate()
        normalize_reason = str
    return [x for x in R_AMOUNT_ONLY if normalize_reason(x) not in explained] or ["其他"]
