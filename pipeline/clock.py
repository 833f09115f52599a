"""The run's clock: every time in shortship is China time (UTC+8) without a zone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.errors import ShortshipError

CHINA = timezone(timedelta(hours=8))
# an as-of outside these years is a typo (0001-01-01, 1900, 20019), not a clock
FIRST_YEAR, LAST_YEAR = 2000, 2100


def china_now() -> datetime:
    return datetime.now(CHINA).replace(tzinfo=None, microsecond=0)


def parse_as_of(value: str | datetime | None) -> datetime:
    """`YYYY-MM-DD` (midnight), `YYYY-MM-DD HH:MM[:SS]`, a datetime, or None for now."""
    if value is None or value == "":
        return china_now()
    if isinstance(value, datetime):
        return _plausible(value.replace(tzinfo=None), value)
    text = str(value).strip()
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return _plausible(datetime.strptime(text, pattern), value)
        except ValueError:
            continue
    raise ShortshipError(f"--as-of {value!r}: expected YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS' (China time), a real date")


def _plausible(when: datetime, value) -> datetime:
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        raise ShortshipError(
            f"--as-of {str(value)!r}: the year {when.year} is outside {FIRST_YEAR}-{LAST_YEAR} (a typo?)"
        )
    return when


def fmt(when: datetime | None) -> str:
    """A time as printed everywhere: YYYY-MM-DD HH:MM:SS (four-digit year)."""
    return "" if when is None else f"{when.year:04d}-{when:%m-%d %H:%M:%S}"
