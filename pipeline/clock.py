"""The run's clock: every time in shortship is China time (UTC+8) without a zone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.errors import ShortshipError

CHINA = timezone(timedelta(hours=8))


def china_now() -> datetime:
    return datetime.now(CHINA).replace(tzinfo=None, microsecond=0)


def parse_as_of(value: str | datetime | None) -> datetime:
    """`YYYY-MM-DD` (midnight), `YYYY-MM-DD HH:MM[:SS]`, a datetime, or None for now."""
    if value is None or value == "":
        return china_now()
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ShortshipError(f"--as-of {value!r}: expected YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS' (China time)")
