"""The driver: checks the options, builds the world and the plan, makes and renders the chunks
in worker processes (each chunk on its own, from its own seeds), and writes their bytes in
chunk order to `.part` files renamed when complete; then truth.parquet and truth_columns.md."""
from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

import pyarrow.parquet as pq

from pipeline.errors import ShortshipError
from pipeline.generate.cases import CASE_NAMES
from pipeline.generate.chunk import make_chunk
from pipeline.generate.csvbytes import csv_bytes, header_bytes
from pipeline.generate.layouts import FILE_PREFIX, OUR_FILES
from pipeline.generate.plan import parse_rates, plan
from pipeline.generate.render import render
from pipeline.generate.truth import TRUTH_SCHEMA, truth_markdown, truth_table
from pipeline.generate.units import NEVER, dt, stamp
from pipeline.generate.world import Penalty, World, build_world

FORMATS = ("legacy", "current")
ENCODINGS = ("gbk", "utf-8")
# excel_ids: the current layout's ids as bare Excel formulas ="…" (the legacy layout always has
# them, as the platform writes them); resaved_ids: every id a formula quoted as a copy re-saved
# through Excel writes it, "=""123""" (and the empty formula "=""""")
QUIRKS = ("excel_ids", "trailing_comma", "header_spaces", "bom", "excel_dates", "sci_ids", "split_daily",
          "resaved_ids")
CHUNK_ORDERS = 50_000
SPLIT_WINDOW = timedelta(days=7)  # split_daily: each daily export covers the last 7 days


@dataclass
class GenerateSummary:
    out_dir: Path
    fmt: str
    encoding: str
    seed: int
    orders: int
    lines: int = 0
    refunds: int = 0
    shipment_rows: int = 0
    files: list = field(default_factory=list)  # dicts: name, kind, rows, bytes
    cases: dict = field(default_factory=dict)
    truth_rows: int = 0
    sci_rejects: dict = field(default_factory=dict)  # file name -> [line numbers]
    export_time: datetime | None = None
    as_of: datetime | None = None
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        return sum(f["rows"] for f in self.files)

    @property
    def bytes_written(self) -> int:
        return sum(f["bytes"] for f in self.files)

    @property
    def sci_rejected_rows(self) -> int:
        return sum(len(v) for v in self.sci_rejects.values())

    def lines_text(self) -> list[str]:
        s = max(self.seconds, 1e-9)
        out = [f"{self.out_dir}: {self.orders} orders, {self.lines} lines, {self.refunds} refunds, "
               f"{self.shipment_rows} shipment rows ({self.fmt}, {self.encoding})"]
        if len(self.files) <= 12:
            out += [f"  {f['name']}: {f['kind']}, {f['rows']} rows, {f['bytes']} bytes" for f in self.files]
        else:
            out.append(f"  {len(self.files)} files")
        out.append("  cases: " + ", ".join(f"{k} {v}" for k, v in self.cases.items())
                   + f" ({self.truth_rows} in truth.parquet)")
        if self.sci_rejects:
            out.append(f"  sci_ids: {self.sci_rejected_rows} rows carry ids like 2.14073E+16 and must be rejected: "
                       + ", ".join(f"{k} lines {v}" for k, v in self.sci_rejects.items()))
        out.append(f"  export time {self.export_time:%Y-%m-%d %H:%M}, truth as of {self.as_of:%Y-%m-%d %H:%M}")
        out.append(f"  {self.seconds:.1f} s: {self.orders / s:,.0f} orders/s, {self.rows_written / s:,.0f} rows/s, "
                   f"{self.bytes_written / s / 1e6:,.1f} MB/s")
        return out


# ---- in a worker: one chunk, made and rendered

_WORLD: World | None = None


def _init_worker(world: World) -> None:
    global _WORLD
    _WORLD = world


def _work(task) -> dict:
    w = _WORLD
    c, g0, n, counts, serial_off, n_sci = task
    ch = make_chunk(w, c, g0, n, counts, serial_off, n_sci)
    return {
        "c": c, "files": _chunk_files(w, ch), "truth": truth_table(w, ch), "max_created": int(ch.created.max()),
        "lines": len(ch.l_order), "refunds": int((ch.r["applied"] <= w.export_s).sum()),
        "shipments": int((ch.s_time <= w.export_s).sum()),
        "cases": Counter(CASE_NAMES[x - 1] for x in ch.case[ch.case > 0].tolist()),
    }


