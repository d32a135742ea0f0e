"""Automatic checks of a weighing against its target and its scale (TJ-6.3.2.2.a/b, TJ-B.2.2.2).

Like the SOP of a dispensing booth: the scale must be calibrated and fine enough for the tolerance, the
load within its range, the weight stable, and the net weight within the tolerance (limits included).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from pharmatrace.adapters.scale import Weight
from pharmatrace.equipment.models import Equipment
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.numbers import round_gbt8170
from pharmatrace.mes.weighing_check import (
    Reading,
    ScaleFacts,
    Target,
    WeighingRefused,
    check_scale_for_target,
    check_weighing,
)
from pharmatrace.storage.engine import Database

AT = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
BAL = ScaleFacts(
    code="BAL-02", name="电子天平 6.2 kg", capacity=Decimal("6200"), readability=Decimal("0.01"), unit="g",
    min_weight=Decimal("1"), calibration_status="calibrated", calibrated_until=AT + timedelta(days=30),
)  # fmt: skip
TARGET = Target(Decimal("100"), "g", Decimal("0.5"))  # 100 g ± 0.5 g


def net(value: str, tare: str = "35.20", unit: str = "g", *, stable: bool = True) -> Reading:
    return Reading.of_net(Decimal(value), Decimal(tare), unit, stable=stable)


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_within_tolerance_up_to_both_limits() -> None:
    for value, deviation in (("100.00", "0.00"), ("99.50", "-0.50"), ("100.50", "+0.50")):
        check = check_weighing(BAL, net(value), TARGET, AT)
        assert check.passed, (value, check.reasons)
        assert check.within_tolerance is True
        assert check.shown_deviation == deviation
        assert (check.lower, check.upper) == (Decimal("99.5"), Decimal("100.5"))
    assert check_weighing(BAL, net("100.50"), TARGET, AT).require_passed().deviation == Decimal("0.50")


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_one_step_beyond_either_limit_is_out_of_tolerance_with_the_deviation() -> None:
    for value, deviation, percent in (("99.49", "-0.51", "-0.51"), ("100.51", "+0.51", "+0.51")):
        check = check_weighing(BAL, net(value), TARGET, AT)
        assert check.codes == ("out_of_tolerance",)
        assert check.within_tolerance is False
        assert check.deviation == Decimal(deviation)
        assert (check.shown_deviation, check.shown_deviation_percent) == (deviation, percent)
        reason = check.reasons[0]
        assert reason.english() == (
            f"The net weight {value} g is outside the tolerance 99.5 … 100.5 g (target 100 g, deviation {deviation} g)"
        )


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_a_tolerance_in_percent_and_a_target_in_another_unit() -> None:
    percent = Target(Decimal("200"), "g", Decimal("1"), "percent")  # 198 … 202 g
    assert check_weighing(BAL, net("198.00"), percent, AT).passed
    assert check_weighing(BAL, net("202.00"), percent, AT).passed
    assert check_weighing(BAL, net("197.99"), percent, AT).codes == ("out_of_tolerance",)
    in_kg = Target(Decimal("1.2"), "kg", Decimal("0.005"))  # 1.195 … 1.205 kg on a scale in g
    check = check_weighing(BAL, net("1204.99"), in_kg, AT)
    assert check.passed
    assert (check.net, check.unit, check.shown_deviation) == (Decimal("1.20499"), "kg", "+0.00499")
    assert check_weighing(BAL, net("1205.01"), in_kg, AT).codes == ("out_of_tolerance",)
    reading_in_kg = check_weighing(BAL, net("0.10001", tare="0", unit="kg"), TARGET, AT)
    assert reading_in_kg.net == Decimal("100.01")
    assert reading_in_kg.passed


@pytest.mark.clause("TJ-6.3.2.2.b", "TJ-B.2.2.2")
def test_the_scale_must_be_calibrated_at_the_time_of_weighing() -> None:
    assert check_weighing(BAL, net("100"), TARGET, AT).calibration == "calibrated"
    for facts, code, calibration in (
        (replace(BAL, calibrated_until=AT), "calibration_expired", "expired"),  # the validity ends at ``until``
        (replace(BAL, calibrated_until=AT - timedelta(days=1)), "calibration_expired", "expired"),
        (replace(BAL, calibration_status="not_calibrated", calibrated_until=None), "not_calibrated",
         "not_calibrated"),
        (replace(BAL, calibration_status=None, calibrated_until=None), "not_calibrated", "not_calibrated"),
        (replace(BAL, calibration_status="out_of_tolerance"), "calibration_failed", "out_of_tolerance"),
    ):  # fmt: skip
        check = check_weighing(facts, net("100"), TARGET, AT)
        assert check.codes == (code,), facts
        assert check.calibration == calibration
        assert check.within_tolerance is True  # the comparison is still made and shown
    expired = check_weighing(replace(BAL, calibrated_until=AT - timedelta(days=1)), net("100"), TARGET, AT)
    assert expired.reasons[0].english() == "The calibration of scale BAL-02 expired at 2026-11-28 10:00"
    one_second_before = check_weighing(BAL, net("100"), TARGET, AT + timedelta(days=30, seconds=-1))
    assert one_second_before.passed


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-B.2.2.2")
def test_the_net_weight_must_reach_the_minimum_weight() -> None:
    small = Target(Decimal("1.5"), "g", Decimal("0.5"))  # 1.0 … 2.0 g
    assert check_weighing(BAL, net("1.00"), small, AT).passed  # exactly the minimum weight
    below = check_weighing(BAL, net("0.99"), small, AT)
    assert set(below.codes) == {"below_min_weight", "out_of_tolerance"}
    assert (
        below.reasons[0].english()
        == "The net weight 0.99 g is below the minimum weight of scale BAL-02 (1 g)"
    )
    # the container does not count (USP <41>): 0.99 g net on 500 g of tare is still below
    assert "below_min_weight" in check_weighing(BAL, net("0.99", tare="500"), small, AT).codes
    # no minimum weight registered: 20 d
    no_min = replace(BAL, min_weight=None)
    assert no_min.effective_min_weight == Decimal("0.20")
    tiny = Target(Decimal("0.3"), "g", Decimal("0.1"))
    assert check_weighing(no_min, net("0.20"), tiny, AT).passed
    assert check_weighing(no_min, net("0.19"), tiny, AT).codes == ("below_min_weight", "out_of_tolerance")
    # before weighing: a target the scale cannot weigh
    assert [r.code for r in check_scale_for_target(BAL, Target(Decimal("0.8"), "g", Decimal("0.1")), AT)] == [
        "target_below_min_weight"
    ]


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-B.2.2.2")
def test_the_load_must_not_exceed_the_capacity() -> None:
    big = Target(Decimal("6000"), "g", Decimal("10"))
    assert check_weighing(BAL, net("6000.00", tare="200"), big, AT).passed  # gross = capacity
    over = check_weighing(BAL, net("6000.00", tare="200.01"), big, AT)
    assert over.codes == ("above_capacity",)
    assert over.reasons[0].english() == "The load 6200.01 g exceeds the capacity of scale BAL-02 (6200 g)"
    assert [r.code for r in check_scale_for_target(BAL, Target(Decimal("6200"), "g", Decimal("1")), AT)] == [
        "target_above_capacity"
    ]


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-B.2.2.2")
def test_the_readability_must_be_fine_enough_for_the_tolerance() -> None:
    coarse = replace(BAL, readability=Decimal("0.1"), min_weight=Decimal("5"))
    exact = Target(Decimal("100"), "g", Decimal("0.2"))  # T = 2 d: just fine
    assert check_weighing(coarse, net("100.2"), exact, AT).passed
    too_tight = Target(Decimal("100"), "g", Decimal("0.19"))
    check = check_weighing(coarse, net("100.0"), too_tight, AT)
    assert check.codes == ("readability_too_coarse",)
    assert check.reasons[0].english() == (
        "The readability of scale BAL-02 (d = 0.1 g) is too coarse for a tolerance of ± 0.19 g: "
        "the tolerance must be at least 0.2 g"
    )
    # a percentage tolerance is turned into its absolute value first: 0.1 % of 100 g = 0.1 g < 0.2 g
    assert (
        "readability_too_coarse"
        in check_weighing(
            coarse, net("100.0"), Target(Decimal("100"), "g", Decimal("0.1"), "percent"), AT
        ).codes
    )


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_a_dynamic_or_inconsistent_reading_is_not_a_result() -> None:
    assert check_weighing(BAL, net("100.00", stable=False), TARGET, AT).codes == ("not_stable",)
    wrong = Reading(gross=Decimal("135.20"), tare=Decimal("35.20"), net=Decimal("100.10"), unit="g")
    assert check_weighing(BAL, wrong, TARGET, AT).codes == ("inconsistent_reading",)
    assert check_weighing(BAL, net("100", unit="lb"), TARGET, AT).codes == ("unknown_unit",)


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.3.2.2.b")
def test_the_weight_must_come_from_the_registered_instrument() -> None:
    registered = replace(BAL, serial_number="B947654321")
    reading = Reading.from_scale(
        Weight(Decimal("100.02"), "g", stable=True), Weight(Decimal("35.20"), "g", stable=True), "B947654321"
    )
    assert (reading.gross, reading.tare, reading.net, reading.unit) == (
        Decimal("135.22"), Decimal("35.20"), Decimal("100.02"), "g")  # fmt: skip
    assert check_weighing(registered, reading, TARGET, AT).passed
    swapped = replace(reading, serial_number="B000000001")
    check = check_weighing(registered, swapped, TARGET, AT)
    assert check.codes == ("wrong_instrument",)
    assert check.reasons[0].english() == (
        "The weight came from the instrument with serial number B000000001, but scale BAL-02 is registered "
        "with serial number B947654321"
    )
    # nothing to compare when either side does not know the serial number
    assert check_weighing(BAL, swapped, TARGET, AT).passed
    assert check_weighing(registered, replace(reading, serial_number=""), TARGET, AT).passed
    dynamic = Reading.from_scale(
        Weight(Decimal("100"), "g", stable=False), Weight(Decimal("0"), "g", stable=True)
    )
    assert check_weighing(BAL, dynamic, TARGET, AT).codes == ("not_stable",)
    with pytest.raises(ValidationFailed, match="tare in kg"):
        Reading.from_scale(
            Weight(Decimal("100"), "g", stable=True), Weight(Decimal("0.1"), "kg", stable=True)
        )


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.3.2.2.b")
def test_every_failed_check_is_named_and_the_refusal_lists_them_in_english() -> None:
    bad = replace(BAL, calibration_status="out_of_tolerance", readability=Decimal("0.5"))
    check = check_weighing(bad, net("7000", tare="0", stable=False), TARGET, AT)
    assert check.codes == (
        "calibration_failed", "readability_too_coarse", "not_stable", "above_capacity", "out_of_tolerance",
    )  # fmt: skip
    with pytest.raises(WeighingRefused) as refused:
        check.require_passed()
    assert refused.value.code == "weighing_refused"
    assert isinstance(refused.value, ValidationFailed)
    text = str(refused.value)
    assert text.startswith(
        "The weighing on scale BAL-02 is not accepted: Scale BAL-02 failed its last calibration"
    )
    assert text.count("; ") == 4


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_equipment_that_does_not_weigh_is_refused() -> None:
    tank = SimpleNamespace(
        code="TK-01", name="配液罐", equipment_class="tank", capacity=None, readability=None, min_weight=None,
        weight_unit=None, calibration_status=None, calibrated_until=None, serial_no="",
    )  # fmt: skip
    check = check_weighing(ScaleFacts.from_equipment(tank), net("100"), TARGET, AT)
    assert check.codes == ("not_weighing_instrument",)
    assert check.within_tolerance is None


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_a_target_that_makes_no_sense_is_refused() -> None:
    for args in ((Decimal("0"), "g", Decimal("1")), (Decimal("10"), "g", Decimal("-1")),
                 (Decimal("10"), "lb", Decimal("1")), (Decimal("10"), "g", Decimal("100"), "percent")):  # fmt: skip
        with pytest.raises(ValidationFailed):
            Target(*args)  # type: ignore[arg-type]


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_rounding_of_shown_values_follows_gb_t_8170() -> None:
    # the examples of GB/T 8170-2008 (四舍六入五成双): once, to the stated digits
    for value, quantum, rounded in (
        ("12.1498", "0.1", "12.1"), ("10.502", "0.1", "10.5"), ("1.050", "0.1", "1.0"), ("0.350", "0.1", "0.4"),
        ("2.5", "1", "2"), ("3.5", "1", "4"), ("-0.0365", "0.001", "-0.036"), ("1.0501", "0.1", "1.1"),
    ):  # fmt: skip
        assert round_gbt8170(Decimal(value), Decimal(quantum)) == Decimal(rounded), value
    # a deviation shown to the scale's readability: 1.0005 g on a 0.001 g target step
    fine = replace(BAL, readability=Decimal("0.001"), min_weight=Decimal("0.02"))
    check = check_weighing(fine, net("1.0005", tare="0"), Target(Decimal("1"), "g", Decimal("0.01")), AT)
    assert (check.deviation, check.shown_deviation) == (Decimal("0.0005"), "0.000")  # 5 to the even 0
    assert check.shown_deviation_percent == "+0.05"


@pytest.mark.clause("TJ-6.3.2.2.b", "TJ-B.2.2.2")
def test_the_facts_of_the_demo_balances_from_the_equipment_register(db: Database) -> None:
    now = clock.now()
    with db.sessions() as session:
        scales = {e.code: ScaleFacts.from_equipment(e) for e in session.scalars(select(Equipment))
                  if e.code in ("BAL-01", "BAL-02", "SC-01")}  # fmt: skip
    assert (scales["BAL-01"].readability, scales["BAL-01"].serial_number) == (Decimal("0.0001"), "B945123456")
    assert check_weighing(
        scales["BAL-01"], net("10.0000", tare="20"), Target(Decimal("10"), "g", Decimal("0.05")), now
    ).passed
    # BAL-02's calibration expired in the demo plant
    assert check_weighing(scales["BAL-02"], net("100"), TARGET, now).codes == ("calibration_expired",)
    # SC-01 weighs in kg: 25 kg ± 50 g
    sc01 = check_weighing(
        scales["SC-01"],
        net("25.03", tare="1.2", unit="kg"),
        Target(Decimal("25000"), "g", Decimal("50")),
        now,
    )
    assert sc01.passed, sc01.reasons
    assert sc01.net == Decimal("25030")


@pytest.mark.clause("TJ-6.3.2.2", "TJ-6.3.2.2.a", "TJ-6.3.2.2.b")
def test_a_weighing_read_from_the_balance_interface_is_checked_automatically() -> None:
    """The whole path of TJ-6.3.2.2.a: tare the container, dispense, read S / TA / I4, compare."""
    from pharmatrace.adapters.scale import ScaleClient
    from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator, SimulatedScale

    registered = replace(BAL, serial_number="B947654321")

    async def weigh(material: str) -> Reading:
        spec = SimulatedScale(serial_number="B947654321", settle_time=0.05, stable_wait=1)
        async with MtSicsSimulator(spec) as sim, ScaleClient("127.0.0.1", sim.port) as scale:
            sim.set_load(Decimal("35.204"))  # the empty container
            await scale.tare()
            sim.set_load(Decimal("35.204") + Decimal(material))
            net = await scale.stable_weight()
            return Reading.from_scale(net, await scale.tare_weight(), await scale.serial_number())

    def run(coroutine: Coroutine[Any, Any, Reading]) -> Reading:  # a loop of its own, whatever runs here
        with ThreadPoolExecutor(1) as worker:
            return worker.submit(asyncio.run, coroutine).result()

    good = run(weigh("100.3"))
    assert (good.net, good.tare, good.gross) == (Decimal("100.30"), Decimal("35.20"), Decimal("135.50"))
    assert check_weighing(registered, good, TARGET, AT).passed
    short = check_weighing(registered, run(weigh("99.4")), TARGET, AT)
    assert short.codes == ("out_of_tolerance",)
    assert short.shown_deviation == "-0.60"
