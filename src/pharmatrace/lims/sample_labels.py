"""Sample and retained-sample labels (TJ-7.5.1): sample code with a barcode, traceable to the supplier or base.

TJ-7.5.1 asks that sampling and retained-sample labels be complete, carry at least the sample code and a
barcode, and let each sample be traced to its herbal planting base or material supplier. Each label shows the
sample code (Code 128 and a DataMatrix), the material's name and code, the lot, the quantity, the sampling date
(Beijing), the sampler, the storage condition, and the origin: for a herb lot received against a shipment of a
planting base (:mod:`pharmatrace.origin`), the base, its region and the shipment; otherwise the supplier. A
retained-sample label also shows until when it is kept (TJ-6.4.1), or that this is still open.

Printing is recorded in the audit trail like every label print (``label.print``), PDF or ZPL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy.orm import Session

from pharmatrace.codes import labels
from pharmatrace.codes.symbols import Symbol
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import samples
from pharmatrace.lims.sample_models import KIND_LABELS, Sample
from pharmatrace.wms.models import LABEL_PRINT_EVENT

Format = Literal["pdf", "zpl"]
SIZE = labels.LabelSize(height_mm=80)  # room for the origin and, on a retained sample, the retention date


def origin_text(session: Session, sample: Sample) -> tuple[str, str]:
    """(label, text): the planting base of a herb lot with a recorded origin, else the lot's supplier."""
    from pharmatrace.origin.service import origin_of
    from pharmatrace.web.i18n import gettext as _
    from pharmatrace.wms.lots import get_lot

    origin = origin_of(session, sample.lot_id)
    if origin is not None:
        shipment = origin.shipment
        base = shipment.base
        return _(N_("Planting base")), f"{base.supplier.name} · {base.region} · {shipment.code}"
    supplier = get_lot(session, sample.lot_id).supplier
    return _(N_("Supplier")), f"{supplier.name}（{supplier.code}）"


def sample_label(session: Session, sample: Sample) -> labels.Label:
    from pharmatrace.web.i18n import gettext as _

    first = sample.events[0]
    origin_label, origin = origin_text(session, sample)
    fields = [
        (_(N_("Sample code")), sample.code),
        (_(N_("Material code")), sample.material_code),
        (_(N_("Lot")), sample.lot_number),
        (_(N_("Quantity")), f"{plain_number(sample.quantity)} {sample.unit}"),
        (_(N_("Sampling date")), clock.to_beijing(first.done_at).date().isoformat()),
        (_(N_("Sampler")), f"{first.done_by_name}（{first.done_by}）"),
        (origin_label, origin),
    ]
    if sample.storage_condition:
        fields.append((_(N_("Storage")), sample.storage_condition))
    if sample.kind == "retained":
        due = samples.retention_of(session, sample.lot_id)
        fields.append((_(N_("Retain until")), due.until.isoformat() if due.until else _(N_("open"))))
    return labels.Label(
        title=f"{sample.material_name} · {_(KIND_LABELS[sample.kind])}",
        fields=fields,
        code=sample.code,
        matrix=Symbol("datamatrix", sample.code),
        footer=_(N_("Sampling record {code}")).format(code=sample.record.code),
    )


def render(session: Session, found: Sequence[Sample], fmt: Format) -> bytes:
    built = [sample_label(session, s) for s in found]
    return labels.render_pdf(built, SIZE) if fmt == "pdf" else labels.render_zpl(built, SIZE).encode()


def print_labels(uow: UnitOfWork, found: Sequence[Sample], fmt: Format) -> bytes:
    """Render the labels and record the print: which samples, in which form, by whom."""
    data = render(uow.session, found, fmt)
    uow.record(
        LABEL_PRINT_EVENT,
        "lims_sample",
        found[0].id,
        changes={"format": [None, fmt], "samples": [None, [s.code for s in found]]},
        reason=uow.reason or "sample labels printed",
    )
    return data
