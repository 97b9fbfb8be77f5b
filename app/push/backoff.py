"""When to try a failed push again (pure: the caller passes the time and the randomness).

Exponential backoff with full jitter: attempt n waits a uniform random time in
[0, min(cap, base * 2**(n-1))], but never less than the server's Retry-After. Retry-After
wins over the cap: the server said not before then. Retries go on until the prompt
expires: a prompt is worth sending as long as it can still be answered.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

BASE_SECONDS = 5.0
CAP_SECONDS = 600.0
# 2**62 seconds already dwarfs any cap; clamping the exponent avoids float overflow.
_MAX_EXPONENT = 62


def backoff_ceiling(attempt: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> float:
    """The most attempt `attempt` (1 = the first retry) waits before jitter: non-decreasing."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))


def next_attempt_at(
    now: datetime,
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
    *,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
) -> datetime:
    """When to make retry number `attempt`: full jitter below the ceiling, not before
    `retry_after` seconds from `now` when the server sent one."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    delay = rng.uniform(0.0, backoff_ceiling(attempt, base=base, cap=cap))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Either when to retry, or why not (the caller marks the prompt failed with it)."""

    retry_at: datetime | None
    reason: str | None = None


def decide_retry(
    now: datetime,
    attempt: int,
    retry_after: float | None,
    expires_at: datetime,
    rng: random.Random,
) -> RetryDecision:
    """Retry number `attempt` (counted per push: the first push and each reminder start
    again at 1), unless it would come too late: a prompt that cannot go out before it
    expires is not worth sending."""
    retry_at = next_attempt_at(now, attempt, retry_after, rng)
    if retry_at >= expires_at:
        # No instant in the words: the prompt's expires_at column holds it, and a relative
        # export shifts that column but cannot find a date inside free text.
        return RetryDecision(None, "it expires before the next attempt could go out")
    return RetryDecision(retry_at)
