"""Synthetic Taobao/Tmall exports with ground truth (`shortship generate`).

`generate(out_dir, orders, seed, ...)` writes, in the real layouts of shared/docs/exports.md:

- `ExportOrderList<yyyyMMddHHmm>.csv`: the order export (legacy: the 46-column 2017 layout,
  GBK, every field quoted, `买家实际支付金额` net of refunds; current: a 千牛-style layout with
  `买家实付金额` (gross), `商品标题`, `商家备注`, `发货时间`, ...),
- `ExportOrderDetailList<...>.csv`: the item export (legacy: 10 columns, a trailing comma on
  every data row; current: the 27-column layout with 子订单编号 / 主订单编号 and a per-line
  `买家实付金额`, which on a single-line order includes the postage),
- `ExportRefundList<...>.csv`: the refund export (legacy: Tmall 2017; current: the ~2025 layout
  with 支付单号, 售后类型 and 商品 id),
- `shipments_<...>.csv`: our own warehouse format (UTF-8, one row per SKU per parcel),
- `truth.parquet` + `truth_columns.md`: one row per order with an injected case, with the
  expected flag and the expected liability under the `tmall` policy preset.

The period and the clock
------------------------
Orders are created in [start, start + days). The exports are taken at
`export_time = start + days + 7 days, 09:30` (a week after the period, so that every order of
the period has been shipped, refunded or closed as far as it ever will be in these files);
nothing that happens later is in any file. The expected statuses in the truth assume a run
with `as_of = start + days + 30 days, 00:00` (stored in the column `as_of` and in the parquet
metadata). At that clock every ship-by deadline of the period has passed, so no case is
`curable`: a shortage the shop has not re-shipped in time is `owed` (see truth_columns.md for
how to test `curable` with an earlier as-of).

Determinism and speed
---------------------
All randomness comes from numpy generators seeded with (seed, purpose, chunk index); no wall
clock reaches any content or file name, so one seed gives byte-identical files. Orders are
generated in chunks of 50,000 (vectorised; only the few percent of orders with a refund or an
injected case go through Python loops), chunks run in worker processes and are written in
order, so memory stays flat and 10 million orders are possible.


The package
-----------
- `world.py`: the shops, their SKUs and buyers, the clock and the penalty (`World`);
  `vocab.py` the words, `units.py` seconds, cents and ids.
- `chunk.py`: one chunk of orders drawn in steps (`make_chunk`) into a `Draft` (`draft.py`);
  `cases.py` the injected fault cases (a registry: how to add one is said there);
  `ordinary.py` the ordinary refunds that are noise.
- `render.py`: a chunk as an export taken at a time T shows it; `values.py` how values are
  written; `layouts.py` the headers; `csvbytes.py` the bytes.
- `truth.py`: truth.parquet and truth_columns.md.
- `plan.py` (rates, counts per chunk) and `driver.py` (workers, files, the summary).
"""
from __future__ import annotations

from pipeline.generate.cases import CASE_NAMES, CASES, REGISTRY, Case
from pipeline.generate.driver import CHUNK_ORDERS, ENCODINGS, FORMATS, QUIRKS, GenerateSummary, generate
from pipeline.generate.layouts import (
    CURRENT_ITEMS, CURRENT_ORDERS, CURRENT_REFUNDS, LEGACY_ITEMS, LEGACY_ORDERS, LEGACY_REFUNDS, SHIPMENTS,
)
from pipeline.generate.plan import parse_rates_option
from pipeline.generate.truth import TRUTH_COLUMNS, TRUTH_SCHEMA

__all__ = [
    "CASES", "CASE_NAMES", "CHUNK_ORDERS", "CURRENT_ITEMS", "CURRENT_ORDERS", "CURRENT_REFUNDS", "Case", "ENCODINGS",
    "FORMATS", "GenerateSummary", "LEGACY_ITEMS", "LEGACY_ORDERS", "LEGACY_REFUNDS", "QUIRKS", "REGISTRY", "SHIPMENTS",
    "TRUTH_COLUMNS", "TRUTH_SCHEMA", "generate", "parse_rates_option",
]
