"""Permuted-block randomization, stratified, from recorded seed material (pure).

The arm of the n-th enrollment in a stratum is a pure function of the study seed, the
stratum, n, the arms and the block size, so the whole allocation sequence can be replayed
and audited from what the study records.
"""

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import gcd


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


def _block(
    seed: str, stratum: str, block_no: int, arms: Sequence[ArmWeight], size: int
) -> list[str]:
    copies = size // reduced_weight_total(arms)
    divisor = _weights_gcd(arms)
    members = [arm.key for arm in arms for _ in range(arm.weight // divisor * copies)]
    digest = hashlib.sha256(f"{seed}\x1f{stratum}\x1f{block_no}".encode()).digest()
    random.Random(int.from_bytes(digest, "big")).shuffle(members)
    return members


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