def _chunk_files(w: World, ch) -> dict:
    """(kind, export index) -> (CSV bytes, rows, sci rows relative to the chunk's first row)."""
    files = {}
    if "split_daily" not in w.quirks:
        for kind, (cols, nrows, sci_rows) in render(w, ch, w.export_s).items():
            files[(kind, 0)] = (csv_bytes(w, kind, cols), nrows, sci_rows.tolist())
        return files
    lo_created = int(ch.created.min())
    events = [ch.created, ch.paid, ch.ship1, ch.confirmed, ch.closed, ch.s_time]
    events += [ch.r[k] for k in ("applied", "finished", "agreed", "returned")]
    hi_event = max(int(a[a < NEVER].max()) for a in events if (a < NEVER).any())
    span = int(SPLIT_WINDOW.total_seconds())
    for j, T in enumerate(w.daily_times):
        if T < lo_created or T - span >= hi_event:  # this daily export shows nothing of the chunk
            continue
        for kind, (cols, nrows, sci_rows) in render(w, ch, T, T - span).items():
            files[(kind, j)] = (csv_bytes(w, kind, cols), nrows, sci_rows.tolist())
    return files


# ---- in the parent: options, files, the pool


def _check_options(fmt, encoding, quirks, orders, shops, days) -> tuple[str, tuple]:
    """The encoding and quirks to use, or a one-line error naming the option."""
    if fmt not in FORMATS:
        raise ShortshipError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    encoding = encoding or ("gbk" if fmt == "legacy" else "utf-8")
    encoding = {"utf8": "utf-8", "gb18030": "gbk"}.get(encoding.lower(), encoding.lower())
    if encoding not in ENCODINGS:
        raise ShortshipError(f"unknown encoding {encoding!r}; expected gbk or utf-8")
    quirks = tuple(q.strip() for q in quirks if q and q.strip())
    bad = [q for q in quirks if q not in QUIRKS]
    if bad:
        raise ShortshipError(f"unknown quirk {bad[0]!r}; quirks: {', '.join(QUIRKS)}")
    if "bom" in quirks and encoding != "utf-8":
        raise ShortshipError("quirk 'bom' needs --encoding utf-8 (a BOM is a UTF-8 thing)")
    if not isinstance(orders, int) or orders < 1:
        raise ShortshipError(f"--orders must be a whole number >= 1, not {orders!r}")
    if orders > 50_000_000:
        raise ShortshipError("--orders above 50,000,000 is not supported")
    if not 1 <= shops <= 200:
        raise ShortshipError(f"--shops must be between 1 and 200, not {shops}")
    if not 1 <= days <= 3660:
        raise ShortshipError(f"--days must be between 1 and 3660, not {days}")
    return encoding, quirks


def _penalty() -> Penalty:
    """The tmall preset's penalty; the truth prices every kind with the short rule."""
    from pipeline.policy import load_policy

    pol = load_policy("tmall")
    rule = pol.rule_for("short")
    for kind in ("short", "wrong", "empty", "unshipped"):
        if pol.rule_for(kind) != rule:
            raise ShortshipError(f"policy {pol.id}: a separate {kind} rule is not supported by the generator")
    return Penalty(pol.id, rule.rate, rule.floor_yuan, rule.cap_yuan, rule.points_per_yuan, pol.window_hours)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ShortshipError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    ours = sorted(p for p in out.iterdir() if p.is_file() and OUR_FILES.match(p.name))
    if ours:
        if not overwrite:
            raise ShortshipError(
                f"{out}: already holds generated files (e.g. {ours[0].name}); use --overwrite to replace them")
        for p in ours:
            p.unlink()


def _truth_metadata(w: World) -> dict:
    return {
        b"shortship.generator": b"pipeline.generate",
        b"shortship.seed": str(w.seed).encode(),
        b"shortship.format": w.fmt.encode(),
        b"shortship.as_of": dt(w.as_of_s).isoformat(sep=" ").encode(),
        b"shortship.export_time": dt(w.export_s).isoformat(sep=" ").encode(),
        b"shortship.policy": w.penalty.policy_id.encode(),
        b"shortship.period": f"{dt(w.start_s):%Y-%m-%d}/{dt(w.end_s):%Y-%m-%d}".encode(),
    }


