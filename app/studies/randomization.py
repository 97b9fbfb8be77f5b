"""Permuted-block randomization, stratified, from recorded seed material (pure).

The arm of the n-th enrollment in a stratum is a pure function of the study seed, the
stratum, n, the arms and the block size, so the whole allocation sequence can be replayed
and audited from what the study records.

Block `b` of a stratum, so that it can be reproduced in any language:

1. Members: the arms sorted by key, each repeated weight / gcd(weights) * copies times,
   where copies = block size / (sum of weights / gcd(weights)).
2. Words: for counter 0, 1, 2, ...: SHA-256 of the UTF-8 bytes of
   seed + "\x1f" + stratum + "\x1f" + str(b), followed by the counter as 8 bytes big-endian;
   each digest is read as four unsigned 64-bit big-endian integers, in order.
3. Uniform integer in [0, n): the next word w with w < 2**64 - (2**64 mod n) (others are
   skipped, so there is no modulo bias), then w mod n.
4. Fisher-Yates (Durstenfeld): for i from len - 1 down to 1, swap members i and j, with j
   the uniform integer in [0, i + 1).

The shuffle is ours, not `random.shuffle`, whose sequence Python does not promise to keep
across versions.
"""

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from math import gcd
from typing import TypeVar

T = TypeVar("T")
_WORD = 2**64


@dataclass(frozen=True)
class ArmWeight:
    key: str
    weight: int


@dataclass(frozen=True)
class Allocated:
    arm_key: str
    block_no: int
    block_size: int
    sequence_no: int


def default_block_size(arms: Sequence[ArmWeight]) -> int:
    """Two copies of the weight ratio (reduced to lowest terms) per block."""
    return 2 * reduced_weight_total(arms)


def _weights_gcd(arms: Sequence[ArmWeight]) -> int:
    divisor = 0
    for arm in arms:
        divisor = gcd(divisor, arm.weight)
    return max(divisor, 1)


def reduced_weight_total(arms: Sequence[ArmWeight]) -> int:
    """Arms' weights in lowest terms, summed: the smallest block that respects them."""
    return sum(arm.weight for arm in arms) // _weights_gcd(arms)


def block_size_problem(arms: Sequence[ArmWeight], block_size: int | None) -> str | None:
    """Why this block size cannot respect the weights, or None when it can."""
    if block_size is None:
        return None
    unit = reduced_weight_total(arms)
    if block_size % unit:
        return f"block_size must be a multiple of {unit} to respect the arm weights"
    return None


def stratum_key(stratify_by: Sequence[str], strata: Mapping[str, object]) -> str:
    return "|".join(f"{name}={strata[name]}" for name in stratify_by)


def _words(material: bytes) -> Iterator[int]:
    """Unsigned 64-bit integers from SHA-256(material + 8-byte big-endian counter)."""
    for counter in count():
        digest = hashlib.sha256(material + counter.to_bytes(8, "big")).digest()
        for start in range(0, len(digest), 8):
            yield int.from_bytes(digest[start : start + 8], "big")


def uniform_below(words: Iterator[int], n: int) -> int:
    """Uniform in [0, n): words from the incomplete last multiple of n are rejected."""
    limit = _WORD - _WORD % n
    while (word := next(words)) >= limit:
        pass
    return word % n


def shuffled(items: Sequence[T], material: bytes) -> list[T]:
    """A Fisher-Yates shuffle of `items` driven by SHA-256 of `material` (see above)."""
    result = list(items)
    words = _words(material)
    for i in range(len(result) - 1, 0, -1):
        j = uniform_below(words, i + 1)
        result[i], result[j] = result[j], result[i]
    return result


def _block(
    seed: str, stratum: str, block_no: int, arms: Sequence[ArmWeight], size: int
) -> list[str]:
    copies = size // reduced_weight_total(arms)
    divisor = _weights_gcd(arms)
    members = [arm.key for arm in arms for _ in range(arm.weight // divisor * copies)]
    return shuffled(members, f"{seed}\x1f{stratum}\x1f{block_no}".encode())


def allocate(
    seed: str,
    stratum: str,
    sequence_no: int,
    arms: Sequence[ArmWeight],
    block_size: int | None = None,
) -> Allocated:
    """The arm for the `sequence_no`-th (0-based) enrollment in `stratum`."""
    if not arms:
        raise ValueError("no arms to allocate to")
    ordered = sorted(arms, key=lambda arm: arm.key)  # arm order in the request must not matter
    size = block_size or default_block_size(ordered)
    if problem := block_size_problem(ordered, size):
        raise ValueError(problem)
    block_no, position = divmod(sequence_no, size)
    arm_key = _block(seed, stratum, block_no, ordered, size)[position]
    return Allocated(arm_key=arm_key, block_no=block_no, block_size=size, sequence_no=sequence_no)
