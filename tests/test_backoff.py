"""Retry timing (pure): growth, jitter bounds, Retry-After, and the prompt's expiry."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.push.backoff import (
    BASE_SECONDS,
    CAP_SECONDS,
    backoff_ceiling,
    decide_retry,
    next_attempt_at,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
attempts = st.integers(1, 200)
seeds = st.integers(0, 2**32)


def test_the_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    ceilings = [backoff_ceiling(n) for n in range(1, 12)]
    assert ceilings[:4] == [BASE_SECONDS, 2 * BASE_SECONDS, 4 * BASE_SECONDS, 8 * BASE_SECONDS]
    assert ceilings == sorted(ceilings)
    assert ceilings[-1] == CAP_SECONDS
    assert backoff_ceiling(10_000) == CAP_SECONDS
    with pytest.raises(ValueError, match="from 1"):
        backoff_ceiling(0)


@given(attempt=attempts, seed=seeds)
def test_jitter_stays_between_now_and_the_ceiling(attempt: int, seed: int) -> None:
    at = next_attempt_at(NOW, attempt, None, random.Random(seed))
    assert NOW <= at <= NOW + timedelta(seconds=backoff_ceiling(attempt))


def test_jitter_spreads_the_retries() -> None:
    delays = {next_attempt_at(NOW, 8, None, random.Random(seed)) for seed in range(20)}
    assert len(delays) == 20


@given(attempt=attempts, seed=seeds, retry_after=st.floats(0, 7200))
def test_retry_after_is_a_floor_even_above_the_cap(
    attempt: int, seed: int, retry_after: float
) -> None:
    at = next_attempt_at(NOW, attempt, retry_after, random.Random(seed))
    assert at >= NOW + timedelta(seconds=retry_after)
    assert at <= NOW + timedelta(seconds=max(retry_after, backoff_ceiling(attempt)))


@given(
    attempt=attempts,
    seed=seeds,
    retry_after=st.none() | st.floats(0, 7200),
    left=st.integers(1, 4 * 3600),
)
def test_a_retry_is_never_planned_at_or_past_expiry(
    attempt: int, seed: int, retry_after: float | None, left: int
) -> None:
    expires_at = NOW + timedelta(seconds=left)
    decision = decide_retry(NOW, attempt, retry_after, expires_at, random.Random(seed))
    if decision.retry_at is None:
        assert decision.reason is not None and "expires" in decision.reason
    else:
        assert NOW <= decision.retry_at < expires_at


def test_retries_go_on_while_the_prompt_lives_however_many() -> None:
    expires_at = NOW + timedelta(hours=2)
    decision = decide_retry(NOW, 50, None, expires_at, random.Random(1))
    assert decision.retry_at is not None
    late = decide_retry(NOW, 50, 3 * 3600, expires_at, random.Random(1))
    assert late.retry_at is None


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_attempt_at(NOW.replace(tzinfo=None), 1, None, random.Random(1))