class _Output:
    """The files of a run while chunks arrive in order: an export file is opened (header
    written) at its first rows and renamed from .part when no later chunk can add to it."""

    _KIND_ORDER = {"orders": 0, "items": 1, "refunds": 2, "shipments": 3}

    def __init__(self, w: World, out: Path, summary: GenerateSummary):
        self.w, self.out, self.summary = w, out, summary
        self.handles: dict[tuple, dict] = {}
        self.case_counts: Counter = Counter()
        self.truth_path = out / "truth.parquet.part"
        self.writer = pq.ParquetWriter(self.truth_path, TRUTH_SCHEMA.with_metadata(_truth_metadata(w)))

    def _handle(self, kind: str, j: int) -> dict:
        h = self.handles.get((kind, j))
        if h is None:
            name = f"{FILE_PREFIX[kind]}{stamp(self.w.daily_times[j])}.csv"
            fobj = open(self.out / (name + ".part"), "wb")
            hb = header_bytes(self.w, kind)
            fobj.write(hb)
            h = self.handles[(kind, j)] = {"f": fobj, "name": name, "kind": kind, "rows": 0, "bytes": len(hb)}
        return h

    def _finish(self, key: tuple) -> None:
        h = self.handles.pop(key)
        h["f"].close()
        os.replace(self.out / (h["name"] + ".part"), self.out / h["name"])
        self.summary.files.append({"name": h["name"], "kind": h["kind"], "rows": h["rows"], "bytes": h["bytes"]})

    def consume(self, res: dict) -> None:
        """One chunk's result (chunks arrive in order)."""
        s = self.summary
        for (kind, j), (data, nrows, sci_rows) in res["files"].items():
            h = self._handle(kind, j)
            if sci_rows:
                s.sci_rejects.setdefault(h["name"], []).extend(h["rows"] + 2 + x for x in sci_rows)
            h["f"].write(data)
            h["rows"] += nrows
            h["bytes"] += len(data)
        if res["truth"].num_rows:
            self.writer.write_table(res["truth"])
        s.truth_rows += res["truth"].num_rows
        s.lines += res["lines"]
        s.refunds += res["refunds"]
        s.shipment_rows += res["shipments"]
        self.case_counts.update(res["cases"])
        if "split_daily" in self.w.quirks:  # daily files that can receive nothing more
            for key in [k for k in self.handles if self.w.daily_times[k[1]] < res["max_created"]]:
                self._finish(key)

    def close(self) -> None:
        # an export with no rows is not written (the loader refuses header-only files)
        for key in list(self.handles):
            self._finish(key)
        self.writer.close()
        os.replace(self.truth_path, self.out / "truth.parquet")
        (self.out / "truth_columns.md").write_text(truth_markdown(self.w), encoding="utf-8")
        self.summary.files.sort(key=lambda f: (f["name"][-16:], self._KIND_ORDER[f["kind"]]))
        self.summary.cases = {name: self.case_counts.get(name, 0) for name in CASE_NAMES}

    def abort(self) -> None:
        self.writer.close()
        for h in self.handles.values():
            h["f"].close()


def _run(w: World, tasks: list, workers: int, consume: Callable[[dict], None]) -> None:
    """Every chunk, in this process or in a pool of `workers`; results are consumed in order,
    with at most 2 per worker waiting (memory stays flat)."""
    if workers <= 1 or len(tasks) == 1:
        _init_worker(w)
        for t in tasks:
            consume(_work(t))
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(w,)) as ex:
        pending = []
        for t in tasks:
            pending.append(ex.submit(_work, t))
            if len(pending) >= workers * 2:
                consume(pending.pop(0).result())
        for fut in pending:
            consume(fut.result())


def generate(
    out_dir: str | Path,
    orders: int,
    seed: int,
    fmt: str = "legacy",
    encoding: str | None = None,
    shops: int = 3,
    start: date | None = None,
    days: int = 30,
    rates: dict | None = None,
    quirks: Iterable[str] = (),
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    chunk_size: int = CHUNK_ORDERS,
) -> GenerateSummary:
    """Write synthetic exports and truth.parquet to `out_dir`; see the package doc."""
    t0 = time.perf_counter()
    encoding, quirks = _check_options(fmt, encoding, quirks, orders, shops, days)
    start = start or (date(2017, 5, 1) if fmt == "legacy" else date(2025, 5, 1))
    rates = parse_rates(rates)
    penalty = _penalty()
    out = Path(out_dir)
    _prepare_out(out, overwrite)
    w = build_world(orders=orders, seed=seed, fmt=fmt, encoding=encoding, shops=shops, start=start, days=days,
                    rates=rates, quirks=quirks, chunk_size=chunk_size, penalty=penalty)
    tasks = plan(w, rates, w.n_chunks, chunk_size)
    summary = GenerateSummary(out_dir=out, fmt=fmt, encoding=encoding, seed=seed, orders=orders,
                              export_time=dt(w.export_s), as_of=dt(w.as_of_s))
    output = _Output(w, out, summary)

    def consume(res: dict) -> None:
        output.consume(res)
        if progress:
            done = min((res["c"] + 1) * chunk_size, orders)
            progress(f"generate: chunk {res['c'] + 1}/{len(tasks)} ({done:,} orders)")

    try:
        _run(w, tasks, workers if workers is not None else min(2, os.cpu_count() or 1), consume)
        output.close()
    except BaseException:
        output.abort()
        raise
    summary.seconds = time.perf_counter() - t0
    return summary
