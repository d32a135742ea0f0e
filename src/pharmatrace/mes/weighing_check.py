"""Checks of one weighing against its target and its scale (称量自动比对; TJ-6.3.2.2.a/b, TJ-B.2.2.2).

Pure: no database, no clock, no writes. The caller gives the scale's facts (from the equipment register:
:meth:`ScaleFacts.from_equipment`), the reading the scale sent (gross, tare, net) and the target with its
tolerance; :func:`check_weighing` answers with every failed check as a reason (a code, an English msgid
and its parameters), never only the first. The weighing record that keeps the answer belongs to batch
execution.

The rules, and where they come from:

* **Tolerance** — the net weight must lie in ``[target - T, target + T]``, both limits included. The
  comparison uses the reading's full value, never a rounded one (GB/T 8170-2008 全数值比较法, the method
  that applies when a standard does not name one); rounding (GB/T 8170, 四舍六入五成双) only shapes the
  deviation shown to people. ``T`` is absolute or a percentage of the target.
* **Calibration** — the scale's calibration must hold at the time of weighing: status ``calibrated`` and
  its validity not passed (TJ-6.3.2.2.b records the calibration status in every weighing report).
* **Load range** — the gross load (container included) must not exceed the capacity; the net quantity
  must reach the minimum weight (USP <41>/<1251>: the minimum weight applies to the sample, not to the
  container). A scale registered without a minimum weight is held to 20 d (the smallest Min OIML R 76
  allows a class II instrument).
* **Readability** — the tolerance must be at least 2 d. The shown value carries a rounding error of up
  to d/2; a decision rule needs the tolerance to be at least four times the error of the measurement
  (the 4:1 test-uncertainty ratio of ANSI/NCSL Z540.3 and common metrology practice): T ≥ 4 × d/2 = 2 d.
* **Stability** — only a stable weight (MT-SICS ``S S``) is a result; a dynamic one never is.
* **Identity** — when the scale's serial number was read (MT-SICS ``I4``) and the register knows it, they
  must agree: the weight came from the registered instrument (TJ-6.3.2.2.b names the scale in the report).
* **Consistency** — net = gross - tare, all in known units (mg, g, kg, converted exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pharmatrace.adapters.scale import Weight
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Reasons, ValidationFailed
from pharmatrace.kernel.numbers import plain_number, round_gbt8170

UNITS: dict[str, Decimal] = {"mg": Decimal("0.001"), "g": Decimal(1), "kg": Decimal(1000)}  # in grams
WEIGHING_CLASSES = ("balance", "scale")  # the equipment classes that weigh (equipment/models.py)
MIN_TOLERANCE_IN_D = 2  # T ≥ 2 d (see the module docstring)
DEFAULT_MIN_WEIGHT_IN_D = 20  # OIML R 76 class II: Min = 20 e
PERCENT_PLACES = 2  # a deviation in % is shown with two decimals

ToleranceKind = Literal["absolute", "percent"]


def convert(value: Decimal, unit: str, to: str) -> Decimal:
    """An exact conversion between mg, g and kg."""
    if unit == to:
        return value
    return value * UNITS[unit] / UNITS[to]


# --- inputs -------------------------------------------------------------------------------------------


class _WeighingEquipment(Protocol):
    """The attributes of ``equipment.models.Equipment`` a check reads (kept as a protocol: no import)."""

    code: str
    name: str
    equipment_class: str
    capacity: Decimal | None
    readability: Decimal | None
    min_weight: Decimal | None
    weight_unit: str | None
    calibration_status: str | None
    calibrated_until: datetime | None
    serial_no: str


@dataclass(frozen=True, slots=True)
class ScaleFacts:
    """What a check needs to know about the scale (称具; TJ-B.2.2.2 CJMC, CJBH, CJZT, CJJD)."""

    code: str
    name: str
    capacity: Decimal
    readability: Decimal  # d
    unit: str
    min_weight: Decimal | None = None  # None: 20 d
    calibration_status: str | None = None  # "calibrated" | "not_calibrated" | "out_of_tolerance"
    calibrated_until: datetime | None = None
    weighing_instrument: bool = True
    serial_number: str = ""  # as registered; "" when unknown

    @classmethod
    def from_equipment(cls, equipment: _WeighingEquipment) -> ScaleFacts:
        """The facts of a registered piece of equipment; equipment that does not weigh gives facts that
        every check refuses (``not_weighing_instrument``)."""
        weighs = equipment.equipment_class in WEIGHING_CLASSES and equipment.capacity is not None
        return cls(
            code=equipment.code,
            name=equipment.name,
            capacity=equipment.capacity if equipment.capacity is not None else Decimal(0),
            readability=equipment.readability if equipment.readability is not None else Decimal(0),
            unit=equipment.weight_unit or "g",
            min_weight=equipment.min_weight,
            calibration_status=equipment.calibration_status,
            calibrated_until=equipment.calibrated_until,
            weighing_instrument=weighs,
            serial_number=equipment.serial_no or "",
        )

    @property
    def effective_min_weight(self) -> Decimal:
        return self.min_weight if self.min_weight is not None else self.readability * DEFAULT_MIN_WEIGHT_IN_D

    def calibration_at(self, at: datetime) -> str:
        """The calibration status that holds at ``at``: the recorded one, or ``expired`` past its validity."""
        if self.calibration_status == "calibrated":
            if self.calibrated_until is None or self.calibrated_until <= at:
                return "expired"
            return "calibrated"
        return self.calibration_status or "not_calibrated"


@dataclass(frozen=True, slots=True)
class Reading:
    """A reading as the scale gave it: gross, tare and net in ``unit``; ``stable`` from ``S S``."""

    gross: Decimal
    tare: Decimal
    net: Decimal
    unit: str
    stable: bool = True
    serial_number: str = ""  # as the scale answered ``I4``; "" when not read

    @classmethod
    def of_net(
        cls, net: Decimal, tare: Decimal, unit: str, *, stable: bool = True, serial_number: str = ""
    ) -> Reading:
        """A reading from a net weight (MT-SICS ``S``) and the tare in memory (``TA``)."""
        return cls(
            gross=net + tare, tare=tare, net=net, unit=unit, stable=stable, serial_number=serial_number
        )

    @classmethod
    def from_scale(cls, net: Weight, tare: Weight, serial_number: str = "") -> Reading:
        """A reading from what :class:`~pharmatrace.adapters.scale.ScaleClient` returned: ``S`` (net) and
        ``TA`` (tare), both in the scale's unit."""
        if net.unit != tare.unit:
            raise ValidationFailed(
                N_("The net weight is in {unit} but the tare in {tare_unit}"),
                unit=net.unit,
                tare_unit=tare.unit,
            )
        return cls.of_net(net.value, tare.value, net.unit, stable=net.stable, serial_number=serial_number)


