"""Policy presets and bad policy files: one clear error naming the key."""
from __future__ import annotations

import datetime as dt

import pytest

from pipeline.errors import ShortshipError
from pipeline.policy import load_policy, presets

from .helpers import D, policy_file, tmall_text


def test_presets_have_id_effective_date_and_numbers():
    assert {"tmall", "taobao", "jd"} <= set(presets())
    t, tb, jd = load_policy("tmall"), load_policy("taobao"), load_policy("jd")
    for p in (t, tb, jd):
        assert p.id and isinstance(p.effective_date, dt.date)
    assert load_policy(None).id == t.id  # tmall is the default
    assert (t.penalty.rate, t.penalty.floor_yuan, t.penalty.cap_yuan, t.penalty.points_per_yuan) == (
        D("0.30"), D("5.00"), D("500.00"), 100)
    # taobao: 缺货 and post-delivery shortage 30 % with 5–100 yuan as a red packet; late shipment 5 % with 5–30
    assert (tb.platform, tb.penalty.rate, tb.penalty.floor_yuan, tb.penalty.cap_yuan, tb.penalty.payout_form) == (
        "taobao", D("0.30"), D("5.00"), D("100.00"), "red_packet")
    late = tb.rule_for("unshipped")
    assert (late.rate, late.floor_yuan, late.cap_yuan, late.payout_form) == (D("0.05"), D("5.00"), D("30.00"), "red_packet")
    assert tb.rule_for("short") == tb.penalty
    # jd: 30 %, at most 500 yuan per item, 100 beans per yuan
    assert (jd.platform, jd.penalty.rate, jd.penalty.cap_yuan, jd.penalty.cap_scope, jd.penalty.points_per_yuan,
            jd.penalty.payout_form) == ("jd", D("0.30"), D("500.00"), "item", 100, "beans")


def test_user_file_by_path(tmp_path):
    p = policy_file(tmp_path, tmall_text(id='id = "my-shop-2024"', rate='rate = "0.25"'), "mine.toml")
    pol = load_policy(str(p))
    assert pol.id == "my-shop-2024" and pol.penalty.rate == D("0.25")
    assert load_policy(p).id == "my-shop-2024"


def _error(tmp_path, **replace) -> str:
    p = policy_file(tmp_path, tmall_text(**replace))
    with pytest.raises(ShortshipError) as e:
        load_policy(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    return msg


def test_missing_key(tmp_path):
    assert "policy key 'penalty.rate' is missing" in _error(tmp_path, rate=None)
    assert "policy key 'penalty.cap_yuan' is missing" in _error(tmp_path, cap_yuan=None)
    assert "policy key 'id' is missing" in _error(tmp_path, id=None)
    assert "policy key 'shipping.window_hours' is missing" in _error(tmp_path, window_hours=None)


def test_float_instead_of_quoted_decimal(tmp_path):
    msg = _error(tmp_path, rate="rate = 0.3")
    assert "policy key 'penalty.rate'" in msg and "quoted decimal" in msg
    assert "policy key 'freight.per_parcel_yuan'" in _error(tmp_path, per_parcel_yuan="per_parcel_yuan = 8.0")


def test_unknown_choice(tmp_path):
    msg = _error(tmp_path, cap_scope='cap_scope = "shop"')
    assert "policy key 'penalty.cap_scope' must be one of order, buyer_24h, item" in msg
    assert "policy key 'penalty.payout_form'" in _error(tmp_path, payout_form='payout_form = "coupons"')
    assert "policy key 'penalty.base_scope'" in _error(tmp_path, base_scope='base_scope = "shop"')


def test_cap_below_floor(tmp_path):
    msg = _error(tmp_path, cap_yuan='cap_yuan = "3.00"')
    assert "policy key 'penalty.cap_yuan'" in msg and "below floor_yuan" in msg


def test_override_errors_name_the_kind(tmp_path):
    text = tmall_text() + '\n[penalty.unshipped]\nrate = "0.05"\ncap_yuan = "1.00"\n'
    p = policy_file(tmp_path, text)
    with pytest.raises(ShortshipError, match="policy key 'penalty.unshipped.cap_yuan'"):
        load_policy(p)


def test_more_places_than_the_money_has(tmp_path):
    assert "policy key 'penalty.floor_yuan' has more than 2 decimal places" in _error(
        tmp_path, floor_yuan='floor_yuan = "5.001"')


def test_no_such_preset():
    with pytest.raises(ShortshipError, match="no such preset or file"):
        load_policy("nosuch")


@pytest.mark.parametrize("name", ["taobao", "jd"])
def test_preset_vocabulary_follows_tmall(name):
    """The taobao and jd presets carry the back-office vocabulary of tmall.toml (a copy of its
    sections from [reasons] on): when tmall.toml's lists change, copy them over."""
    t, p = load_policy("tmall").raw, load_policy(name).raw
    for section in ("reasons", "goods_status", "words", "rulings", "review", "detection"):
        assert p.get(section) == t.get(section), f"{name}.toml [{section}] differs from tmall.toml"
