"""The weighing label (称量标签) stuck on the weighed portion: what, for which batch, how much, on which scale,
by whom (TJ-6.3.2.2.b, TJ-6.3.1). Its Code 128 is the weighing code, scanned again at charging; the QR code
carries the same code. Every print is recorded (``label.print``)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.codes import labels
from pharmatrace.codes.symbols import Symbol
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.dispensing_models import WeighingRecord

LABEL_PRINT_EVENT = "label.print"
Format = Literal["pdf", "zpl"]


def verifier_of(session: Session, record: WeighingRecord) -> str:
    """The second person who verified the weighing step (its sign-off), when there is one yet."""
    from pharmatrace.kernel.identity.models import User
    from pharmatrace.mes.execution_models import StepExecution

    login = session.scalar(
        select(StepExecution.verified_by).where(
            StepExecution.batch_order_id == record.batch_order_id, StepExecution.step_code == record.step_code
        )
    )
    if not login:
        return ""
    name = session.scalar(select(User.full_name).where(User.login == login))
    return f"{name}（{login}）" if name else login


def weighing_label(record: WeighingRecord, verifier: str = "") -> labels.Label:
    from pharmatrace.web.i18n import gettext as _

    unit = record.weight_unit
    fields = [
        (_(N_("Product")), record.product_name),
        (_(N_("Batch")), record.batch_no),
        (_(N_("Step")), record.step_code),
        (_(N_("Material")), f"{record.material_name} {record.material_code}"),
        (_(N_("Lot")), record.lot_number),
        (_(N_("Container")), record.container_code),
        (_(N_("Net")), f"{plain_number(record.net)} {unit}"),
        (_(N_("Tare / gross")), f"{plain_number(record.tare)} / {plain_number(record.gross)} {unit}"),
        (_(N_("Scale")), f"{record.scale_code} {record.scale_name}"),
        (_(N_("Weighed by")), f"{record.weighed_by_name}（{record.weighed_by}）"),
        (_(N_("Verified by")), verifier or "—"),
        (_(N_("Time")), clock.format_beijing(record.weighed_at)),
    ]
    footer = _(N_("Manual weighing")) if record.source == "manual" else ""
    return labels.Label(
        title=_(N_("Weighed material")), fields=fields, code=record.code, matrix=Symbol("qr", record.code),
        footer=footer,
    )  # fmt: skip


def render(record: WeighingRecord, fmt: Format, verifier: str = "") -> bytes:
    label = weighing_label(record, verifier)
    size = labels.LabelSize(width_mm=100, height_mm=80, fields_font_mm=2.8)
    return labels.render_pdf([label], size) if fmt == "pdf" else labels.render_zpl([label], size).encode()


def print_label(uow: UnitOfWork, record: WeighingRecord, fmt: Format = "pdf") -> bytes:
    """Render the weighing label and record the print: which weighing, in which form, by whom."""
    data = render(record, fmt, verifier_of(uow.session, record))
    uow.record(
        LABEL_PRINT_EVENT, "weighing_record", record.id,
        changes={"format": [None, fmt], "weighing": [None, record.code]},
        reason=uow.reason or "weighing label printed",
    )  # fmt: skip
    return data