@dataclass(frozen=True, slots=True)
class Target:
    """The quantity to weigh and its tolerance (± ``tolerance``, absolute in ``unit`` or a percentage)."""

    quantity: Decimal
    unit: str
    tolerance: Decimal
    tolerance_kind: ToleranceKind = "absolute"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValidationFailed(N_("Unknown weight unit “{unit}”"), unit=self.unit)
        if not (self.quantity.is_finite() and self.quantity > 0):
            raise ValidationFailed(N_("The target quantity must be positive"))
        if not (self.tolerance.is_finite() and self.tolerance >= 0):
            raise ValidationFailed(N_("The tolerance must not be negative"))
        if self.tolerance_kind not in ("absolute", "percent"):
            raise ValidationFailed(N_("A tolerance is absolute or a percentage"))
        if self.tolerance_kind == "percent" and self.tolerance >= 100:
            raise ValidationFailed(N_("A tolerance in percent must be below 100 %"))

    @property
    def absolute_tolerance(self) -> Decimal:
        """T in the target's unit."""
        if self.tolerance_kind == "percent":
            return self.quantity * self.tolerance / 100
        return self.tolerance

    @property
    def lower(self) -> Decimal:
        return self.quantity - self.absolute_tolerance

    @property
    def upper(self) -> Decimal:
        return self.quantity + self.absolute_tolerance


# --- the answer ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckReason:
    """One failed check: a code for machines, an English msgid and its parameters for people."""

    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def english(self) -> str:
        return self.message.format(**self.params)


