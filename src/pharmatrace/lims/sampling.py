"""Sampling rules: how many containers of a lot to sample, and which (TJ-7.5.1). Pure: no database.

A rule names how the sample count ``k`` follows from the number of containers ``n`` of a lot:

================ ==============================================================================================
rule             containers sampled
================ ==============================================================================================
``herb_chp0211`` the Chinese Pharmacopoeia general chapter 0211 for herbal materials and decoction pieces:
                 n < 5 every container; 5–99 five; 100–1,000 5 % of n; above 1,000 5 % of the first 1,000
                 plus 1 % of the excess; precious materials every container. Fractions round up.
``sqrt_n_plus_1`` ⌈√n⌉ + 1, never more than n (the usual plan for other starting materials)
``all``          every container
``fixed:k``      k containers, never more than n
================ ==============================================================================================

The containers are drawn at random with a seed recorded on the sampling record (TJ-7.5.1 "随机抽样的实现方式"):
:func:`select` is ``random.Random(seed).sample(population, k)`` over the container codes in container-number
order, so anyone holding the record (seed, population, k) repeats the draw and gets the same containers.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from pharmatrace.kernel.errors import N_, ValidationFailed

RULES = ("herb_chp0211", "sqrt_n_plus_1", "all", "fixed")
SEED_BITS = 63  # fits a signed 64-bit column on both databases


@dataclass(frozen=True, slots=True)
class Rule:
    """A sampling rule: its name, the ``k`` of ``fixed:k``, and whether the material is precious (herbs)."""

    name: str
    fixed_count: int | None = None
    precious: bool = False

    def __post_init__(self) -> None:
        if self.name not in RULES:
            raise ValidationFailed(N_("Unknown sampling rule “{rule}”"), rule=self.name)
        if (self.name == "fixed") != (self.fixed_count is not None):
            raise ValidationFailed(
                N_("A fixed rule names its number of containers, and only a fixed rule does")
            )
        if self.fixed_count is not None and self.fixed_count < 1:
            raise ValidationFailed(N_("A fixed rule samples at least one container"))

    @property
    def text(self) -> str:
        """``herb_chp0211``, ``sqrt_n_plus_1``, ``all`` or ``fixed:k`` (how the record shows the rule)."""
        return f"fixed:{self.fixed_count}" if self.name == "fixed" else self.name

    @classmethod
    def parse(cls, text: str, *, precious: bool = False) -> Rule:
        """``fixed:3`` → ``Rule("fixed", 3)``; the other names as they are."""
        name, _, count = text.strip().partition(":")
        if name == "fixed":
            if not count.isdigit():
                raise ValidationFailed(N_("Write a fixed rule as fixed:k, e.g. fixed:3"))
            return cls(name, int(count), precious)
        if count:
            raise ValidationFailed(N_("Unknown sampling rule “{rule}”"), rule=text)
        return cls(name, None, precious)


def herb_count(n: int, *, precious: bool = False) -> int:
    """ChP 0211: how many packages of a lot of ``n`` packages of a herbal material are sampled."""
    _containers(n)
    if precious or n < 5:
        return n
    if n < 100:
        return 5
    if n <= 1000:
        return -(-5 * n // 100)  # 5 %, rounded up
    return 50 + -(-(n - 1000) // 100)  # 5 % of 1,000 plus 1 % of the excess, rounded up


def sqrt_count(n: int) -> int:
    """⌈√n⌉ + 1, capped at ``n``."""
    _containers(n)
    root = math.isqrt(n)
    if root * root < n:
        root += 1
    return min(root + 1, n)


def sample_count(rule: Rule, n: int) -> int:
    """The number of containers ``rule`` samples from a lot of ``n`` containers (1 ≤ result ≤ n)."""
    _containers(n)
    if rule.name == "herb_chp0211":
        return herb_count(n, precious=rule.precious)
    if rule.name == "sqrt_n_plus_1":
        return sqrt_count(n)
    if rule.name == "all":
        return n
    assert rule.fixed_count is not None
    return min(rule.fixed_count, n)


def new_seed() -> int:
    """A seed from the operating system's cryptographic source: nobody chooses the containers."""
    return secrets.randbits(SEED_BITS)


def select(population: Sequence[str], count: int, seed: int) -> list[str]:
    """The ``count`` containers drawn from ``population`` with ``seed``, in the order drawn (reproducible)."""
    if not 1 <= count <= len(population):
        raise ValidationFailed(N_("Cannot draw {count} of {n} containers"), count=count, n=len(population))
    if len(set(population)) != len(population):
        raise ValidationFailed(N_("A container is listed twice"))
    return random.Random(seed).sample(list(population), count)  # noqa: S311 - reproducible by design


def _containers(n: int) -> None:
    if n < 1:
        raise ValidationFailed(N_("A lot without containers cannot be sampled"))
