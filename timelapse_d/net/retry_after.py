"""HTTP ``Retry-After``: how long a server asks us to wait, for every client in the project."""
from __future__ import annotations

import email.utils
from datetime import datetime, timezone


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delay seconds or an HTTP date); None if absent or unreadable.

    >>> retry_after_seconds("120")
    120.0
    >>> retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT")
    0.0
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are in GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
