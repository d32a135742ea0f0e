"""Sampling rules (TJ-7.5.1): the number of containers at every boundary, and a draw anyone can repeat."""

from __future__ import annotations

import random

import pytest

from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.lims import sampling
from pharmatrace.lims.sampling import Rule, herb_count, sample_count, sqrt_count

pytestmark = pytest.mark.clause("TJ-7.5.1")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, 1), (4, 4),  # fewer than 5 packages: every package
        (5, 5), (6, 5), (99, 5),  # 5–99: five
        (100, 5), (101, 6), (119, 6), (120, 6), (121, 7), (999, 50), (1000, 50),  # 5 %, rounded up
        (1001, 51), (1100, 51), (1101, 52), (2000, 60), (2001, 61),  # 50 plus 1 % of the excess, rounded up
    ],
)  # fmt: skip
def test_the_pharmacopoeia_rule_for_herbs_at_every_boundary(n: int, expected: int) -> None:
    assert herb_count(n) == expected
    assert sample_count(Rule("herb_chp0211"), n) == expected


@pytest.mark.parametrize("n", [1, 4, 5, 99, 100, 1000, 1001, 5000])
def test_a_precious_herb_is_sampled_in_every_package(n: int) -> None:
    assert herb_count(n, precious=True) == n
    assert sample_count(Rule("herb_chp0211", precious=True), n) == n


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4), (10, 5), (16, 5), (17, 6), (25, 6), (26, 7), (100, 11),
     (101, 12)],
)  # fmt: skip
def test_square_root_plus_one_rounds_the_root_up_and_never_exceeds_n(n: int, expected: int) -> None:
    assert sqrt_count(n) == expected
    assert sample_count(Rule("sqrt_n_plus_1"), n) == expected


@pytest.mark.parametrize(("k", "n", "expected"), [(3, 10, 3), (3, 3, 3), (3, 2, 2), (1, 1, 1)])
def test_a_fixed_rule_takes_k_but_never_more_than_the_lot_has(k: int, n: int, expected: int) -> None:
    assert sample_count(Rule("fixed", k), n) == expected
    assert sample_count(Rule.parse(f"fixed:{k}"), n) == expected


def test_every_container_means_every_container() -> None:
    assert [sample_count(Rule("all"), n) for n in (1, 7, 250)] == [1, 7, 250]


@pytest.mark.parametrize("n", [0, -1])
def test_a_lot_without_containers_cannot_be_counted(n: int) -> None:
    for rule in (Rule("herb_chp0211"), Rule("sqrt_n_plus_1"), Rule("all"), Rule("fixed", 2)):
        with pytest.raises(ValidationFailed, match="without containers"):
            sample_count(rule, n)


def test_rules_are_written_and_read_as_the_record_shows_them() -> None:
    assert Rule.parse("fixed:4") == Rule("fixed", 4)
    assert Rule("fixed", 4).text == "fixed:4"
    assert Rule.parse("sqrt_n_plus_1").text == "sqrt_n_plus_1"
    for bad, message in [("fixed", "fixed:k"), ("fixed:x", "fixed:k"), ("sqrt_n", "Unknown sampling rule"),
                         ("all:3", "Unknown sampling rule")]:  # fmt: skip
        with pytest.raises(ValidationFailed, match=message):
            Rule.parse(bad)
    with pytest.raises(ValidationFailed, match="only a fixed rule"):
        Rule("all", 3)
    with pytest.raises(ValidationFailed, match="at least one"):
        Rule("fixed", 0)


def test_the_draw_repeats_from_its_seed_and_is_the_documented_python_call() -> None:
    population = [f"FL261100001-{i:03d}" for i in range(1, 21)]
    seed = 8_046_113_925_337_114_321
    drawn = sampling.select(population, 6, seed)
    assert drawn == sampling.select(population, 6, seed)  # anyone with the record repeats it
    assert drawn == random.Random(seed).sample(population, 6)  # exactly what the record page says
    assert len(set(drawn)) == 6 and set(drawn) <= set(population)
    assert drawn != sampling.select(population, 6, seed + 1)  # another seed, another draw


def test_seeds_come_from_the_system_and_fit_the_column() -> None:
    seeds = {sampling.new_seed() for _ in range(50)}
    assert len(seeds) == 50
    assert all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize(("count", "population"), [(0, ["A"]), (2, ["A"]), (1, [])])
def test_a_draw_of_more_containers_than_there_are_is_refused(count: int, population: list[str]) -> None:
    with pytest.raises(ValidationFailed, match="Cannot draw"):
        sampling.select(population, count, 1)


def test_a_population_that_lists_a_container_twice_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="listed twice"):
        sampling.select(["A", "B", "A"], 2, 1)
