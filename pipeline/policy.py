"""Policy files: every number and word list of the platform rules lives in a TOML file.

Presets ship in pipeline/policies/<name>.toml (tmall, the default; taobao; jd). A user's own
TOML file is accepted by path. The file is checked whole: every key is required or has the
default documented below, every value is checked for type and range, and a key the schema does
not know (a typo such as `floor_yaun`) is an error; each error is ONE line naming the file and
the key (ShortshipError).

| key | required / default | range |
|---|---|---|
| id, effective_date | required | a non-empty string; a date |
| name, platform | default: the id; "tmall" | strings |
| penalty.rate | required | a quoted decimal in (0, 1], at most 10 places |
| penalty.floor_yuan, penalty.cap_yuan | required | quoted money, 0 ... 1,000,000, floor <= cap |
| penalty.points_per_yuan | required | a whole number 0 ... 10,000 (0 only when payout_form is not points) |
| penalty.payout_form | required | points, red_packet, beans, cash |
| penalty.base_scope | default affected_goods | affected_goods, order |
| penalty.cap_scope | default order | order, buyer_24h, item |
| penalty.<kind>.* | optional per-kind overrides of the keys above (default: [penalty]) | as above |
| shipping.window_hours | required | 1 ... 8,760 |
| shipping.reship_cures | default true | true / false |
| freight.per_parcel_yuan | required | quoted money, 0 ... 10,000 |
| freight.shop_bears | default true | true / false |
| review.min_short_claims | default 3 | 1 ... 1,000 |
| courier.claim | default postage_multiple | declared_value (insured parcels: the goods value), postage_multiple (the goods value, at most postage_multiple × the postage) |
| courier.postage_multiple | default "3" | a quoted decimal, above 0 and at most 100 |
| detection.* numbers | defaults in Policy below | ratios in (0, 1], others within reason |
| reasons.<kind>, goods_status.*, words.*, rulings.*, detection.<list> | default: empty | lists of strings |
| phrases.<list> | default: empty | lists of strings; <list> one of PHRASE_LISTS (a misspelt list would switch its rule off unseen) |
"""
from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from pipeline import resources
from pipeline.errors import ShortshipError

PRESET_DIR = resources.package() / "policies"  # pipeline/policies, installed or in the checkout
FLAG_KINDS = ("short", "wrong", "empty", "not_received", "unshipped")
BASE_SCOPES = ("affected_goods", "order")
CAP_SCOPES = ("order", "buyer_24h", "item")
PAYOUT_FORMS = ("points", "red_packet", "beans", "cash")
COURIER_CLAIMS = ("declared_value", "postage_multiple")
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
    makeup_lookback_orders: int = 50                # a make-up is traced among the buyer's latest N earlier orders
    weight_noise: Decimal = Decimal("3")            # a light parcel is this many noise widths light
    # word lists of [detection]: explained_reasons, negations, aftersale_reship, aftersale_exchange
    detection_terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # [phrases]: what a memo / message / description phrase says (gift, damage, other_order, ...)
    phrases: dict[str, list[str]] = field(default_factory=dict)
    # [courier]: what can be claimed back from a courier (courier_claims.csv)
    courier_claim: str = "postage_multiple"         # declared_value | postage_multiple
    courier_postage_multiple: Decimal = Decimal("3")  # the cap for unvalued parcels, × the postage

    def rule_for(self, kind: str) -> PenaltyRule:
        return self.penalty_by_kind.get(kind, self.penalty)


def presets() -> list[str]:
    return resources.policy_names()


def load_policy(name_or_path: str | Path | None = None) -> Policy:
    """A preset by name (default `tmall`) or a TOML file by path."""
    name_or_path = name_or_path or "tmall"
    p = Path(name_or_path)
    if p.suffix.lower() != ".toml" and str(name_or_path) in presets():
        p = resources.policy(str(name_or_path))
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
    except UnicodeDecodeError:
        raise ShortshipError(f"{p}: a policy file must be UTF-8 text") from None
    return parse_policy(data, str(p))


