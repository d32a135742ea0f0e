"""Container labels (TJ-6.3.1: name, code, specification, lot, quantity and unit, expiry).

Each label carries the container code as Code 128 and a GS1 DataMatrix with the container code (91, a
company-internal AI), the internal lot number (10) and the expiry date (17): a scanner on the floor reads
all three at once, and the lot search finds the lot from it. Printing is recorded in the audit trail
(``label.print``), PDF for office printers and ZPL for thermal label printers alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pharmatrace.codes import gs1, labels
from pharmatrace.codes.symbols import Symbol
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms.models import LABEL_PRINT_EVENT, Container, Receipt

Format = Literal["pdf", "zpl"]

STATUS_LABELS = {
    "quarantine": N_("Quarantine"),
    "under_test": N_("Under test"),
    "released": N_("Released for use"),  # 已放行
    "rejected": N_("Not released (rejected)"),  # 不放行
    "expired": N_("Expired"),
    "on_hold": N_("On hold"),
}


def element_string(container: Container) -> gs1.ElementString:
    lot = container.lot
    elements = [("91", container.code), ("10", lot.lot_number)]
    if lot.expiry_date is not None:
        elements.append(("17", lot.expiry_date.strftime("%y%m%d")))
    return gs1.ElementString(elements)


def container_label(container: Container, total: int) -> labels.Label:
    from pharmatrace.web.i18n import gettext as _

    lot = container.lot
    material = lot.material
    fields = [
        (_(N_("Material code")), material.code),
        (_(N_("Specification")), f"{plain_number(container.quantity)} {container.unit}/{_(N_('container'))}"),
        (_(N_("Lot")), lot.lot_number),
        (_(N_("Supplier lot")), lot.supplier_lot),
        (_(N_("Quantity")), f"{plain_number(container.quantity)} {container.unit}"),
        (_(N_("Expiry date")), lot.expiry_date.isoformat() if lot.expiry_date else "—"),
        (_(N_("Retest date")), lot.retest_date.isoformat() if lot.retest_date else "—"),
        (_(N_("Status")), _(STATUS_LABELS[lot.status])),
    ]
    return labels.Label(
        title=material.name,
        fields=fields,
        code=container.code,
        matrix=Symbol.gs1_datamatrix(element_string(container)),
        footer=_(N_("Container {number} of {total}")).format(number=container.number, total=total),
    )


def render(containers: Sequence[Container], fmt: Format) -> bytes:
    total = len(containers[0].lot.containers) if containers else 0
    built = [container_label(c, total) for c in containers]
    return labels.render_pdf(built) if fmt == "pdf" else labels.render_zpl(built).encode()


def print_labels(
    uow: UnitOfWork, containers: Sequence[Container], fmt: Format, receipt: Receipt | None = None
) -> bytes:
    """Render the labels and record the print: which containers, in which form, by whom."""
    data = render(containers, fmt)
    object_type, object_id = (
        ("receipt", receipt.id) if receipt is not None else ("container", containers[0].id)
    )
    uow.record(
        LABEL_PRINT_EVENT,
        object_type,
        object_id,
        changes={"format": [None, fmt], "containers": [None, [c.code for c in containers]]},
        reason=uow.reason or "container labels printed",
    )
    return data
