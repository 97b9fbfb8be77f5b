"""Exact running sums of needs: the count, sum and sum of squares of a series of values,
kept as exact fractions so a value can be added and taken away again without drift.

A check-in then reads its person's and its study's statistics from one summary each
instead of their whole history, and gets the very numbers a computation from scratch over
that history gives: the mean is the exact mean rounded once (as `statistics.mean`), the
variance the exact sample variance rounded once, and the standard deviation its correctly
rounded square root (as `statistics.stdev`).
"""

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Self

# Bits kept beyond a float's mantissa when rounding a square root (stdlib `statistics`).
_SQRT_BIT_WIDTH = 2 * sys.float_info.mant_dig + 3


def _isqrt_of_frac_round_to_odd(numerator: int, denominator: int) -> int:
    root = math.isqrt(numerator // denominator)
    return root | (root * root * denominator != numerator)


def sqrt_of_fraction(value: Fraction) -> float:
    """The square root of an exact non-negative fraction, correctly rounded to a float.

    Round-to-odd on enough extra bits, then one rounding to the float (the method of
    CPython's `statistics.stdev`, whose helper is private)."""
    numerator, denominator = value.numerator, value.denominator
    q, _ = divmod(numerator.bit_length() - denominator.bit_length() - _SQRT_BIT_WIDTH, 2)
    if q >= 0:
        return float(_isqrt_of_frac_round_to_odd(numerator, denominator << 2 * q) << q)
    root = _isqrt_of_frac_round_to_odd(numerator << -2 * q, denominator)
    return root / (1 << -q)


@dataclass(frozen=True)
class RunningSums:
    """The count, exact sum and exact sum of squares of some finite values."""

    count: int = 0
    total: Fraction = Fraction(0)
    squares: Fraction = Fraction(0)

    @classmethod
    def of(cls, values: Iterable[float]) -> Self:
        sums = cls()
        for value in values:
            sums = sums.add(value)
        return sums

    def add(self, value: float) -> Self:
        exact = Fraction(value)
        return type(self)(self.count + 1, self.total + exact, self.squares + exact * exact)

    def remove(self, value: float) -> Self:
        exact = Fraction(value)
        return type(self)(self.count - 1, self.total - exact, self.squares - exact * exact)

    def mean(self) -> float:
        return float(self.total / self.count)

    def _square_deviations(self) -> Fraction:
        return self.squares - self.total * self.total / self.count

    def variance(self) -> float:
        """The sample variance (n - 1), for two values or more."""
        return float(self._square_deviations() / (self.count - 1))

    def stdev(self) -> float:
        """The sample standard deviation, as `statistics.stdev` gives it."""
        return sqrt_of_fraction(self._square_deviations() / (self.count - 1))

    def dump(self) -> dict[str, Any]:
        """For a JSON column: the fractions as exact "numerator/denominator" strings."""
        return {"count": self.count, "total": str(self.total), "squares": str(self.squares)}

    @classmethod
    def load(cls, stored: dict[str, Any]) -> Self:
        return cls(stored["count"], Fraction(stored["total"]), Fraction(stored["squares"]))
