"""Policy files: every number and word list of the platform rules lives in a TOML file.

Presets ship in pipeline/policies/<name>.toml (tmall, the default; taobao; jd). A user's own
TOML file is accepted by path. A bad file raises ShortshipError naming the file and the key.
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from pipeline.errors import ShortshipError

PRESET_DIR = Path(__file__).resolve().parent / "policies"
FLAG_KINDS = ("short", "wrong", "empty", "not_received", "unshipped")
BASE_SCOPES = ("affected_goods", "order")
CAP_SCOPES = ("order", "buyer_24h", "item")
PAYOUT_FORMS = ("points", "red_packet", "beans", "cash")
RATE_PLACES = 10  # rates are carried as DECIMAL(18,10) in SQL; money keys have 2 places


@dataclass(frozen=True)
class PenaltyRule:
    rate: Decimal
    base_scope: str
    floor_yuan: Decimal
    cap_yuan: Decimal
    cap_scope: str
    points_per_yuan: int
    payout_form: str


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    platform: str
    effective_date: dt.date
    penalty: PenaltyRule
    penalty_by_kind: dict[str, PenaltyRule]  # overrides, e.g. taobao's late-shipment rule
    window_hours: int
    reship_cures: bool
    freight_per_parcel: Decimal
    shop_bears_freight: bool
    reasons: dict[str, list[str]]
    goods_status: dict[str, list[str]]
    words: dict[str, list[str]]
    rulings: dict[str, list[str]]
    source: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    # detection settings ([review] and [detection]; defaults when a policy file has none)
    min_short_claims: int = 3                       # [review]: claims that put a buyer under review
    light_parcel_ratio: Decimal = Decimal("0.70")   # parcel below this share of its expected weight: short
    empty_parcel_ratio: Decimal = Decimal("0.20")   # below this share: empty
    amount_tolerance: Decimal = Decimal("0.01")     # refund vs k x unit price, in yuan
    weight_min_samples: int = 5                     # parcels needed before a SKU's weight is trusted
    negation_window: int = 6                        # characters a negation may stand before a word
    weight_noise: Decimal = Decimal("3")            # a light parcel is this many noise widths light
    # word lists of [detection]: explained_reasons, negations, aftersale_reship, aftersale_exchange
    detection_terms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def rule_for(self, kind: str) -> PenaltyRule:
        return self.penalty_by_kind.get(kind, self.penalty)


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_policy(name_or_path: str | Path | None = None) -> Policy:
    """A preset by name (default `tmall`) or a TOML file by path."""
    name_or_path = name_or_path or "tmall"
    p = Path(name_or_path)
    if p.suffix.lower() != ".toml" and (PRESET_DIR / f"{name_or_path}.toml").exists():
        p = PRESET_DIR / f"{name_or_path}.toml"
    elif not p.exists():
        raise ShortshipError(
            f"policy {name_or_path!r}: no such preset or file (presets: {', '.join(presets())})"
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ShortshipError(f"{p}: not valid TOML ({e})") from None
    except OSError as e:
        raise ShortshipError(f"{p}: cannot read policy file ({e.strerror})") from None
    return parse_policy(data, str(p))


class _Reader:
    def __init__(self, data: dict, source: str):
        self.data, self.source = data, source

    def _err(self, key: str, msg: str) -> ShortshipError:
        return ShortshipError(f"{self.source}: policy key '{key}' {msg}")

    def get(self, key: str, default: Any = ..., table: dict | None = None, full: str | None = None) -> Any:
        node: Any = self.data if table is None else table
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is ...:
                    raise self._err(full or key, "is missing")
                return default
            node = node[part]
        return node

    def decimal(
        self, key: str, default: Any = ..., table: dict | None = None, full: str | None = None,
        places: int | None = None,
    ) -> Decimal:
        v = self.get(key, default, table, full)
        if isinstance(v, float):
            raise self._err(full or key, f"must be a quoted decimal string such as \"{v}\", not a float")
        if isinstance(v, bool) or not isinstance(v, (str, int, Decimal)):
            raise self._err(full or key, f"is not a number: {v!r}")
        try:
            d = Decimal(str(v).strip())
        except InvalidOperation:
            raise self._err(full or key, f"is not a number: {v!r}") from None
        if not d.is_finite():
            raise self._err(full or key, f"is not a number: {v!r}")
        if d < 0:
            raise self._err(full or key, f"must not be negative: {v!r}")
        if places is not None and d != d.quantize(Decimal(1).scaleb(-places)):
            raise self._err(full or key, f"has more than {places} decimal places: {v!r}")
        return d

    def choice(self, key: str, options: tuple[str, ...], default: Any = ..., table: dict | None = None, full: str | None = None) -> str:
        v = self.get(key, default, table, full)
        if v not in options:
            raise self._err(full or key, f"must be one of {', '.join(options)}, not {v!r}")
        return v

    def integer(self, key: str, default: Any = ..., table: dict | None = None, full: str | None = None) -> int:
        v = self.get(key, default, table, full)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise self._err(full or key, f"must be a whole number >= 0, not {v!r}")
        return v

    def boolean(self, key: str, default: Any = ...) -> bool:
        v = self.get(key, default)
        if not isinstance(v, bool):
            raise self._err(key, f"must be true or false, not {v!r}")
        return v

    def lists(self, key: str) -> dict[str, list[str]]:
        t = self.get(key, {})
        if not isinstance(t, dict):
            raise self._err(key, "must be a table of lists")
        out = {}
        for k, v in t.items():
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise self._err(f"{key}.{k}", "must be a list of strings")
            out[k] = v
        return out


def _penalty(r: _Reader, table: dict, prefix: str, base: PenaltyRule | None) -> PenaltyRule:
    def d(key, attr, places=2):
        return r.decimal(key, getattr(base, attr) if base else ..., table, f"{prefix}.{key}", places)

    rule = PenaltyRule(
        rate=d("rate", "rate", RATE_PLACES),
        base_scope=r.choice("base_scope", BASE_SCOPES, base.base_scope if base else "affected_goods", table, f"{prefix}.base_scope"),
        floor_yuan=d("floor_yuan", "floor_yuan") if base or "floor_yuan" in table else Decimal("0"),
        cap_yuan=d("cap_yuan", "cap_yuan"),
        cap_scope=r.choice("cap_scope", CAP_SCOPES, base.cap_scope if base else "order", table, f"{prefix}.cap_scope"),
        points_per_yuan=r.integer("points_per_yuan", base.points_per_yuan if base else ..., table, f"{prefix}.points_per_yuan"),
        payout_form=r.choice("payout_form", PAYOUT_FORMS, base.payout_form if base else ..., table, f"{prefix}.payout_form"),
    )
    if rule.rate > 1:
        raise r._err(f"{prefix}.rate", f"must be a fraction between 0 and 1, not {rule.rate}")
    if rule.cap_yuan < rule.floor_yuan:
        raise r._err(f"{prefix}.cap_yuan", f"({rule.cap_yuan}) is below floor_yuan ({rule.floor_yuan})")
    return rule


def parse_policy(data: dict, source: str = "<policy>") -> Policy:
    r = _Reader(data, source)
    pid = r.get("id")
    if not isinstance(pid, str) or not pid:
        raise r._err("id", "must be a non-empty string")
    eff = r.get("effective_date")
    if isinstance(eff, str):
        try:
            eff = dt.date.fromisoformat(eff)
        except ValueError:
            raise r._err("effective_date", f"is not a date: {eff!r}") from None
    if isinstance(eff, dt.datetime):
        eff = eff.date()
    if not isinstance(eff, dt.date):
        raise r._err("effective_date", f"is not a date: {eff!r}")
    ptable = r.get("penalty")
    if not isinstance(ptable, dict):
        raise r._err("penalty", "must be a table")
    base = _penalty(r, ptable, "penalty", None)
    by_kind = {}
    for kind in FLAG_KINDS:
        if isinstance(ptable.get(kind), dict):
            by_kind[kind] = _penalty(r, ptable[kind], f"penalty.{kind}", base)
    unknown = [k for k, v in ptable.items() if isinstance(v, dict) and k not in FLAG_KINDS]
    if unknown:
        raise r._err(f"penalty.{unknown[0]}", f"is not a kind ({', '.join(FLAG_KINDS)})")
    reasons = r.lists("reasons")
    bad = [k for k in reasons if k not in FLAG_KINDS]
    if bad:
        raise r._err(f"reasons.{bad[0]}", f"is not a kind ({', '.join(FLAG_KINDS)})")
    window = r.integer("shipping.window_hours")
    if window == 0:
        raise r._err("shipping.window_hours", "must be above 0")
    return Policy(
        id=pid,
        name=str(r.get("name", pid)),
        platform=str(r.get("platform", "tmall")),
        effective_date=eff,
        penalty=base,
        penalty_by_kind=by_kind,
        window_hours=window,
        reship_cures=r.boolean("shipping.reship_cures", True),
        freight_per_parcel=r.decimal("freight.per_parcel_yuan", "0", places=2),
        shop_bears_freight=r.boolean("freight.shop_bears", True),
        reasons=reasons,
        goods_status=r.lists("goods_status"),
        words=r.lists("words"),
        rulings=r.lists("rulings"),
        source=source,
        raw=data,
        **_detection(r),
    )


def _detection(r: _Reader) -> dict[str, Any]:
    """The [review] and [detection] tables (both optional)."""
    d = Policy.__dataclass_fields__
    light = r.decimal("detection.light_parcel_ratio", d["light_parcel_ratio"].default)
    empty = r.decimal("detection.empty_parcel_ratio", d["empty_parcel_ratio"].default)
    if light > 1:
        raise r._err("detection.light_parcel_ratio", f"must be a fraction between 0 and 1, not {light}")
    if empty > light:
        raise r._err("detection.empty_parcel_ratio", f"({empty}) is above light_parcel_ratio ({light})")
    table = r.get("detection", {})
    if not isinstance(table, dict):
        raise r._err("detection", "must be a table")
    terms = {}
    for key, v in table.items():
        if isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise r._err(f"detection.{key}", "must be a list of strings")
            terms[key] = tuple(v)
    return dict(
        min_short_claims=r.integer("review.min_short_claims", d["min_short_claims"].default),
        light_parcel_ratio=light,
        empty_parcel_ratio=empty,
        amount_tolerance=r.decimal("detection.amount_tolerance_yuan", d["amount_tolerance"].default, places=2),
        weight_min_samples=r.integer("detection.weight_min_samples", d["weight_min_samples"].default),
        negation_window=r.integer("detection.negation_window", d["negation_window"].default),
        weight_noise=r.decimal("detection.weight_noise_sigmas", d["weight_noise"].default),
        detection_terms=terms,
    )


def normalize_reason(text: str | None) -> str:
    """How refund reasons are compared: no spaces, '.' and '/' alike (also full-width)."""
    if text is None:
        return ""
    return "".join(str(text).split()).replace("．", "/").replace(".", "/").replace("／", "/")
