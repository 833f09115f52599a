"""The plan of a run: case rates, and per chunk how many orders of each case, which serial
claims it holds and how many ids Excel mangles. Drawn from (seed, 3) before any chunk, so the
chunks can be made in any process in any order."""
from __future__ import annotations

import numpy as np

from pipeline.errors import ShortshipError
from pipeline.generate.cases import CASE_NAMES, CASES
from pipeline.generate.world import World

SCI_RATE = 0.001  # share of rows whose id is mangled by `sci_ids`


def parse_rates_option(text: str | None) -> dict[str, float]:
    """`short_reason=0.01,all=0.005` -> dict (later items win)."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ShortshipError(f"--rates item {item!r} is not name=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_rates(rates) -> dict[str, float]:
    """Every case's rate: the defaults, then `rates` (name or `all` -> share of orders)."""
    out = {name: spec[4] for name, spec in CASES.items()}
    if not rates:
        return out
    for name, v in dict(rates).items():
        if name != "all" and name not in out:
            raise ShortshipError(f"unknown case {name!r} in rates; cases: {', '.join(CASE_NAMES)}")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ShortshipError(f"rate for {name!r} is not a number: {v!r}") from None
        if not 0 <= v <= 0.2:
            raise ShortshipError(f"rate for {name!r} must be between 0 and 0.2, not {v}")
        if name == "all":
            out = {k: v for k in out}
        else:
            out[name] = v
    if sum(out.values()) > 0.6:
        raise ShortshipError(
            f"case rates add up to {sum(out.values()):.2f}; at most 0.6 of the orders can carry a case")
    return out


def _draw_count(rng, x: float) -> int:
    """x rounded down or up, up with probability x - floor(x): counts that add up to the rate."""
    return int(x) + int(rng.random() < x - int(x))


def plan(w: World, rates: dict, n_chunks: int, chunk: int) -> list[tuple]:
    """Per chunk: (c, g0, n, case counts, offset of its serial claims, (sci orders, sci item orders)).
    Also picks the serial claimers (w.claimers), about one per five serial claims."""
    rng = np.random.default_rng([w.seed, 3])
    tasks = []
    serial_total = 0
    sci_total = 0
    for c in range(n_chunks):
        g0 = c * chunk
        n = min(chunk, w.n_orders - g0)
        counts = {name: _draw_count(rng, rates[name] * n) for name in CASE_NAMES}
        n_sci = (0, 0)
        if "sci_ids" in w.quirks:
            n_sci = (_draw_count(rng, SCI_RATE * n), _draw_count(rng, SCI_RATE * n))
            sci_total += sum(n_sci)
        tasks.append([c, g0, n, counts, serial_total, n_sci])
        serial_total += counts["serial_claimer"]
    if "sci_ids" in w.quirks and sci_total == 0 and tasks:
        tasks[0][5] = (1, 1 if w.n_orders > 1 else 0)
    n_claimers = max(1, serial_total // 5)
    crng = np.random.default_rng([w.seed, 5])
    w.claimers = np.sort(crng.choice(np.arange(w.n_buyers // 10, w.n_buyers),
                                     size=min(n_claimers, w.n_buyers - w.n_buyers // 10),
                                     replace=False)).astype(np.int64)
    return [tuple(t) for t in tasks]