@dataclass(frozen=True, slots=True)
class WeighingCheck:
    """The answer: every failed check, and the figures a weighing report shows (TJ-6.3.2.2.b)."""

    scale_code: str
    at: datetime
    calibration: str  # the calibration status that held at ``at`` (CJZT)
    reasons: tuple[CheckReason, ...]
    net: Decimal | None = None  # the net weight in the target's unit (None: not comparable)
    deviation: Decimal | None = None  # net - target, in the target's unit, full value
    deviation_percent: Decimal | None = None  # full value
    lower: Decimal | None = None
    upper: Decimal | None = None
    unit: str = "g"
    shown_deviation: str = ""  # rounded (GB/T 8170) to the scale's readability
    shown_deviation_percent: str = ""  # rounded (GB/T 8170) to 0.01 %

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    @property
    def within_tolerance(self) -> bool | None:
        """Whether the net weight is within the tolerance; ``None`` when it could not be compared."""
        if self.net is None:
            return None
        return "out_of_tolerance" not in self.codes

    def require_passed(self) -> WeighingCheck:
        if self.reasons:
            raise WeighingRefused(self)
        return self


class WeighingRefused(ValidationFailed):
    """A weighing that failed its checks (TJ-6.3.2.2.a), naming every reason."""

    code = "weighing_refused"

    def __init__(self, check: WeighingCheck) -> None:
        super().__init__(
            N_("The weighing on scale {scale} is not accepted: {reasons}"),
            scale=check.scale_code,
            reasons=Reasons(check.reasons),
        )
        self.check = check


def _n(value: Decimal) -> str:
    return plain_number(value) or "0"


def _quantum(readability: Decimal, unit: str, to: str) -> Decimal:
    """The decimals of the readability d expressed in ``to`` (d = 0.01 g → 0.00001 kg)."""
    exponent = convert(readability, unit, to).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(1).scaleb(min(exponent, 0))


# --- the checks ---------------------------------------------------------------------------------------


def check_scale_for_target(scale: ScaleFacts, target: Target, at: datetime) -> list[CheckReason]:
    """The checks that do not need a reading: may ``scale`` weigh ``target`` at ``at``? (Also what the MES
    asks before it offers a scale for a weighing step.)"""
    reasons: list[CheckReason] = []
    if not scale.weighing_instrument or scale.unit not in UNITS or not scale.readability > 0:
        return [CheckReason("not_weighing_instrument", N_("{scale} is not a weighing instrument"),
                            {"scale": scale.code})]  # fmt: skip
    calibration = scale.calibration_at(at)
    if calibration == "expired":
        until = clock.format_beijing(scale.calibrated_until, seconds=False) if scale.calibrated_until else "—"
        reasons.append(CheckReason("calibration_expired", N_("The calibration of scale {scale} expired at {until}"),
                                   {"scale": scale.code, "until": until}))  # fmt: skip
    elif calibration == "out_of_tolerance":
        reasons.append(CheckReason("calibration_failed",
                                   N_("Scale {scale} failed its last calibration (out of tolerance)"),
                                   {"scale": scale.code}))  # fmt: skip
    elif calibration != "calibrated":
        reasons.append(
            CheckReason("not_calibrated", N_("Scale {scale} is not calibrated"), {"scale": scale.code})
        )
    # TJ-6.3.2.2.a: the scale must resolve the tolerance: T ≥ 2 d
    tolerance = convert(target.absolute_tolerance, target.unit, scale.unit)
    needed = scale.readability * MIN_TOLERANCE_IN_D
    if tolerance < needed:
        reasons.append(CheckReason(
            "readability_too_coarse",
            N_("The readability of scale {scale} (d = {d} {unit}) is too coarse for a tolerance of ± {tolerance} "
               "{unit}: the tolerance must be at least {needed} {unit}"),
            {"scale": scale.code, "d": _n(scale.readability), "unit": scale.unit,
             "tolerance": _n(tolerance), "needed": _n(needed)},
        ))  # fmt: skip
    # the target itself must be weighable on this scale
    if convert(target.upper, target.unit, scale.unit) > scale.capacity:
        reasons.append(CheckReason(
            "target_above_capacity",
            N_("The target {target} {target_unit} exceeds the capacity of scale {scale} ({capacity} {unit})"),
            {"target": _n(target.quantity), "target_unit": target.unit, "scale": scale.code,
             "capacity": _n(scale.capacity), "unit": scale.unit},
        ))  # fmt: skip
    elif convert(target.lower, target.unit, scale.unit) < scale.effective_min_weight:
        reasons.append(CheckReason(
            "target_below_min_weight",
            N_("The target {target} {target_unit} is below the minimum weight of scale {scale} ({min_weight} {unit})"),
            {"target": _n(target.quantity), "target_unit": target.unit, "scale": scale.code,
             "min_weight": _n(scale.effective_min_weight), "unit": scale.unit},
        ))  # fmt: skip
    return reasons


