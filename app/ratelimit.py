"""Limits on failed attempts counted from rows of failure times in a sliding window."""

import math
from collections.abc import Sequence
from datetime import datetime, timedelta


def seconds_until_under(times: Sequence[datetime], limit: int, window: int, now: datetime) -> int:
    """How long until fewer than `limit` of these failure times (oldest first) lie within
    the window of `window` seconds: the Retry-After of a refusal."""
    expiring = times[len(times) - limit] + timedelta(seconds=window)
    return max(1, math.ceil((expiring - now).total_seconds()))
