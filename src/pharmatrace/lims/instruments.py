"""Laboratory instruments (检验仪器; TJ-7.4, issue 8 item 8): read from the equipment register, never kept twice.

A laboratory instrument is a piece of equipment of the class ``instrument`` (HPLC, pH meter, UV
spectrophotometer…), or any equipment — an analytical balance — placed in a room of the QC laboratory
(a room whose workshop is :data:`LAB_WORKSHOP`). Its calibration status and validity come from the
equipment register (:mod:`pharmatrace.equipment.service`), where the equipment engineer records each
calibration in the logbook. A test cannot use an instrument whose calibration is missing or expired at
the time of the test (:func:`require_calibrated`), nor one the register says may not be used (not in
service, faulty, not qualified, not clean where cleaning is tracked).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.equipment import service as equipment
from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.equipment.schemas import ReasonPublic
from pharmatrace.equipment.service import Refusal
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, Reasons
from pharmatrace.lims.reagent_schemas import InstrumentPublic

LAB_WORKSHOP = "质量控制部"  # the QC department's rooms: 理化室, 仪器室, 天平室…
INSTRUMENT_CLASS = "instrument"


class InstrumentUnusable(Conflict):
    """An instrument a test may not use at that time (TJ-7.4): every reason is in the message."""

    code = "instrument_unusable"

    def __init__(self, instrument: Equipment, reasons: tuple[Refusal, ...]) -> None:
        super().__init__(
            N_("Instrument {code} ({name}) may not be used for a test: {reasons}"),
            code=instrument.code,
            name=instrument.name,
            reasons=Reasons(reasons),
        )
        self.reasons = reasons


def lab_instruments(session: Session, *, include_void: bool = False) -> list[Equipment]:
    """The laboratory's instruments in the equipment register, by code."""
    lab_rooms = select(Room.id).where(Room.workshop == LAB_WORKSHOP)
    query = (
        select(Equipment)
        .where(or_(Equipment.equipment_class == INSTRUMENT_CLASS, Equipment.room_id.in_(lab_rooms)))
        .order_by(Equipment.code)
    )
    if not include_void:
        query = query.where(Equipment.voided_at.is_(None))
    return list(session.scalars(query).unique())


def refusals(session: Session, instrument: Equipment, at: datetime) -> tuple[Refusal, ...]:
    """Every reason the instrument may not be used at ``at``: the register's, and a missing calibration."""
    found = list(equipment.may_use(session, instrument, at).reasons)
    if equipment.calibration_status(instrument, at).effective == "not_required":
        found.append(
            Refusal("calibration_missing", N_("The instrument has no calibration in the equipment register"))
        )
    return tuple(found)


def find_instrument(session: Session, equipment_code: str) -> Equipment:
    found = equipment.find_by_code(session, equipment_code)
    if not isinstance(found, Equipment):
        raise NotFound(N_("No instrument with the code “{code}”"), code=found.code)
    return found


def require_calibrated(session: Session, equipment_code: str, at: datetime) -> Equipment:
    """The instrument ``equipment_code`` if its calibration is valid at ``at`` and the register lets it be
    used; else :class:`InstrumentUnusable` naming the code and every reason (TJ-7.4). For the results
    helper: a result names the instrument it was measured on."""
    instrument = find_instrument(session, equipment_code)
    found = refusals(session, instrument, at)
    if found:
        raise InstrumentUnusable(instrument, found)
    return instrument


def instrument_public(
    session: Session, instrument: Equipment, translate: Callable[..., str], at: datetime | None = None
) -> InstrumentPublic:
    moment = at or clock.now()
    found = refusals(session, instrument, moment)
    room = instrument.room
    return InstrumentPublic(
        id=instrument.id, code=instrument.code, name=instrument.name, model=instrument.model,
        manufacturer=instrument.manufacturer, room_code=room.code if room else None,
        room_name=room.name if room else None, location=instrument.location, lifecycle=instrument.lifecycle,
        calibration=equipment.calibration_status(instrument, moment).public(), at=moment, usable=not found,
        reasons=[ReasonPublic(code=r.code, message=translate(r.message, **r.params)) for r in found],
    )  # fmt: skip