def check_weighing(scale: ScaleFacts, reading: Reading, target: Target, at: datetime) -> WeighingCheck:
    """Check one weighing at ``at`` (the server time of the reading): every rule of the module docstring."""
    reasons = check_scale_for_target(scale, target, at)
    calibration = scale.calibration_at(at) if scale.weighing_instrument else "not_required"
    if reasons and reasons[0].code == "not_weighing_instrument":
        return WeighingCheck(scale.code, at, calibration, tuple(reasons), unit=target.unit)
    # the target's own load limits are replaced by the reading's when there is a reading
    reasons = [r for r in reasons if r.code not in ("target_above_capacity", "target_below_min_weight")]
    if reading.unit not in UNITS:
        reasons.append(
            CheckReason("unknown_unit", N_("Unknown weight unit “{unit}”"), {"unit": reading.unit})
        )
        return WeighingCheck(scale.code, at, calibration, tuple(reasons), unit=target.unit)
    if reading.serial_number and scale.serial_number and reading.serial_number != scale.serial_number:
        reasons.append(CheckReason(
            "wrong_instrument",
            N_("The weight came from the instrument with serial number {read}, but scale {scale} is registered "
               "with serial number {registered}"),
            {"read": reading.serial_number, "scale": scale.code, "registered": scale.serial_number},
        ))  # fmt: skip
    if not reading.stable:
        reasons.append(
            CheckReason("not_stable", N_("The weight was not stable: only a stable weight is a result"))
        )
    if reading.gross - reading.tare != reading.net or reading.tare < 0:
        reasons.append(CheckReason(
            "inconsistent_reading",
            N_("The reading does not add up: gross {gross} - tare {tare} is not net {net} ({unit})"),
            {"gross": _n(reading.gross), "tare": _n(reading.tare), "net": _n(reading.net), "unit": reading.unit},
        ))  # fmt: skip
    gross = convert(reading.gross, reading.unit, scale.unit)
    net_on_scale = convert(reading.net, reading.unit, scale.unit)
    if gross > scale.capacity:
        reasons.append(CheckReason(
            "above_capacity",
            N_("The load {gross} {unit} exceeds the capacity of scale {scale} ({capacity} {unit})"),
            {"gross": _n(gross), "unit": scale.unit, "scale": scale.code, "capacity": _n(scale.capacity)},
        ))  # fmt: skip
    if net_on_scale < scale.effective_min_weight:
        reasons.append(CheckReason(
            "below_min_weight",
            N_("The net weight {net} {unit} is below the minimum weight of scale {scale} ({min_weight} {unit})"),
            {"net": _n(net_on_scale), "unit": scale.unit, "scale": scale.code,
             "min_weight": _n(scale.effective_min_weight)},
        ))  # fmt: skip
    # TJ-6.3.2.2.a: automatic comparison with the target, full value (GB/T 8170 全数值比较法)
    net = convert(reading.net, reading.unit, target.unit)
    deviation = net - target.quantity
    percent = deviation * 100 / target.quantity
    if not target.lower <= net <= target.upper:
        reasons.append(CheckReason(
            "out_of_tolerance",
            N_("The net weight {net} {unit} is outside the tolerance {lower} … {upper} {unit} "
               "(target {target} {unit}, deviation {deviation} {unit})"),
            {"net": _n(net), "unit": target.unit, "lower": _n(target.lower), "upper": _n(target.upper),
             "target": _n(target.quantity), "deviation": _signed(deviation)},
        ))  # fmt: skip
    shown = round_gbt8170(deviation, _quantum(scale.readability, scale.unit, target.unit))
    shown_percent = round_gbt8170(percent, PERCENT_PLACES)
    return WeighingCheck(
        scale.code, at, calibration, tuple(reasons),
        net=net, deviation=deviation, deviation_percent=percent, lower=target.lower, upper=target.upper,
        unit=target.unit, shown_deviation=_signed(shown, plain=False),
        shown_deviation_percent=_signed(shown_percent, plain=False),
    )  # fmt: skip


def _signed(value: Decimal, *, plain: bool = True) -> str:
    """``+0.05`` / ``-0.05`` / ``0``: a deviation always shows its sign. ``plain`` drops trailing zeros;
    a rounded value keeps them (they state its precision)."""
    text = _n(value) if plain else format(value, "f")
    if value > 0:
        return "+" + text
    if value == 0:
        return text.lstrip("-")
    return text