_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


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
        places: int | None = None, low: Decimal = Decimal(0), high: Decimal | None = None,
        low_open: bool = False,
    ) -> Decimal:
        name = full or key
        v = self.get(key, default, table, full)
        if isinstance(v, float):
            raise self._err(name, f"must be a quoted decimal string such as \"{v}\", not a float")
        if isinstance(v, bool) or not isinstance(v, (str, int, Decimal)):
            raise self._err(name, f"is not a number: {v!r}")
        text = str(v).strip()
        if text.startswith("-") and _PLAIN_DECIMAL.fullmatch(text[1:]):
            raise self._err(name, f"must not be negative: {v!r}")
        if not _PLAIN_DECIMAL.fullmatch(text):
            raise self._err(name, f"is not a plain decimal number (digits, one '.', no exponent): {v!r}")
        if places is not None and "." in text and len(text.split(".")[1].rstrip("0")) > places:
            raise self._err(name, f"has more than {places} decimal places: {v!r}")
        if len(text.split(".")[0].lstrip("0")) > 12:
            raise self._err(name, f"is out of range: {v!r}")
        d = Decimal(text)
        if d < low or (low_open and d == low) or (high is not None and d > high):
            bounds = f"{'above' if low_open else 'at least'} {low}" + (f" and at most {high}" if high is not None else "")
            raise self._err(name, f"must be {bounds}, not {v!r}")
        return d

    def choice(self, key: str, options: tuple[str, ...], default: Any = ..., table: dict | None = None, full: str | None = None) -> str:
        v = self.get(key, default, table, full)
        if v not in options:
            raise self._err(full or key, f"must be one of {', '.join(options)}, not {v!r}")
        return v

    def integer(self, key: str, default: Any = ..., table: dict | None = None, full: str | None = None,
                low: int = 0, high: int = 1_000_000) -> int:
        v = self.get(key, default, table, full)
        if not isinstance(v, int) or isinstance(v, bool):
            raise self._err(full or key, f"must be a whole number, not {v!r}")
        if not low <= v <= high:
            raise self._err(full or key, f"must be a whole number from {low} to {high:,}, not {v!r}")
        return v

    def boolean(self, key: str, default: Any = ...) -> bool:
        v = self.get(key, default)
        if not isinstance(v, bool):
            raise self._err(key, f"must be true or false, not {v!r}")
        return v

    def string(self, key: str, default: Any = ...) -> str:
        v = self.get(key, default)
        if not isinstance(v, str) or not v.strip() or len(v) > 200:
            raise self._err(key, f"must be a non-empty string, not {v!r}")
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

    def known_keys(self, table: dict, allowed: set[str], prefix: str = "") -> None:
        """A key the schema does not know is a typo until proven otherwise."""
        for k in table:
            if k not in allowed:
                where = f"{prefix}{k}"
                raise self._err(where, f"is not a policy setting (known here: {', '.join(sorted(allowed))})")


# the schema: tables and the scalar keys each may hold (list tables take any key, see _LIST_TABLES)
_TOP_KEYS = {"id", "name", "platform", "effective_date", "penalty", "shipping", "freight", "reasons",
             "goods_status", "words", "rulings", "review", "detection", "phrases", "courier"}
_PENALTY_KEYS = {"rate", "base_scope", "floor_yuan", "cap_yuan", "cap_scope", "points_per_yuan", "payout_form"}
_SHIPPING_KEYS = {"window_hours", "reship_cures"}
_FREIGHT_KEYS = {"per_parcel_yuan", "shop_bears"}
_REVIEW_KEYS = {"min_short_claims"}
_COURIER_KEYS = {"claim", "postage_multiple"}
_DETECTION_NUMBERS = {"light_parcel_ratio", "empty_parcel_ratio", "weight_noise_sigmas", "amount_tolerance_yuan",
                      "weight_min_samples", "negation_window", "makeup_lookback_orders"}
# the [phrases] lists the text models read (sql/flags/phrase_patterns.sql, text_parts.sql, texts.sql)
PHRASE_LISTS = ("gift", "damage", "other_order", "received", "not_trigger", "breaks", "measure_words", "not_counts",
                "descriptive", "filler", "packing", "substitution")
MAX_YUAN = Decimal("1000000")        # a floor or cap beyond this is a typo
MAX_POINTS_PER_YUAN = 10_000


def _penalty(r: _Reader, table: dict, prefix: str, base: PenaltyRule | None) -> PenaltyRule:
    r.known_keys(table, _PENALTY_KEYS | (set() if base else set(FLAG_KINDS)), f"{prefix}.")

    def money(key):
        return r.decimal(key, getattr(base, key) if base else ..., table, f"{prefix}.{key}", 2, high=MAX_YUAN)

    rule = PenaltyRule(
        rate=r.decimal("rate", base.rate if base else ..., table, f"{prefix}.rate", RATE_PLACES,
                       high=Decimal(1), low_open=True),
        base_scope=r.choice("base_scope", BASE_SCOPES, base.base_scope if base else "affected_goods", table, f"{prefix}.base_scope"),
        floor_yuan=money("floor_yuan"),
        cap_yuan=money("cap_yuan"),
        cap_scope=r.choice("cap_scope", CAP_SCOPES, base.cap_scope if base else "order", table, f"{prefix}.cap_scope"),
        points_per_yuan=r.integer("points_per_yuan", base.points_per_yuan if base else ..., table,
                                  f"{prefix}.points_per_yuan", high=MAX_POINTS_PER_YUAN),
        payout_form=r.choice("payout_form", PAYOUT_FORMS, base.payout_form if base else ..., table, f"{prefix}.payout_form"),
    )
    if rule.cap_yuan < rule.floor_yuan:
        raise r._err(f"{prefix}.cap_yuan", f"({rule.cap_yuan}) is below floor_yuan ({rule.floor_yuan})")
    if rule.payout_form == "points" and rule.points_per_yuan == 0:
        raise r._err(f"{prefix}.points_per_yuan", "must be at least 1 when payout_form is points")
    return rule


