"""The batch release summary as PDF (批放行生产及检定摘要, TJ-6.3.4, TJ-9.1): fpdf2 with the embedded Chinese font,
PDF/A-2B. It prints the checklist and summary as computed at printing, their SM3, and every decision with its
signatures and their verification status at the time of printing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.pdf import record_pdf, table_row, text_line
from pharmatrace.qms.release import DECISION_LABELS, STATE_LABELS, STATUS_LABELS
from pharmatrace.qms.release_schemas import ReleasePublic

Translate = Callable[..., str]
LINE = 5.0
WIDTHS = (62.0, 22.0, 106.0)  # item, status, finding: 190 mm


def render_pdf(found: ReleasePublic, *, printed_by: str, printed_at: datetime, translate: Translate) -> bytes:
    s = found.summary
    title = f"{translate(N_('Batch release summary'))} {s.batch_no}"
    pdf = record_pdf(title=title, subtitle=s.product_name, subject=translate(N_("Batch release summary")),
                     keywords=f"{s.batch_no} {s.order_no} {s.product_code}", printed_by=printed_by,
                     printed_at=printed_at, translate=translate)  # fmt: skip

    def line(text: str, size: float = 9.5) -> None:
        text_line(pdf, text, LINE, size)

    def row(cells: list[str], *, fill: bool = False) -> None:
        table_row(pdf, cells, WIDTHS, LINE, fill=fill)

    def when(moment: datetime | None) -> str:
        return clock.format_beijing(moment) if moment is not None else "—"

    pdf.set_font("cjk", size=16)
    pdf.cell(0, 10, translate(N_("Batch release summary")), align="C", new_x="LMARGIN", new_y="NEXT")
    facts = [
        (N_("Product"), f"{s.product_name} ({s.product_code})"),
        (N_("Batch number"), f"{s.batch_no} · {s.order_no}"),
        (N_("Batch size"), f"{s.batch_size} {s.unit}"),
        (N_("Recipe"), f"{s.recipe_code} v{s.recipe_version or '—'}"),
        (N_("Started"), when(s.started_at)),
        (N_("Completed"), when(s.completed_at)),
        (N_("Manufacture date"), s.manufacture_date or "—"),
        (N_("Expiry date"), s.expiry_date or "—"),
        (N_("Finished units"), s.finished or "—"),
        (N_("Yield"), f"{s.yield_pct} %" if s.yield_pct else "—"),
        (N_("Record reviewed by"), f"{s.reviewed_by or '—'} · {when(s.reviewed_at)}"),
        (N_("Finished-product lot"), f"{s.finished_lot or '—'} {s.lot_status or ''}".strip()),
        (N_("Material lots consumed"), "、".join(s.materials) or "—"),
    ]
    for label, value in facts:
        line(f"{translate(label)}: {value}")
    for certificate in s.certificates:
        line(f"{translate(N_('Certificate of analysis'))}: {certificate.code} · {certificate.spec} · "
             f"{certificate.conclusion} · {certificate.state}")  # fmt: skip
        for test in certificate.lines:
            line(f"    {test.item}: {test.result} {test.unit or ''} ({test.limit or ''}) {test.verdict}", 8.5)
    for deviation in s.deviations:
        line(f"{translate(N_('Deviation'))}: {deviation.number} · {deviation.status} · "
             f"{deviation.conclusion or '—'} · {deviation.rationale or ''}")  # fmt: skip
    pdf.ln(2)
    pdf.set_fill_color(230, 236, 242)
    pdf.set_font("cjk", size=8.5)
    row([translate(N_("Check")), translate(N_("Result")), translate(N_("Finding"))], fill=True)
    for item in found.checklist:
        row([translate(item.label), translate(STATUS_LABELS[item.status]),
             translate(item.message, **item.params)])  # fmt: skip
    pdf.ln(3)
    line(f"{translate(N_('State'))}: {translate(STATE_LABELS[found.state])}", 12)
    for decision in found.decisions:
        signed = "; ".join(f"{sig.signer_name} {when(sig.signed_at)} {sig.meaning} {sig.status}"
                           for sig in decision.signatures) or translate(N_("Not signed"))  # fmt: skip
        line(f"{translate(DECISION_LABELS[decision.decision])}: {decision.decided_by_name} ({decision.decided_by}) · "
             f"{when(decision.decided_at)} · {decision.reason} · {signed}")  # fmt: skip
        line(f"SM3: {decision.content_sm3}", 7.5)
    line(f"{translate(N_('Content SM3'))}: {found.content_sm3}", 7.5)
    return bytes(pdf.output())
