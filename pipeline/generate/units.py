"""The integer units everything is drawn in: seconds since 1970 (China time, no zone), cents,
and ids made by a bijection so that they look random but never collide."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

NEVER = np.int64(1 << 62)  # the time of an event that does not happen
HOUR, DAY, MINUTE = 3600, 86400, 60
_EPOCH = datetime(1970, 1, 1)


def sec(d: datetime) -> int:
    return int((d - _EPOCH).total_seconds())


def dt(s: int | np.integer | None) -> datetime | None:
    if s is None or int(s) >= int(NEVER):
        return None
    return _EPOCH + timedelta(seconds=int(s))


def stamp(s: int) -> str:
    """yyyyMMddHHmm, as in the names of the exports."""
    return dt(s).strftime("%Y%m%d%H%M")


def dec(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def round_div(num: int, den: int) -> int:
    """round_half_up(num / den) for non-negative integers."""
    return (2 * num + den) // (2 * den)


def mix(x: np.ndarray, mul, add, bits: int = 50) -> np.ndarray:
    """A bijection of [0, 2**bits): ids that look random but never collide."""
    x = np.asarray(x).astype(np.uint64)
    return ((x * np.uint64(mul) + np.uint64(add)) & np.uint64((1 << bits) - 1)).astype(np.int64)