def _table(r: _Reader, key: str, allowed: set[str] | None, required: bool = False) -> dict:
    t = r.get(key, ... if required else {})
    if not isinstance(t, dict):
        raise r._err(key, "must be a table")
    if allowed is not None:
        r.known_keys({k: v for k, v in t.items() if not isinstance(v, list)}, allowed, f"{key}.")
    return t


def parse_policy(data: dict, source: str = "<policy>") -> Policy:
    r = _Reader(data, source)
    r.known_keys(data, _TOP_KEYS)
    pid = r.string("id")
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
    ptable = _table(r, "penalty", None, required=True)
    base = _penalty(r, ptable, "penalty", None)
    by_kind = {}
    for kind in FLAG_KINDS:
        if kind in ptable:
            if not isinstance(ptable[kind], dict):
                raise r._err(f"penalty.{kind}", "must be a table")
            by_kind[kind] = _penalty(r, ptable[kind], f"penalty.{kind}", base)
    for key in ("shipping", "freight", "review", "courier"):
        _table(r, key, {"shipping": _SHIPPING_KEYS, "freight": _FREIGHT_KEYS, "review": _REVIEW_KEYS,
                        "courier": _COURIER_KEYS}[key],
               required=key in ("shipping", "freight"))
    reasons = r.lists("reasons")
    bad = [k for k in reasons if k not in FLAG_KINDS]
    if bad:
        raise r._err(f"reasons.{bad[0]}", f"is not a kind ({', '.join(FLAG_KINDS)})")
    lists = {key: r.lists(key) for key in ("goods_status", "words", "rulings", "phrases")}
    r.known_keys(lists["phrases"], set(PHRASE_LISTS), "phrases.")
    return Policy(
        id=pid,
        name=r.string("name", pid),
        platform=r.string("platform", "tmall"),
        effective_date=eff,
        penalty=base,
        penalty_by_kind=by_kind,
        window_hours=r.integer("shipping.window_hours", low=1, high=8760),
        reship_cures=r.boolean("shipping.reship_cures", True),
        freight_per_parcel=r.decimal("freight.per_parcel_yuan", places=2, high=Decimal(10_000)),
        shop_bears_freight=r.boolean("freight.shop_bears", True),
        courier_claim=r.choice("courier.claim", COURIER_CLAIMS, "postage_multiple"),
        courier_postage_multiple=r.decimal("courier.postage_multiple", "3", places=2, high=Decimal(100),
                                           low_open=True),
        reasons=reasons,
        source=source,
        raw=data,
        **lists,
        **_detection(r),
    )


def _detection(r: _Reader) -> dict[str, Any]:
    """The [review] and [detection] tables (both optional)."""
    d = Policy.__dataclass_fields__
    table = _table(r, "detection", _DETECTION_NUMBERS)

    def ratio(key, attr):
        return r.decimal(f"detection.{key}", d[attr].default, high=Decimal(1), low_open=True, places=4)

    light = ratio("light_parcel_ratio", "light_parcel_ratio")
    empty = ratio("empty_parcel_ratio", "empty_parcel_ratio")
    if empty > light:
        raise r._err("detection.empty_parcel_ratio", f"({empty}) is above light_parcel_ratio ({light})")
    terms = {}
    for key, v in table.items():
        if isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise r._err(f"detection.{key}", "must be a list of strings")
            terms[key] = tuple(v)
    return dict(
        min_short_claims=r.integer("review.min_short_claims", d["min_short_claims"].default, low=1, high=1000),
        light_parcel_ratio=light,
        empty_parcel_ratio=empty,
        amount_tolerance=r.decimal("detection.amount_tolerance_yuan", d["amount_tolerance"].default, places=2,
                                   high=Decimal(100)),
        weight_min_samples=r.integer("detection.weight_min_samples", d["weight_min_samples"].default, low=1,
                                     high=100_000),
        negation_window=r.integer("detection.negation_window", d["negation_window"].default, high=100),
        makeup_lookback_orders=r.integer("detection.makeup_lookback_orders", d["makeup_lookback_orders"].default,
                                         low=1, high=100_000),
        weight_noise=r.decimal("detection.weight_noise_sigmas", d["weight_noise"].default, places=4,
                               high=Decimal(100)),
        detection_terms=terms,
    )


def normalize_reason(text: str | None) -> str:
    """How refund reasons are compared: no spaces, '.' and '/' alike (also full-width)."""
    if text is None:
        return ""
    return "".join(str(text).split()).replace("．", "/").replace(".", "/").replace("／", "/")
